import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { shownUrl } from "./url.ts";

describe("shownUrl", () => {
  const cases: Array<{ why: string; url: string; want: string }> = [
    {
      why: "a plain URL is shown as it is",
      url: "http://10.0.0.1:8080/a.zip",
      want: "http://10.0.0.1:8080/a.zip",
    },
    {
      why: "a presigned URL's signature stays out of logs and status",
      url: "https://b.cos.ap-guangzhou.myqcloud.com/a.zip?q-sign-algorithm=sha1&q-signature=abc",
      want: "https://b.cos.ap-guangzhou.myqcloud.com/a.zip?…",
    },
    {
      why: "credentials in the URL too",
      url: "https://me:secret@pkg.example.com/a.zip",
      want: "https://pkg.example.com/a.zip",
    },
    { why: "what is not a URL is not echoed", url: "not a url secret", want: "(an unparsable URL)" },
  ];
  for (const c of cases) it(c.why, () => assert.equal(shownUrl(c.url), c.want));
  it("a broker's URL keeps its user and query when asked (an AMQP adapter's messages), never its password", () =>
    assert.equal(
      shownUrl("amqp://app:secret@mq:5672/?heartbeat=10", { user: true, query: true }),
      "amqp://app@mq:5672/?heartbeat=10",
    ));
});
