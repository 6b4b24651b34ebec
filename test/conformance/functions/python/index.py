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
    if action == "picture":
        return picture(event)
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
    """A signed GET URL from COS's SDK, imported and given the role's keys as SCF's samples
    do; signing needs no network. Also says whether the secret key is the one expected (not
    the key itself), what session token there is, and whether qcloud_cos_v5's exception
    class is qcloud_cos's."""
    from qcloud_cos_v5 import CosConfig, CosS3Client, CosServiceError
    from qcloud_cos.cos_exception import CosServiceError as published

    config = CosConfig(
        Region=event["region"],
        SecretId=os.environ.get("TENCENTCLOUD_SECRETID"),
        SecretKey=os.environ.get("TENCENTCLOUD_SECRETKEY"),
        Token=os.environ.get("TENCENTCLOUD_SESSIONTOKEN"),
    )
    url = CosS3Client(config).get_presigned_url(Bucket=event["bucket"], Key=event["key"], Method="GET")
    return {
        "url": url,
        "secretKeyMatches": os.environ.get("TENCENTCLOUD_SECRETKEY") == event["secretKey"],
        "sessionToken": os.environ.get("TENCENTCLOUD_SESSIONTOKEN"),
        "sameErrorClass": CosServiceError is published,
    }


def picture(event):
    """What SCF's picture samples do with Pillow: draw text on an image, make a thumbnail,
    save it as JPEG and read it back."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (event["width"], event["height"]), "white")
    font = ImageFont.load_default(size=event["fontSize"])
    ImageDraw.Draw(image).text((10, 10), event["text"], fill="black", font=font)
    image.thumbnail((event["thumb"], event["thumb"]))
    out = io.BytesIO()
    image.save(out, "JPEG")
    back = Image.open(io.BytesIO(out.getvalue()))
    return {"format": back.format, "size": list(back.size), "dark": min(back.convert("L").getdata()) < 128}
