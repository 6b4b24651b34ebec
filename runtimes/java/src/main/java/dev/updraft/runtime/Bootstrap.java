package dev.updraft.runtime;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.qcloud.scf.runtime.Context;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The java17 and java21 runtimes' language worker. It loads the handler named by _HANDLER
 * ("example.Hello::mainHandler") from the code folder — classes at its root, and every jar
 * in it and in lib/ — and serves invocations from the SCF runtime API: the event is mapped
 * to the method's first parameter (String, a primitive or its box, a Map, or a POJO whose
 * properties match the JSON keys in any case), the optional second parameter is a {@link
 * Context}, and the result is written as JSON. A thrown exception is SCF's 430, a handler
 * that cannot be found 437, an OutOfMemoryError 434 (and the worker is replaced).
 */
public final class Bootstrap {
  private static final ObjectMapper JSON =
      JsonMapper.builder()
          .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_PROPERTIES)
          .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
          .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
          .build();

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private final String api;

  private Bootstrap(String api) {
    this.api = api;
  }

  public static void main(String[] args) throws Exception {
    String host = env("SCF_RUNTIME_API", "127.0.0.1");
    String port = env("SCF_RUNTIME_API_PORT", "9001");
    Bootstrap b = new Bootstrap("http://" + host + ":" + port);
    b.run(env("_HANDLER", ""), new File(env("SCF_USERCODEPATH", "/var/user")));
  }

  private static String env(String key, String def) {
    String v = System.getenv(key);
    return v == null || v.isEmpty() ? def : v;
  }

  /** A handler ready to call, or the 437 that every invocation gets instead. */
  record Handler(Object target, Method method, String notFound) {}

  private void run(String spec, File codeDir) throws Exception {
    Handler handler = load(spec, codeDir);
    post("/runtime/init/ready", "");
    for (; ; ) {
      HttpResponse<String> next =
          http.send(
              HttpRequest.newBuilder(URI.create(api + "/runtime/invocation/next")).GET().build(),
              HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
      String requestId = next.headers().firstValue("request_id").orElse("");
      int timeLimit = Integer.parseInt(next.headers().firstValue("time_limit_in_ms").orElse("3000"));
      int memory = Integer.parseInt(next.headers().firstValue("memory_limit_in_mb").orElse("128"));
      // Java cannot change its own environment: TRIGGER_SRC is a system property instead.
      String triggerSource = next.headers().firstValue("trigger_src").orElse("");
      if (triggerSource.isEmpty()) System.clearProperty("TRIGGER_SRC");
      else System.setProperty("TRIGGER_SRC", triggerSource);
      if (handler.notFound() != null) {
        post("/runtime/invocation/error", error(437, handler.notFound(), "HandlerNotFound", ""));
        continue;
      }
      try {
        Object result = invoke(handler, next.body(), new InvocationContext(requestId, timeLimit, memory));
        post("/runtime/invocation/response", JSON.writeValueAsString(result));
      } catch (Throwable t) {
        // The handler's own throwable arrives wrapped by reflection.
        Throwable cause = t instanceof InvocationTargetException ite && ite.getCause() != null ? ite.getCause() : t;
        if (cause instanceof OutOfMemoryError oom) {
          // The heap is spent: answer 434 and leave, so the shim starts a fresh worker.
          post(
              "/runtime/invocation/error",
              error(434, "Memory Limit Exceeded: " + oom.getMessage(), "MemoryLimitReached", ""));
          System.exit(1);
        }
        String stack = stackTrace(cause);
        System.err.print(stack);
        String message = cause.getMessage() != null ? cause.getMessage() : cause.getClass().getName();
        post("/runtime/invocation/error", error(430, message, cause.getClass().getSimpleName(), stack));
      }
    }
  }

  /** Finds pkg.Class::method in the code folder; a missing one is a Handler with notFound set. */
  static Handler load(String spec, File codeDir) throws Exception {
    int sep = spec.indexOf("::");
    if (sep <= 0 || sep == spec.length() - 2) {
      return new Handler(null, null, "Handler not found: \"" + spec + "\" is not pkg.Class::method");
    }
    String className = spec.substring(0, sep);
    String methodName = spec.substring(sep + 2);
    // Parent first: Context resolves to the runtime's copy even when the function's jar carries one.
    ClassLoader loader = new URLClassLoader(classpath(codeDir), Bootstrap.class.getClassLoader());
    Thread.currentThread().setContextClassLoader(loader);
    Class<?> cls;
    try {
      cls = Class.forName(className, true, loader);
    } catch (ClassNotFoundException e) {
      return new Handler(null, null, "Handler not found: no class " + className + " in the code package");
    }
    // A public method of that name taking (event), (event, Context) or nothing; with
    // overloads, the one taking the most of those.
    Method method =
        Arrays.stream(cls.getMethods())
            .filter(m -> m.getName().equals(methodName) && m.getParameterCount() <= 2)
            .filter(m -> m.getParameterCount() < 2 || m.getParameterTypes()[1] == Context.class)
            .max(Comparator.comparingInt(Method::getParameterCount))
            .orElse(null);
    if (method == null) {
      return new Handler(null, null, "Handler not found: no public method " + methodName + " in " + className);
    }
    Object target = Modifier.isStatic(method.getModifiers()) ? null : cls.getDeclaredConstructor().newInstance();
    return new Handler(target, method, null);
  }

  /** The code folder itself (class files), then its jars and those in lib/, in name order. */
  static URL[] classpath(File codeDir) throws Exception {
    List<URL> urls = new ArrayList<>();
    urls.add(codeDir.toURI().toURL());
    for (File dir : new File[] {codeDir, new File(codeDir, "lib")}) {
      File[] jars = dir.listFiles((d, name) -> name.endsWith(".jar"));
      if (jars == null) continue;
      Arrays.sort(jars);
      for (File jar : jars) urls.add(jar.toURI().toURL());
    }
    return urls.toArray(new URL[0]);
  }

  static Object invoke(Handler h, String event, Context context) throws Exception {
    Class<?>[] types = h.method().getParameterTypes();
    Object[] args = new Object[types.length];
    if (types.length >= 1) args[0] = eventAs(h.method().getGenericParameterTypes()[0], types[0], event);
    if (types.length == 2) args[1] = context;
    return h.method().invoke(h.target(), args);
  }

  /**
   * The event as the handler's parameter type. A String parameter gets a JSON string's
   * value, or else the event's JSON text (so {"a":1} arrives as that text); everything
   * else is read by Jackson into the declared type, generics included.
   */
  static Object eventAs(java.lang.reflect.Type generic, Class<?> type, String event) throws Exception {
    if (type == String.class) {
      JsonNode node = JSON.readTree(event);
      return node != null && node.isTextual() ? node.textValue() : event;
    }
    if (type == Object.class) return JSON.readValue(event, Object.class);
    return JSON.readValue(event, JSON.getTypeFactory().constructType(generic));
  }

  static String error(int code, String message, String type, String stack) throws Exception {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("errorCode", code);
    body.put("errorMessage", message);
    body.put("errorType", type);
    body.put("stackTrace", stack);
    return JSON.writeValueAsString(body);
  }

  private static String stackTrace(Throwable t) {
    StringWriter w = new StringWriter();
    t.printStackTrace(new PrintWriter(w));
    return w.toString();
  }

  private void post(String path, String body) throws Exception {
    http.send(
        HttpRequest.newBuilder(URI.create(api + path))
            .timeout(Duration.ofSeconds(30))
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
            .build(),
        HttpResponse.BodyHandlers.discarding());
  }

  /** The Context a handler receives. */
  record InvocationContext(String requestId, int timeLimitInMs, int memoryLimitInMb) implements Context {
    @Override
    public String getRequestId() {
      return requestId;
    }

    @Override
    public int getTimeLimitInMs() {
      return timeLimitInMs;
    }

    @Override
    public int getMemoryLimitInMb() {
      return memoryLimitInMb;
    }
  }
}
