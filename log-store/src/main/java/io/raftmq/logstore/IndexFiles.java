package io.raftmq.logstore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * Whole-file persistence of the index files: written to a temporary file, fsynced and renamed into
 * place, each file ending with a CRC32C of all bytes before it, so a torn or stale file is detected
 * (and the index rebuilt from the segment) instead of trusted.
 */
final class IndexFiles {
  static final String TMP_SUFFIX = ".tmp";

  private IndexFiles() {}

  /** Appends the CRC of {@code content[0, position)} and writes it atomically to {@code target}. */
  static void writeAtomically(Path target, ByteBuffer content) throws IOException {
    CRC32C crc = new CRC32C();
    crc.update(content.array(), 0, content.position());
    content.putInt((int) crc.getValue());
    content.flip();
    Path tmp = target.resolveSibling(target.getFileName() + TMP_SUFFIX);
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      while (content.hasRemaining()) {
        ch.write(content);
      }
      ch.force(true);
    }
    try {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /**
   * The file's bytes without the trailing CRC (position 0, limit = content length), or {@code null}
   * if the file is missing, shorter than {@code minBytes}, longer than {@code maxBytes} or fails its CRC.
   */
  static ByteBuffer readVerified(Path file, int minBytes, long maxBytes) throws IOException {
    byte[] bytes;
    try {
      long size = Files.size(file);
      if (size < minBytes + Integer.BYTES || size > maxBytes) {
        return null;
      }
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return null;
    }
    if (bytes.length < minBytes + Integer.BYTES) {
      return null;
    }
    int contentLength = bytes.length - Integer.BYTES;
    CRC32C crc = new CRC32C();
    crc.update(bytes, 0, contentLength);
    ByteBuffer buf = ByteBuffer.wrap(bytes);
    if (buf.getInt(contentLength) != (int) crc.getValue()) {
      return null;
    }
    return buf.limit(contentLength);
  }
}
