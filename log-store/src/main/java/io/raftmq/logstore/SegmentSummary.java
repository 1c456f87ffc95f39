package io.raftmq.logstore;

/**
 * What a sealed segment's {@code .index} file records about the segment, so that opening the log
 * does not scan it.
 *
 * @param sizeInBytes bytes of whole batches in the segment file
 * @param nextOffset offset after the segment's last record
 * @param lastRaftIndex raft index of the last batch
 * @param maxTimestamp largest maxTimestamp of any batch in the segment
 * @param lastBatchPosition file position of the last batch (checked against the file on load)
 * @param lastBatchCrc the CRC field of the last batch (checked against the file on load)
 */
record SegmentSummary(long sizeInBytes, long nextOffset, long lastRaftIndex, long maxTimestamp,
    long lastBatchPosition, int lastBatchCrc) {}
