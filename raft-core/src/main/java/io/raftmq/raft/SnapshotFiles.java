package io.raftmq.raft;

import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.statemachine.SnapshotRetentionPolicy;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.util.MD5FileUtil;

/** Writes and reads a state machine's snapshot: one protobuf file plus its MD5, Ratis' naming. */
public final class SnapshotFiles {
  private SnapshotFiles() {}

  /** Keep the newest two snapshots (one may be in transfer to a follower while the next is written). */
  public static final SnapshotRetentionPolicy KEEP_TWO = new SnapshotRetentionPolicy() {
    @Override
    public int getNumSnapshotsRetained() {
      return 2;
    }
  };

  /**
   * Writes {@code state} as the snapshot at {@code termIndex}: to a temporary file, fsynced, renamed
   * into place, then its MD5 file; finally publishes it as the storage's latest snapshot.
   */
  public static SingleFileSnapshotInfo write(SimpleStateMachineStorage storage, TermIndex termIndex,
      MessageLite state) throws IOException {
    Path file = storage.getSnapshotFile(termIndex.getTerm(), termIndex.getIndex()).toPath();
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp)) {
      state.writeTo(out);
    }
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    var md5 = MD5FileUtil.computeAndSaveMd5ForFile(file.toFile());
    SingleFileSnapshotInfo info = new SingleFileSnapshotInfo(new FileInfo(file, md5), termIndex);
    storage.updateLatestSnapshot(info);
    return info;
  }

  /** Reads a snapshot file written by {@link #write}. */
  public static <T> T read(SingleFileSnapshotInfo info, Parser<T> parser) throws IOException {
    try (InputStream in = Files.newInputStream(info.getFile().getPath())) {
      return parser.parseFrom(in);
    }
  }
}
