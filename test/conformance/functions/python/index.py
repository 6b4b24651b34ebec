# The conformance protocol (README.md) for Python.
import importlib
import os
import time

held = []


def main_handler(event, context):
    action = event.get("do")
    if action == "echo":
        return {"event": event, "context": context, "trigger_src": os.environ.get("TRIGGER_SRC", "")}
    if action == "import":
        return importlib.import_module(event["module"]).__name__
    if action == "cos-url":
        return cos_url(event)
    if action == "return":
        return event.get("value")
    if action == "log":
        print(event["line"])
        return "logged"
    if action == "fail":
        raise ValueError("conformance failure")
    if action == "sleep":
        time.sleep(event["ms"] / 1000)
        return "slept"
    if action == "alloc":
        for _ in range(event["mb"] // 16):
            held.append(b"x" * (16 * 1024 * 1024))
        return len(held) * 16
    if action == "exit":
        os._exit(3)
    return "unknown action"


def cos_url(event):
    """A signed GET URL from COS's SDK, imported as SCF's samples import it; signing needs no
    network. Also says whether qcloud_cos_v5's exception class is qcloud_cos's."""
    from qcloud_cos_v5 import CosConfig, CosS3Client, CosServiceError
    from qcloud_cos.cos_exception import CosServiceError as published

    client = CosS3Client(CosConfig(Region=event["region"], SecretId="AKIDconformance", SecretKey="conformance"))
    url = client.get_presigned_url(Bucket=event["bucket"], Key=event["key"], Method="GET")
    return {"url": url, "sameErrorClass": CosServiceError is published}
