/** Names of what Updraft makes for a Function, which every component derives the same way. */

/** The Deployment and Service of function "hello" are both named "fn-hello". */
export const functionChildName = (functionName: string): string => `fn-${functionName}`;

/**
 * The bundled NATS's one user, the activators (docs/security.md): its password is made by the
 * controller on its first start, like the master key, and read by NATS and the activators
 * from this Secret; no anonymous client is let in.
 */
export const NATS_CREDENTIALS_SECRET = "updraft-nats-credentials";
export const NATS_PASSWORD_FIELD = "activator-password";
export const NATS_USER = "activator";
