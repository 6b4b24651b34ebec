package com.qcloud.scf.runtime;

/**
 * SCF's invocation context for Java handlers: a handler may take it as its second
 * parameter. Functions compile against the same interface from scf-java-events; the
 * runtime's copy is the one loaded (the function's class loader asks the runtime's first).
 */
public interface Context {
  String getRequestId();

  int getTimeLimitInMs();

  int getMemoryLimitInMb();
}
