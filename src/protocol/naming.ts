/** Names of what Updraft makes for a Function, which every component derives the same way. */

/** The Deployment and Service of function "hello" are both named "fn-hello". */
export const functionChildName = (functionName: string): string => `fn-${functionName}`;
