<?php
// The conformance protocol (README.md) for PHP.
$held = [];
// A top-level variable of the file: a global, as SCF's PHP runtime loads the file.
$file_scope = "set at the top of the file";

// Names a runtime's own code might take: the function's file may define them all the same.
function call($what)
{
    return $what;
}

function main_handler($event, $context)
{
    global $held, $file_scope;
    switch ($event->do ?? "") {
        case "echo":
            return ["event" => $event, "context" => $context, "trigger_src" => getenv("TRIGGER_SRC") ?: ""];
        case "return":
            return $event->value;
        case "log":
            echo $event->line . "\n";
            return "logged";
        case "fail":
            throw new RuntimeException("conformance failure");
        case "sleep":
            usleep($event->ms * 1000);
            return "slept";
        case "alloc":
            for ($i = 0; $i < $event->mb / 16; $i++) {
                $held[] = str_repeat("x", 16 * 1024 * 1024);
            }
            return count($held) * 16;
        case "global":
            return call($file_scope);
        case "import":
            // An extension is "imported" when PHP has it loaded: answers its name, or fails.
            if (!extension_loaded($event->module)) {
                throw new RuntimeException("extension " . $event->module . " is not loaded");
            }
            return $event->module;
        case "curl":
            // A request made with the curl extension, as SCF's PHP samples make theirs.
            $ch = curl_init($event->url);
            curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
            $body = curl_exec($ch);
            $status = curl_getinfo($ch, CURLINFO_HTTP_CODE);
            curl_close($ch);
            return ["status" => $status, "body" => $body, "length" => mb_strlen($body, "UTF-8")];
        case "exit":
            exit(3);
    }
    return "unknown action";
}
