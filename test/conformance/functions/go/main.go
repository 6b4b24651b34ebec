// The conformance protocol (README.md) for Go, written as for SCF: cloudfunction.Start
// with a func(context.Context, T) (R, error) handler. "panic" panics (439 as well).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
	"github.com/tencentyun/scf-go-lib/functioncontext"
)

type request struct {
	Do    string          `json:"do"`
	Value json.RawMessage `json:"value"`
	Line  string          `json:"line"`
	Ms    int             `json:"ms"`
	Mb    int             `json:"mb"`
}

var held [][]byte

func handle(ctx context.Context, event json.RawMessage) (interface{}, error) {
	var req request
	if err := json.Unmarshal(event, &req); err != nil {
		return nil, err
	}
	switch req.Do {
	case "echo":
		fc, _ := functioncontext.FromContext(ctx)
		return map[string]interface{}{"event": event, "context": fc, "trigger_src": os.Getenv("TRIGGER_SRC")}, nil
	case "return":
		if req.Value == nil {
			return nil, nil
		}
		return req.Value, nil
	case "log":
		fmt.Println(req.Line)
		return "logged", nil
	case "fail":
		return nil, errors.New("conformance failure")
	case "sleep":
		time.Sleep(time.Duration(req.Ms) * time.Millisecond)
		return "slept", nil
	case "alloc":
		for i := 0; i < req.Mb/16; i++ {
			b := make([]byte, 16<<20)
			for j := range b {
				b[j] = 1
			}
			held = append(held, b)
		}
		return len(held) * 16, nil
	case "exit":
		os.Exit(3)
	case "panic":
		panic("conformance panic")
	}
	return "unknown action", nil
}

func main() {
	cloudfunction.Start(handle)
}
