<?php
// SCF's PHP runtime over the runtime API: loads {file}.php from the code folder, calls
// {function}($event, $context) for each invocation and posts the JSON of its result. The
// event is decoded as SCF's PHP runtime does it (objects, not arrays); print and echo go to
// the invocation's log (the runtime shim reads this process's output).

declare(strict_types=0);

const ROOT = '/var/user';
$api = 'http://' . (getenv('SCF_RUNTIME_API') ?: '127.0.0.1') . ':' . (getenv('SCF_RUNTIME_API_PORT') ?: '9001');

/** One call to the runtime API: [lower-case headers, body]. */
function call(string $method, string $path, string $body = ''): array
{
    global $api;
    $ctx = stream_context_create(['http' => [
        'method' => $method,
        'header' => "Content-Type: application/json\r\nConnection: close\r\n",
        'content' => $body,
        // /next is a long poll: it answers when the next event comes.
        'timeout' => 31536000,
        'ignore_errors' => true,
    ]]);
    $res = @file_get_contents($api . $path, false, $ctx);
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

function error_body(int $code, string $message, string $type, string $stack = ''): string
{
    return json_encode(['errorCode' => $code, 'errorMessage' => $message, 'errorType' => $type, 'stackTrace' => $stack]);
}

/** [callable|null, [code, message, type, stack]|null] */
function load_handler(): array
{
    $spec = getenv('_HANDLER') ?: 'index.main_handler';
    $dot = strrpos($spec, '.');
    $file = ROOT . '/' . substr($spec, 0, $dot === false ? strlen($spec) : $dot) . '.php';
    $name = $dot === false ? 'main_handler' : substr($spec, $dot + 1);
    if (!is_file($file)) return [null, [437, "Handler not found: no file $file", 'HandlerNotFound', '']];
    try {
        require_once $file;
    } catch (Throwable $e) {
        fwrite(STDERR, (string) $e . "\n");
        return [null, [430, $e->getMessage(), get_class($e), $e->getTraceAsString()]];
    }
    if (!function_exists($name)) return [null, [437, "Handler not found: $spec", 'HandlerNotFound', '']];
    return [$name, null];
}

function context_for(array $h): object
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

[$fn, $initError] = load_handler();
call('POST', '/runtime/init/ready');
for (;;) {
    [$h, $body] = call('GET', '/runtime/invocation/next');
    if (!empty($h['trigger_src'])) putenv('TRIGGER_SRC=' . $h['trigger_src']);
    else putenv('TRIGGER_SRC');
    if ($initError) {
        call('POST', '/runtime/invocation/error', error_body(...$initError));
        continue;
    }
    $event = json_decode($body === '' ? 'null' : $body);
    if ($event === null && json_last_error() !== JSON_ERROR_NONE) $event = $body;
    try {
        $result = $fn($event, context_for($h));
        $payload = json_encode($result, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR);
        flush();
        call('POST', '/runtime/invocation/response', $payload === false ? 'null' : $payload);
    } catch (Throwable $e) {
        fwrite(STDERR, (string) $e . "\n");
        call('POST', '/runtime/invocation/error', error_body(430, $e->getMessage(), get_class($e), $e->getTraceAsString()));
    }
}
