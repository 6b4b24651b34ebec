/**
 * A URL as a message may show it (a log line, a status, an error body): never its password;
 * unless kept, nor its user name and query, which may be a presigned URL's signature.
 * Examples: https://u:p@cos.example.com/a.zip?sign=abc → https://cos.example.com/a.zip?…;
 * with { user: true, query: true }, amqp://app:secret@mq:5672/?heartbeat=10 →
 * amqp://app@mq:5672/?heartbeat=10.
 */
export function shownUrl(url: string, keep: { user?: boolean; query?: boolean } = {}): string {
  try {
    const u = new URL(url);
    u.password = "";
    if (!keep.user) u.username = "";
    const hidQuery = !keep.query && u.search !== "";
    if (!keep.query) {
      u.search = "";
      u.hash = "";
    }
    return `${u.toString()}${hidQuery ? "?…" : ""}`;
  } catch {
    return "(an unparsable URL)";
  }
}
