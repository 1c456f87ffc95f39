package org.apache.ratis.util;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;
import java.util.zip.Checksum;

/**
 * RaftMQ's stand-in for Ratis' class of the same name, which Ratis uses to checksum every entry of its
 * segmented Raft log. Ratis' version is a table-driven CRC32C in plain Java; profiles of a broker under
 * produce load showed it taking half of a leader's Java CPU. This one delegates to the JDK's
 * {@link CRC32C}, which the JIT compiles to the CPU's CRC32C instructions. Same polynomial (Castagnoli),
 * same initial value and final inversion, so the checksums are bit-identical and Raft logs stay
 * readable by stock Ratis ({@code RatisChecksumTest} pins both).
 *
 * <p>It takes effect because {@code raft-core} precedes {@code ratis-common} on the class path (the
 * launcher and Maven both put it first); {@code RaftHost} logs which implementation is in use.
 * Same public API and semantics as Ratis': {@link #update(ByteBuffer)} reads from the buffer's position
 * to its limit without moving the position. Not thread-safe, like any {@link Checksum}.
 */
public class PureJavaCrc32C implements Checksum {
  private final CRC32C crc = new CRC32C();

  /** Marker that this class, not Ratis' own, was loaded. */
  public static final boolean INTRINSIC = true;

  public PureJavaCrc32C() {
  }

  @Override
  public long getValue() {
    return crc.getValue();
  }

  @Override
  public void reset() {
    crc.reset();
  }

  @Override
  public void update(byte[] b, int off, int len) {
    crc.update(b, off, len);
  }

  @Override
  public void update(ByteBuffer b) {
    crc.update(b.duplicate());
  }

  @Override
  public final void update(int b) {
    crc.update(b);
  }
}
