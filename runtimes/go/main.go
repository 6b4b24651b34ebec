// Command bootstrap is the go1 runtime's language worker. SCF's Go functions are binaries
// built with scf-go-lib's cloudfunction.Start: they do not speak HTTP but listen on TCP
// 0.0.0.0:$_LAMBDA_SERVER_PORT and serve Go net/rpc (gob) with Function.Ping and
// Function.Invoke. This bootstrap starts that binary, waits until it answers Ping, and
// then relays each event from the SCF runtime API (served by the shim) to Function.Invoke.
//
// A panic in the handler comes back as an error with ShouldExit set: the bootstrap prints
// it and exits without answering, and so does it when the binary exits or its connection
// breaks, so the shim reports 439 (user process exited) and starts a fresh pair.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The wire types of scf-go-lib's cloudfunction/messages package. gob matches fields by
// name, so these need the same names and kinds, not the same Go package.
type PingRequest struct{}
type PingResponse struct{}

type InvokeRequest_Timestamp struct {
	Seconds int64
	Nanos   int64
}

type InvokeRequest struct {
	Payload               []byte
	RequestId             string
	TraceId               string
	Deadline              InvokeRequest_Timestamp
	InvokedFunctionUnique string
	ClientContext         []byte
	Namespace             string
	FunctionName          string
	FunctionVersion       string
	MemoryLimitInMb       int32
	TimeLimitInMs         int32
	Environment           string
	TencentcloudRegion    string
	TencentcloudAppID     string
	TencentcloudUin       string
	FunctionTrace         string
}

type InvokeResponse struct {
	Payload []byte
	Error   *InvokeResponse_Error
}

type InvokeResponse_Error struct {
	Message    string
	Type       string
	StackTrace []*InvokeResponse_Error_StackFrame
	ShouldExit bool
}

type InvokeResponse_Error_StackFrame struct {
	Path  string `json:"path"`
	Line  int32  `json:"line"`
	Label string `json:"label"`
}

// startTimeout bounds how long the binary may take to bind its port; the shim's init
// timeout (450) is the real limit, this only stops a bootstrap outliving it.
const startTimeout = 10 * time.Minute

var api = "http://" + getenv("SCF_RUNTIME_API", "127.0.0.1") + ":" + getenv("SCF_RUNTIME_API_PORT", "9001")

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	root := getenv("SCF_USERCODEPATH", "/var/user")
	handler := getenv("_HANDLER", "main")
	binary := filepath.Join(root, handler)
	if st, err := os.Stat(binary); err != nil || st.IsDir() {
		// SCF's 437: the handler names no binary. The bootstrap stays up and answers every
		// invocation with it, as the other runtimes do for a missing handler.
		serveHandlerNotFound(fmt.Sprintf("Handler not found: no executable %s in the code package", handler))
		return
	}
	port, err := freePort()
	if err != nil {
		fatal("no free port for the function binary: %v", err)
	}
	cmd := exec.Command(binary)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "_LAMBDA_SERVER_PORT="+strconv.Itoa(port))
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	// Dies with the bootstrap: the shim kills the bootstrap's process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fatal("cannot start %s: %v (is it a Linux amd64 executable?)", binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	client, err := dial(port, exited)
	if err != nil {
		fatal("%v", err)
	}
	if _, err := post("/runtime/init/ready", nil); err != nil {
		fatal("runtime API: %v", err)
	}
	for {
		headers, event, err := next()
		if err != nil {
			fatal("runtime API: %v", err)
		}
		var res InvokeResponse
		call := client.Go("Function.Invoke", request(headers, event), &res, nil)
		select {
		case <-call.Done:
		case err := <-exited:
			fatal("the function binary exited while running: %v", describeExit(err))
		}
		if call.Error != nil {
			// The connection broke: the binary died (its exit status follows) or closed it.
			select {
			case err := <-exited:
				fatal("the function binary exited while running: %v", describeExit(err))
			case <-time.After(2 * time.Second):
				fatal("the function binary broke the connection: %v", call.Error)
			}
		}
		if res.Error != nil {
			body := errorBody(430, res.Error)
			if res.Error.ShouldExit {
				// A panic: print it where the log goes, and leave without answering (439).
				fmt.Fprintf(os.Stderr, "panic: %s\n%s", res.Error.Message, stackText(res.Error.StackTrace))
				_ = cmd.Process.Kill()
				os.Exit(2)
			}
			if _, err := post("/runtime/invocation/error", body); err != nil {
				fatal("runtime API: %v", err)
			}
			continue
		}
		if _, err := post("/runtime/invocation/response", res.Payload); err != nil {
			fatal("runtime API: %v", err)
		}
	}
}

// request builds what scf-go-lib's Function.Invoke reads: the event, the request id, a
// deadline of now + time_limit_in_ms, and the function's identity. Environment is a JSON
// object whose keys the library sets with os.Setenv before each call: TRIGGER_SRC goes
// there, so it names what fired this invocation (empty when nothing did).
func request(h http.Header, event []byte) *InvokeRequest {
	limitMs, _ := strconv.Atoi(h.Get("time_limit_in_ms"))
	memMB, _ := strconv.Atoi(h.Get("memory_limit_in_mb"))
	deadline := time.Now().Add(time.Duration(limitMs) * time.Millisecond)
	env := map[string]string{
		"SCF_NAMESPACE":       getenv("SCF_NAMESPACE", "default"),
		"SCF_FUNCTIONNAME":    os.Getenv("SCF_FUNCTIONNAME"),
		"SCF_FUNCTIONVERSION": getenv("SCF_FUNCTIONVERSION", "$LATEST"),
		"TENCENTCLOUD_REGION": os.Getenv("TENCENTCLOUD_REGION"),
		"TRIGGER_SRC":         h.Get("trigger_src"),
	}
	envJSON, _ := json.Marshal(env)
	return &InvokeRequest{
		Payload:            event,
		RequestId:          h.Get("request_id"),
		Deadline:           InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
		Namespace:          env["SCF_NAMESPACE"],
		FunctionName:       env["SCF_FUNCTIONNAME"],
		FunctionVersion:    env["SCF_FUNCTIONVERSION"],
		MemoryLimitInMb:    int32(memMB),
		TimeLimitInMs:      int32(limitMs),
		Environment:        string(envJSON),
		TencentcloudRegion: env["TENCENTCLOUD_REGION"],
		TencentcloudAppID:  os.Getenv("TENCENTCLOUD_APPID"),
		TencentcloudUin:    os.Getenv("TENCENTCLOUD_UIN"),
	}
}

// dial connects to the binary's port and waits until Function.Ping answers, or the binary
// exits first (the shim then reports 439 during init).
func dial(port int, exited <-chan error) (*rpc.Client, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the function binary exited before listening on $_LAMBDA_SERVER_PORT: %v (was it built with cloudfunction.Start?)", describeExit(err))
		default:
		}
		client, err := rpc.Dial("tcp", addr)
		if err == nil {
			if err = client.Call("Function.Ping", &PingRequest{}, &PingResponse{}); err == nil {
				return client, nil
			}
			client.Close()
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil, errors.New("the function binary did not listen on $_LAMBDA_SERVER_PORT in time")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func next() (http.Header, []byte, error) {
	res, err := http.Get(api + "/runtime/invocation/next")
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.Header, body, err
}

func post(path string, body []byte) (*http.Response, error) {
	res, err := http.Post(api+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, nil
}

// serveHandlerNotFound answers every invocation with SCF's 437.
func serveHandlerNotFound(message string) {
	if _, err := post("/runtime/init/ready", nil); err != nil {
		fatal("runtime API: %v", err)
	}
	body, _ := json.Marshal(map[string]interface{}{
		"errorCode": 437, "errorMessage": message, "errorType": "HandlerNotFound", "stackTrace": "",
	})
	for {
		if _, _, err := next(); err != nil {
			fatal("runtime API: %v", err)
		}
		if _, err := post("/runtime/invocation/error", body); err != nil {
			fatal("runtime API: %v", err)
		}
	}
}

func errorBody(code int, e *InvokeResponse_Error) []byte {
	body, _ := json.Marshal(map[string]interface{}{
		"errorCode":    code,
		"errorMessage": e.Message,
		"errorType":    e.Type,
		"stackTrace":   stackText(e.StackTrace),
	})
	return body
}

func stackText(frames []*InvokeResponse_Error_StackFrame) string {
	var b strings.Builder
	for _, f := range frames {
		if f != nil {
			fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Label, f.Path, f.Line)
		}
	}
	return b.String()
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go1 bootstrap: "+format+"\n", args...)
	os.Exit(1)
}
