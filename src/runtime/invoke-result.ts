/** What the shim answers an invocation with, over HTTP or the instance channel. */
export interface InvokeResult {
  status: number;
  body: Buffer;
  headers: Record<string, string>;
}

/** SCF's error body: {errorCode, errorMessage, errorType, stackTrace}. */
export function errorBody(code: number, message: string, type: string, stackTrace = ""): Buffer {
  return Buffer.from(JSON.stringify({ errorCode: code, errorMessage: message, errorType: type, stackTrace }));
}

/** An answer that refuses a call unrun, with SCF's error body (errorCode scfCode). */
export function refusal(status: number, message: string, type: string, scfCode: number): InvokeResult {
  return { status, body: errorBody(scfCode, message, type), headers: {} };
}
