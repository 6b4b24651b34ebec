"""Python bootstrap for SCF functions: loads `file.function` from /var/user and serves
invocations through the SCF runtime API. Standard library only."""
import http.client
import importlib.util
import json
import os
import sys
import traceback

HOST = os.environ.get("SCF_RUNTIME_API", "127.0.0.1")
PORT = int(os.environ.get("SCF_RUNTIME_API_PORT", "9001"))
ROOT = os.environ.get("SCF_USERCODEPATH", "/var/user")
# Packages SCF's Python runtimes have built in (COS's SDK, as qcloud_cos_v5 too): the image
# installs them here (runtimes/python/builtin), last on sys.path so a function's own wins.
BUILTIN = "/usr/local/lib/scf-builtin/python"


# One kept-alive connection to the runtime API: a connection per call cost the worker and
# the shim a TCP connect and teardown twice per invocation.
_conn = None


def _call_once(method, path, data):
    global _conn
    if _conn is None:
        _conn = http.client.HTTPConnection(HOST, PORT, timeout=None)
    _conn.request(method, path, body=data)
    res = _conn.getresponse()
    payload = res.read()
    headers = {k.lower(): v for k, v in res.getheaders()}
    if res.will_close:
        _conn.close()
        _conn = None
    return headers, payload


def call(method, path, body=None):
    """A request to the runtime API; sent again once on a fresh connection when the kept-alive
    one was closed under it (the first response or error posted for an invocation counts)."""
    global _conn
    data = body.encode() if isinstance(body, str) else body
    try:
        return _call_once(method, path, data)
    except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
        if _conn is not None:
            _conn.close()
        _conn = None
        return _call_once(method, path, data)


def error_body(code, message, etype, stack=""):
    return json.dumps({"errorCode": code, "errorMessage": message, "errorType": etype, "stackTrace": stack})


def load_handler():
    spec = os.environ.get("_HANDLER", "index.main_handler")
    module_name, _, func_name = spec.rpartition(".")
    sys.path.insert(0, ROOT)
    sys.path.insert(1, "/opt")
    if BUILTIN not in sys.path:
        sys.path.append(BUILTIN)
    file = os.path.join(ROOT, module_name.replace(".", "/") + ".py")
    if not os.path.exists(file):
        return None, (437, "Handler not found: no module %s" % module_name, "HandlerNotFound", "")
    try:
        loader_spec = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        loader_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any error in user code at import
        stack = traceback.format_exc()
        print(stack, file=sys.stderr)
        return None, (430, str(e), type(e).__name__, stack)
    fn = getattr(module, func_name, None)
    if not callable(fn):
        return None, (437, "Handler not found: %s" % spec, "HandlerNotFound", "")
    return fn, None


def context_for(headers):
    env = {
        "SCF_NAMESPACE": os.environ.get("SCF_NAMESPACE", "default"),
        "SCF_FUNCTIONNAME": os.environ.get("SCF_FUNCTIONNAME", ""),
        "SCF_FUNCTIONVERSION": os.environ.get("SCF_FUNCTIONVERSION", "$LATEST"),
        "TENCENTCLOUD_REGION": os.environ.get("TENCENTCLOUD_REGION", ""),
    }
    return {
        "memory_limit_in_mb": int(headers.get("memory_limit_in_mb", "0")),
        "time_limit_in_ms": int(headers.get("time_limit_in_ms", "0")),
        "request_id": headers.get("request_id", ""),
        "environment": json.dumps(env),
        "environ": ";".join("%s=%s" % kv for kv in env.items()),
        "function_version": env["SCF_FUNCTIONVERSION"],
        "function_name": env["SCF_FUNCTIONNAME"],
        "namespace": env["SCF_NAMESPACE"],
        "tencentcloud_region": env["TENCENTCLOUD_REGION"],
        "tencentcloud_appid": os.environ.get("TENCENTCLOUD_APPID", ""),
        "tencentcloud_uin": os.environ.get("TENCENTCLOUD_UIN", ""),
    }


def take_function_env():
    """A worker pre-started in a warm-pool instance waits here, before loading anything of a
    function, for that function's environment, and takes it on: from here it is the worker
    a start with that environment would have made (the shim hands it over only when nothing
    the interpreter reads at start, such as PYTHONPATH, differs)."""
    global ROOT
    if not os.environ.get("UPDRAFT_POOL_WORKER"):
        return
    _, body = call("GET", "/runtime/updraft/specialise")
    env = json.loads(body)["env"]
    for key in list(os.environ):
        if key not in env:
            del os.environ[key]
    os.environ.update(env)
    ROOT = os.environ.get("SCF_USERCODEPATH", "/var/user")
    # The code folder was empty when the interpreter started: forget any listing of it.
    importlib.invalidate_caches()


def main():
    take_function_env()
    fn, init_error = load_handler()
    call("POST", "/runtime/init/ready", b"")
    while True:
        headers, body = call("GET", "/runtime/invocation/next")
        # TRIGGER_SRC names what fired this invocation ("timer" for a timer), as SCF sets it.
        if headers.get("trigger_src"):
            os.environ["TRIGGER_SRC"] = headers["trigger_src"]
        else:
            os.environ.pop("TRIGGER_SRC", None)
        if init_error:
            call("POST", "/runtime/invocation/error", error_body(*init_error))
            continue
        try:
            event = json.loads(body or b"null")
        except ValueError:
            event = body.decode(errors="replace")
        try:
            result = fn(event, context_for(headers))
            payload = json.dumps(result)
        except Exception as e:  # noqa: BLE001 - the user's exception is the answer
            stack = traceback.format_exc()
            print(stack, file=sys.stderr, end="")
            call("POST", "/runtime/invocation/error", error_body(430, str(e), type(e).__name__, stack))
            continue
        call("POST", "/runtime/invocation/response", payload)


if __name__ == "__main__":
    main()
