package conformance;

import com.qcloud.scf.runtime.Context;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The conformance protocol (README.md) for Java, and SCF's other handler forms. */
public class Handler {
  private static final List<byte[]> HELD = new ArrayList<>();

  /** conformance.Handler::handle — a Map event and the optional Context. */
  public Object handle(Map<String, Object> event, Context context) throws Exception {
    String action = String.valueOf(event.get("do"));
    switch (action) {
      case "echo":
        Map<String, Object> ctx = new LinkedHashMap<>();
        ctx.put("request_id", context.getRequestId());
        ctx.put("time_limit_in_ms", context.getTimeLimitInMs());
        ctx.put("memory_limit_in_mb", context.getMemoryLimitInMb());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("event", event);
        out.put("context", ctx);
        out.put("trigger_src", System.getProperty("TRIGGER_SRC", ""));
        return out;
      case "return":
        return event.get("value");
      case "log":
        System.out.println(event.get("line"));
        return "logged";
      case "fail":
        throw new IllegalStateException("conformance failure");
      case "sleep":
        Thread.sleep(((Number) event.get("ms")).longValue());
        return "slept";
      case "alloc":
        int mb = ((Number) event.get("mb")).intValue();
        for (int i = 0; i < mb / 16; i++) HELD.add(new byte[16 << 20]);
        return HELD.size() * 16;
      case "exit":
        System.exit(3);
        return null;
      default:
        return "unknown action";
    }
  }

  /** conformance.Handler::greet — a POJO in and out. */
  public Greeting greet(Person person) {
    return new Greeting("Hello " + person.getFirstName() + " " + person.getLastName());
  }

  /** conformance.Handler::shout — a String (a JSON string's value) and a static method. */
  public static String shout(String text) {
    return text.toUpperCase();
  }

  /** conformance.Handler::twice — a primitive. */
  public int twice(int n) {
    return 2 * n;
  }

  public static class Person {
    private String firstName;
    private String lastName;

    public String getFirstName() {
      return firstName;
    }

    public void setFirstName(String v) {
      firstName = v;
    }

    public String getLastName() {
      return lastName;
    }

    public void setLastName(String v) {
      lastName = v;
    }
  }

  public static class Greeting {
    private final String greeting;

    public Greeting(String greeting) {
      this.greeting = greeting;
    }

    public String getGreeting() {
      return greeting;
    }
  }
}
