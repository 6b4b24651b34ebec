<?php
// SCF's PHP runtime over the runtime API: loads {file}.php from the code folder, calls
// {function}($event, $context) for each invocation and posts the JSON of its result. The
// event is decoded as SCF's PHP runtime does it (objects, not arrays); print and echo go to
// the invocation's log (the runtime shim reads this process's output).

declare(strict_types=0);

const __SCF_ROOT = '/var/user';
// The function's file runs in the global scope (below): every name of the bootstrap's own —
// functions, constants, variables — starts with __scf_ so that none of the file's clashes.
define('__SCF_RUNTIME_API', 'http://' . (getenv('SCF_RUNTIME_API') ?: '127.0.0.1') . ':' . (getenv('SCF_RUNTIME_API_PORT') ?: '9001'));

/** One call to the runtime API: [lower-case headers, body]. */
function __scf_call(string $method, string $path, string $body = ''): array
{
    $ctx = stream_context_create(['http' => [
        'method' => $method,
        'header' => "Content-Type: application/json\r\nConnection: close\r\n",
        'content' => $body,
        // /next is a long poll: it answers when the next event comes.
        'timeout' => 31536000,
        'ignore_errors' => true,
    ]]);
    $res = @file_get_contents(__SCF_RUNTIME_API . $path, false, $ctx);
    if ($res === false) {
        fwrite(STDERR, "runtime API unreachable: $method $path\n");
        exit(1);
    }
    $headers = [];
    foreach ($http_response_header ?? [] as $h) {
        $p = strpos($h, ':');
        if ($p !== false) $headers[strtolower(trim(substr($h, 0, $p)))] = trim(substr($h, $p + 1));
    }
    return [$headers, $res];
}

function __scf_error_body(int $code, string $message, string $type, string $stack = ''): string
{
    return json_encode(['errorCode' => $code, 'errorMessage' => $message, 'errorType' => $type, 'stackTrace' => $stack]);
}

/** [file, function name, [code, message, type, stack]|null]: what _HANDLER names, or why not. */
function __scf_handler_spec(): array
{
    $spec = getenv('_HANDLER') ?: 'index.main_handler';
    $dot = strrpos($spec, '.');
    $file = __SCF_ROOT . '/' . substr($spec, 0, $dot === false ? strlen($spec) : $dot) . '.php';
    $name = $dot === false ? 'main_handler' : substr($spec, $dot + 1);
    if (!is_file($file)) return [$file, $name, [437, "Handler not found: no file $file", 'HandlerNotFound', '']];
    return [$file, $name, null];
}

function __scf_context_for(array $h): object
{
    $env = [
        'SCF_NAMESPACE' => getenv('SCF_NAMESPACE') ?: 'default',
        'SCF_FUNCTIONNAME' => getenv('SCF_FUNCTIONNAME') ?: '',
        'SCF_FUNCTIONVERSION' => getenv('SCF_FUNCTIONVERSION') ?: '$LATEST',
        'TENCENTCLOUD_REGION' => getenv('TENCENTCLOUD_REGION') ?: '',
    ];
    $pairs = [];
    foreach ($env as $k => $v) $pairs[] = "$k=$v";
    return (object) [
        'memory_limit_in_mb' => (int) ($h['memory_limit_in_mb'] ?? 0),
        'time_limit_in_ms' => (int) ($h['time_limit_in_ms'] ?? 0),
        'request_id' => $h['request_id'] ?? '',
        'environment' => json_encode($env),
        'environ' => implode(';', $pairs),
        'function_version' => $env['SCF_FUNCTIONVERSION'],
        'function_name' => $env['SCF_FUNCTIONNAME'],
        'namespace' => $env['SCF_NAMESPACE'],
        'tencentcloud_region' => $env['TENCENTCLOUD_REGION'],
        'tencentcloud_appid' => getenv('TENCENTCLOUD_APPID') ?: '',
        'tencentcloud_uin' => getenv('TENCENTCLOUD_UIN') ?: '',
    ];
}

/** One invocation: the handler called with the event and context, its result posted. */
function __scf_invoke(string $fn, array $h, string $body): void
{
    $event = json_decode($body === '' ? 'null' : $body);
    if ($event === null && json_last_error() !== JSON_ERROR_NONE) $event = $body;
    try {
        $result = $fn($event, __scf_context_for($h));
        $payload = json_encode($result, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR);
        flush();
        __scf_call('POST', '/runtime/invocation/response', $payload === false ? 'null' : $payload);
    } catch (Throwable $e) {
        fwrite(STDERR, (string) $e . "\n");
        __scf_call('POST', '/runtime/invocation/error', __scf_error_body(430, $e->getMessage(), get_class($e), $e->getTraceAsString()));
    }
}

// The function's file is loaded here, in the global scope, as SCF loads it: its top-level
// variables are globals, which its handler reaches with `global $x` (SCF's PHP samples do).
// The bootstrap's own variables below start with $__scf_ so that the file's cannot clash.
[$__scf_file, $__scf_name, $__scf_init_error] = __scf_handler_spec();
$__scf_fn = null;
if ($__scf_init_error === null) {
    try {
        require_once $__scf_file;
        if (function_exists($__scf_name)) $__scf_fn = $__scf_name;
        else $__scf_init_error = [437, "Handler not found: " . (getenv('_HANDLER') ?: 'index.main_handler'), 'HandlerNotFound', ''];
    } catch (Throwable $__scf_e) {
        fwrite(STDERR, (string) $__scf_e . "\n");
        $__scf_init_error = [430, $__scf_e->getMessage(), get_class($__scf_e), $__scf_e->getTraceAsString()];
    }
}
__scf_call('POST', '/runtime/init/ready');
for (;;) {
    [$__scf_h, $__scf_body] = __scf_call('GET', '/runtime/invocation/next');
    if (!empty($__scf_h['trigger_src'])) putenv('TRIGGER_SRC=' . $__scf_h['trigger_src']);
    else putenv('TRIGGER_SRC');
    if ($__scf_init_error) {
        __scf_call('POST', '/runtime/invocation/error', __scf_error_body(...$__scf_init_error));
        continue;
    }
    __scf_invoke($__scf_fn, $__scf_h, $__scf_body);
}
