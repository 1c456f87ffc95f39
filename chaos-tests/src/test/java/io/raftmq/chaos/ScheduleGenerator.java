package io.raftmq.chaos;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Draws fault schedules from a seed: the same seed and duration always give the same schedule. Faults
 * follow one another (each heals before the next starts, 1–3 s later), with client crashes now and
 * then in between; the last fault heals at least 3 s before the end. Pauses are drawn around the
 * election timeout (0.3 s, ~1x, ~3x of the 1–2 s timeout); kills 1–8 s; partitions 3–12 s.
 */
public final class ScheduleGenerator {
  private static final int PARTITIONS = LogWorkload.Config.defaults().partitions();

  private ScheduleGenerator() {}

  public static Schedule generate(long seed, long durationMs) {
    SplittableRandom r = new SplittableRandom(seed);
    List<Schedule.Event> events = new ArrayList<>();
    long t = 2000 + r.nextLong(2000);
    long lastEnd = durationMs - 3000;
    while (t < lastEnd - 1000) {
      Fault f = pick(r);
      long d = switch (f) {
        case KILL -> 1000 + r.nextLong(7000);
        case KILL_ALL -> 1000 + r.nextLong(3000);
        case PAUSE -> switch (r.nextInt(3)) {
          case 0 -> 200 + r.nextLong(300);
          case 1 -> 1500 + r.nextLong(1000);
          default -> 5000 + r.nextLong(2000);
        };
        case ISOLATE, BRIDGE, ONE_WAY -> 3000 + r.nextLong(9000);
        case PRODUCER_CRASH, CONSUMER_CRASH -> 0;
      };
      d = Math.min(d, lastEnd - t);
      String target = switch (f) {
        case KILL_ALL -> "all";
        case PRODUCER_CRASH, CONSUMER_CRASH -> String.valueOf(r.nextInt(2));
        case ONE_WAY -> node(r) + ">" + node(r);
        default -> node(r);
      };
      events.add(new Schedule.Event(t, f, target, d));
      t += d + 1000 + r.nextLong(2000);
    }
    return new Schedule("random-" + seed, seed, durationMs, events);
  }

  private static Fault pick(SplittableRandom r) {
    int x = r.nextInt(100);
    if (x < 20) {
      return Fault.KILL;
    } else if (x < 26) {
      return Fault.KILL_ALL;
    } else if (x < 44) {
      return Fault.PAUSE;
    } else if (x < 62) {
      return Fault.ISOLATE;
    } else if (x < 72) {
      return Fault.BRIDGE;
    } else if (x < 82) {
      return Fault.ONE_WAY;
    } else if (x < 91) {
      return Fault.PRODUCER_CRASH;
    }
    return Fault.CONSUMER_CRASH;
  }

  private static String node(SplittableRandom r) {
    int x = r.nextInt(4);
    return switch (x) {
      case 0, 1 -> "leader:" + r.nextInt(PARTITIONS);
      case 2 -> "follower:" + r.nextInt(PARTITIONS);
      default -> "n" + (1 + r.nextInt(3));
    };
  }
}
