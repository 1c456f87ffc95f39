package io.raftmq.client;

import java.util.List;

/**
 * One consumer group, as {@link Admin#listGroups} reports it.
 *
 * @param name the group id
 * @param state {@code Empty} (no members), {@code Stable} (every member consumes its target
 *     assignment) or {@code Reconciling} (partitions are being handed over)
 * @param generation bumped by every join, leave and expiry
 * @param members live members
 * @param topics every topic the group has subscribed to
 */
public record GroupListing(String name, String state, long generation, int members, List<String> topics) {}
