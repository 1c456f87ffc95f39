package io.raftmq.cli.demo;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * One {@code order.created} event of the demo's order service: its place in the plan, the customer and
 * the customer's own sequence number (1, 2, 3, … in the order the customer placed them), the items and
 * the total, and whether it is a poison order.
 *
 * @param index the order's place in the whole run (0-based), which is also its send order
 * @param orderId {@code o-00042}
 * @param customerId {@code c-017}, the record key, so a customer's orders share a partition
 * @param customerSeq 1 for the customer's first order, 2 for the second, …
 * @param items what was bought
 * @param total the order total, or for a {@link Poison#MALFORMED_TOTAL} order the malformed text
 * @param poison what is wrong with it, if anything
 */
public record Order(int index, String orderId, String customerId, int customerSeq, List<Item> items, String total,
    Poison poison) {

  /** The event type, also sent as the record's {@code type} header. */
  public static final String TYPE = "order.created";

  /** One line of an order. */
  public record Item(String sku, int quantity, BigDecimal unitPrice) {}

  /** What makes an order poison, and for whom. */
  public enum Poison {
    /** An ordinary order. */
    NONE,
    /**
     * The total is text ({@code "12,50 EUR"}) instead of a JSON number: every consumer that needs the
     * total (loyalty points, fraud audit) can never process it and rejects it, a permanent failure.
     */
    MALFORMED_TOTAL,
    /**
     * Flagged for manual review: the fraud audit's scoring call times out on every attempt, a
     * retryable failure, until the broker gives up after the group's max deliveries.
     */
    FLAGGED
  }

  /** The event as JSON, as the order service publishes it. */
  public String toJson() {
    StringBuilder sb = new StringBuilder(160);
    sb.append("{\"type\":\"").append(TYPE).append("\",\"orderId\":\"").append(orderId)
        .append("\",\"customerId\":\"").append(customerId).append("\",\"customerSeq\":").append(customerSeq)
        .append(",\"items\":[");
    for (int i = 0; i < items.size(); i++) {
      Item it = items.get(i);
      sb.append(i == 0 ? "" : ",").append("{\"sku\":\"").append(it.sku()).append("\",\"qty\":").append(it.quantity())
          .append(",\"price\":").append(it.unitPrice().toPlainString()).append('}');
    }
    sb.append("],\"total\":");
    if (poison == Poison.MALFORMED_TOTAL) {
      sb.append('"').append(total).append('"');
    } else {
      sb.append(total);
    }
    if (poison == Poison.FLAGGED) {
      sb.append(",\"risk\":\"manual-review\"");
    }
    return sb.append('}').toString();
  }

  /**
   * The orders of one run, deterministic for a seed: {@code count} orders from {@code customers}
   * customers, with {@code 2 * poisonPairs} poison orders spread over the run (alternately a malformed
   * total and a flagged order), never among the first 5% so that every group is running by then.
   */
  public static List<Order> plan(long seed, int count, int customers, int poisonPairs) {
    if (count < 10) {
      throw new IllegalArgumentException("at least 10 orders: " + count);
    }
    if (customers < 1) {
      throw new IllegalArgumentException("at least one customer: " + customers);
    }
    if (poisonPairs < 0 || 2 * poisonPairs > count / 10) {
      throw new IllegalArgumentException("poison orders must be at most a tenth of the orders");
    }
    Random random = new Random(seed);
    Map<Integer, Poison> poisonAt = new HashMap<>();
    int poisonCount = 2 * poisonPairs;
    for (int p = 0; p < poisonCount; p++) {
      // Spread over 10%..90% of the run.
      int at = (int) Math.round(count * (0.1 + 0.8 * (p + 0.5) / poisonCount));
      poisonAt.put(at, p % 2 == 0 ? Poison.MALFORMED_TOTAL : Poison.FLAGGED);
    }
    Map<String, Integer> seqs = new HashMap<>();
    List<Order> orders = new ArrayList<>(count);
    int width = Math.max(5, String.valueOf(count).length());
    int customerWidth = Math.max(3, String.valueOf(customers).length());
    for (int i = 0; i < count; i++) {
      // A few regular customers place many orders, most place a few: skewed keys, as real traffic.
      int c = (int) Math.floor(customers * Math.pow(random.nextDouble(), 1.6));
      String customer = String.format(Locale.ROOT, "c-%0" + customerWidth + "d", c + 1);
      int seq = seqs.merge(customer, 1, Integer::sum);
      int lines = 1 + random.nextInt(4);
      List<Item> items = new ArrayList<>(lines);
      BigDecimal total = BigDecimal.ZERO;
      for (int l = 0; l < lines; l++) {
        BigDecimal price = BigDecimal.valueOf(199 + random.nextInt(20_000), 2);
        int qty = 1 + random.nextInt(3);
        items.add(new Item(String.format(Locale.ROOT, "sku-%04d", 1 + random.nextInt(500)), qty, price));
        total = total.add(price.multiply(BigDecimal.valueOf(qty)));
      }
      Poison poison = poisonAt.getOrDefault(i, Poison.NONE);
      String totalText = total.setScale(2, RoundingMode.UNNECESSARY).toPlainString();
      if (poison == Poison.MALFORMED_TOTAL) {
        totalText = totalText.replace('.', ',') + " EUR";
      }
      orders.add(new Order(i, String.format(Locale.ROOT, "o-%0" + width + "d", i + 1), customer, seq,
          List.copyOf(items), totalText, poison));
    }
    return List.copyOf(orders);
  }

  /**
   * The fields consumers read from an event, parsed leniently from its JSON; the total is kept as the
   * raw JSON token ({@link #total()} parses it).
   */
  public record Event(String orderId, String customerId, int customerSeq, String totalToken, String risk) {
    /** Parses what the demo's order service writes; fails on a missing order id. */
    public static Event parse(String json) {
      String id = Json.string(json, "orderId");
      if (id == null) {
        throw new IllegalArgumentException("not an order.created event: no orderId");
      }
      String seq = Json.token(json, "customerSeq");
      return new Event(id, Json.string(json, "customerId"), seq == null ? 0 : Integer.parseInt(seq),
          Json.token(json, "total"), Json.string(json, "risk"));
    }

    /**
     * The total, which must be a JSON number; a {@link NumberFormatException} (an
     * {@link IllegalArgumentException}: a permanent failure to the queue consumers' default
     * classification) otherwise.
     */
    public BigDecimal total() {
      if (totalToken == null || totalToken.startsWith("\"")) {
        throw new NumberFormatException("order " + orderId + ": total is not a number: " + totalToken);
      }
      return new BigDecimal(totalToken);
    }

    /** Whether the order is flagged for manual review. */
    public boolean flagged() {
      return "manual-review".equals(risk);
    }
  }

  /** Just enough JSON reading for the flat fields of the demo's events (no escapes in them). */
  static final class Json {
    private Json() {}

    /** The raw token after {@code "name":} (a quoted string keeps its quotes), or null. */
    static String token(String json, String name) {
      String needle = "\"" + name + "\":";
      int at = json.indexOf(needle);
      if (at < 0) {
        return null;
      }
      int start = at + needle.length();
      if (start < json.length() && json.charAt(start) == '"') {
        int end = json.indexOf('"', start + 1);
        return end < 0 ? null : json.substring(start, end + 1);
      }
      int end = start;
      while (end < json.length() && ",}]".indexOf(json.charAt(end)) < 0) {
        end++;
      }
      return json.substring(start, end).trim();
    }

    /** The string value of {@code name}, or null if absent or not a string. */
    static String string(String json, String name) {
      String t = token(json, name);
      return t != null && t.length() >= 2 && t.startsWith("\"") ? t.substring(1, t.length() - 1) : null;
    }
  }
}
