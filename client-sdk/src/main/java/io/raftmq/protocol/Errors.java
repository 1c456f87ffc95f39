package io.raftmq.protocol;

/** What each {@link ErrorCode} means to a client: whether a retry can succeed. */
public final class Errors {
  private Errors() {}

  /** Whether the same request may succeed later, after a back-off and, for some, a metadata refresh. */
  public static boolean isRetriable(ErrorCode code) {
    switch (code) {
      case NOT_LEADER:
      case LEADER_NOT_AVAILABLE:
      case REQUEST_TIMED_OUT:
      case THROTTLED:
      case UNKNOWN_PARTITION:
      case METADATA_BEHIND:
        return true;
      default:
        return false;
    }
  }

  /** Whether the client should refresh its metadata before retrying. */
  public static boolean needsMetadataRefresh(ErrorCode code) {
    return code == ErrorCode.NOT_LEADER || code == ErrorCode.LEADER_NOT_AVAILABLE
        || code == ErrorCode.UNKNOWN_PARTITION || code == ErrorCode.UNKNOWN_TOPIC;
  }
}
