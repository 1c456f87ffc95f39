package io.raftmq.cli.demo;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What one consumer group did with the run's orders: which it processed (each counted once; a second
 * time is a duplicate, which at-least-once delivery allows after a failover), and, where the group
 * promises it, whether each customer's orders were processed in the customer's order. That check is on
 * first processing: when an order of a customer is processed for the first time, every earlier order of
 * that customer that the group is meant to process must have been processed already (a replay of
 * already processed orders after a failover breaks nothing). Thread-safe.
 */
final class GroupLedger {
  private final String group;
  private final boolean checksOrder;
  private final Map<String, Order> plan;
  private final Predicate<Order> expected;
  private final Map<String, List<Order>> expectedByCustomer = new HashMap<>();
  private final int expectedCount;

  private final Set<String> processed = new HashSet<>();
  private long duplicates;
  private long unexpected;
  private final List<String> unexpectedExamples = new ArrayList<>();
  private long outOfOrder;
  private final List<String> outOfOrderExamples = new ArrayList<>();
  private long errors;
  private String lastError;

  /**
   * @param group the group's name
   * @param orders the run's orders
   * @param expected which orders the group is meant to process (the others are poison to it)
   * @param checksOrder whether the group promises per-customer order
   */
  GroupLedger(String group, List<Order> orders, Predicate<Order> expected, boolean checksOrder) {
    this.group = group;
    this.checksOrder = checksOrder;
    this.expected = expected;
    Map<String, Order> byId = new HashMap<>();
    int n = 0;
    for (Order o : orders) {
      byId.put(o.orderId(), o);
      if (expected.test(o)) {
        expectedByCustomer.computeIfAbsent(o.customerId(), c -> new ArrayList<>()).add(o);
        n++;
      }
    }
    this.plan = byId;
    this.expectedCount = n;
  }

  String group() {
    return group;
  }

  boolean checksOrder() {
    return checksOrder;
  }

  int expectedCount() {
    return expectedCount;
  }

  int customers() {
    return expectedByCustomer.size();
  }

  /** Records that the group processed (acted on, successfully) the order {@code orderId}. */
  void processed(String orderId) {
    processed(orderId, null);
  }

  /** As {@link #processed(String)}; {@code where} (e.g. {@code inventory-1 orders-3@57}) goes into examples. */
  synchronized void processed(String orderId, String where) {
    Order o = plan.get(orderId);
    if (o == null || !expected.test(o)) {
      unexpected++;
      if (unexpectedExamples.size() < 5) {
        unexpectedExamples.add(orderId);
      }
      return;
    }
    if (!processed.add(orderId)) {
      duplicates++;
      return;
    }
    if (checksOrder) {
      for (Order earlier : expectedByCustomer.get(o.customerId())) {
        if (earlier.customerSeq() >= o.customerSeq()) {
          break;
        }
        if (!processed.contains(earlier.orderId())) {
          outOfOrder++;
          if (outOfOrderExamples.size() < 5) {
            outOfOrderExamples.add(o.customerId() + ": " + o.orderId() + " (#" + o.customerSeq() + ") before "
                + earlier.orderId() + " (#" + earlier.customerSeq() + ")" + (where == null ? "" : " at " + where));
          }
          break;
        }
      }
    }
  }

  /** Records an error of the group's consumer loop (a failed poll, commit or settle). */
  synchronized void error(Throwable t) {
    errors++;
    lastError = t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
  }

  synchronized int processedCount() {
    return processed.size();
  }

  synchronized boolean complete() {
    return processed.size() == expectedCount;
  }

  /** The expected orders not processed, up to {@code max}. */
  synchronized List<String> missing(int max) {
    List<String> out = new ArrayList<>();
    for (List<Order> orders : expectedByCustomer.values()) {
      for (Order o : orders) {
        if (!processed.contains(o.orderId()) && out.size() < max) {
          out.add(o.orderId());
        }
      }
    }
    out.sort(null);
    return out;
  }

  synchronized long duplicates() {
    return duplicates;
  }

  synchronized long unexpected() {
    return unexpected;
  }

  synchronized List<String> unexpectedExamples() {
    return List.copyOf(unexpectedExamples);
  }

  synchronized long outOfOrder() {
    return outOfOrder;
  }

  synchronized List<String> outOfOrderExamples() {
    return List.copyOf(outOfOrderExamples);
  }

  synchronized long errors() {
    return errors;
  }

  synchronized String lastError() {
    return lastError;
  }
}
