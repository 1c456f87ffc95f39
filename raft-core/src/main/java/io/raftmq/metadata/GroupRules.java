package io.raftmq.metadata;

import java.util.regex.Pattern;

/** What a consumer group id may be. */
public final class GroupRules {
  private static final Pattern GROUP_ID = Pattern.compile("[a-zA-Z0-9._-]{1,200}");

  private GroupRules() {}

  /** Null if {@code group} is a valid group id, else why not. */
  public static String validateGroupId(String group) {
    if (group == null || !GROUP_ID.matcher(group).matches()) {
      return "group id '" + group + "' is invalid: use 1 to 200 of [a-zA-Z0-9._-]";
    }
    return null;
  }
}
