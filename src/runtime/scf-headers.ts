/** SCF's X-Scf-* headers for one request to a Web function or an image function's server. */
export function scfHeaders(
  cfg: { memoryMB: number; timeoutMs: number; env: Record<string, string> },
  requestId: string,
): Record<string, string> {
  return {
    "x-scf-request-id": requestId,
    "x-scf-memory": String(cfg.memoryMB),
    "x-scf-timeout": String(cfg.timeoutMs),
    "x-scf-version": cfg.env.SCF_FUNCTIONVERSION ?? "$LATEST",
    "x-scf-name": cfg.env.SCF_FUNCTIONNAME ?? "",
    "x-scf-namespace": cfg.env.SCF_NAMESPACE ?? "default",
    "x-scf-region": cfg.env.TENCENTCLOUD_REGION ?? "",
    "x-scf-appid": cfg.env.TENCENTCLOUD_APPID ?? "",
    "x-scf-uin": cfg.env.TENCENTCLOUD_UIN ?? "",
  };
}
