package io.raftmq.logstore;

import java.nio.file.Path;

/**
 * One segment's {@code .log} file and the number of its bytes that hold whole batches (a copy cut at
 * {@code sizeBytes} opens cleanly).
 *
 * @param path the segment file, named {@code %020d.log} after its base offset
 * @param sizeBytes bytes of whole batches at the time {@link PartitionLog#segmentFiles()} was called
 */
public record SegmentFile(Path path, long sizeBytes) {}
