package io.raftmq.raft;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.Checksum;
import org.apache.ratis.util.PureJavaCrc32C;
import org.junit.jupiter.api.Test;

/** RaftMQ's intrinsic CRC32C for the Raft log is the one loaded, and agrees bit for bit with Ratis' own. */
class RatisChecksumTest {

  @Test
  void shouldLoadRaftMqsChecksumAheadOfRatisOwn() {
    assertThat(PureJavaCrc32C.INTRINSIC).isTrue();
    assertThat(PureJavaCrc32C.class.getProtectionDomain().getCodeSource().getLocation().toString())
        .contains("raft-core");
  }

  @Test
  void shouldComputeTheSameChecksumsAsRatisTableDrivenImplementation() throws Exception {
    Checksum original = loadRatisOriginal();
    assertThat(original.getClass().getProtectionDomain().getCodeSource().getLocation().toString())
        .contains("ratis-common");
    Method updateBuffer = original.getClass().getMethod("update", ByteBuffer.class);
    long seed = System.nanoTime();
    Random random = new Random(seed);
    PureJavaCrc32C ours = new PureJavaCrc32C();
    for (int i = 0; i < 500; i++) {
      byte[] data = new byte[random.nextInt(5000)];
      random.nextBytes(data);
      int off = data.length == 0 ? 0 : random.nextInt(data.length);
      int len = data.length - off;
      ours.reset();
      original.reset();
      ours.update(data, off, len);
      original.update(data, off, len);
      assertThat(ours.getValue()).as("seed %d, array", seed).isEqualTo(original.getValue());

      ByteBuffer direct = ByteBuffer.allocateDirect(data.length).put(data).position(off);
      ours.reset();
      original.reset();
      ours.update(direct);
      assertThat(direct.position()).as("position unchanged").isEqualTo(off);
      updateBuffer.invoke(original, direct.duplicate());
      assertThat(ours.getValue()).as("seed %d, direct buffer", seed).isEqualTo(original.getValue());
    }
  }

  /** Ratis' own class, loaded from the ratis-common jar in a loader of its own. */
  private static Checksum loadRatisOriginal() throws Exception {
    String cp = System.getProperty("java.class.path");
    for (String entry : cp.split(java.io.File.pathSeparator)) {
      Path p = Path.of(entry);
      if (p.getFileName() != null && p.getFileName().toString().startsWith("ratis-common") && Files.isRegularFile(p)) {
        URLClassLoader loader = new URLClassLoader(new URL[] {p.toUri().toURL()}, ClassLoader.getPlatformClassLoader());
        return (Checksum) loader.loadClass("org.apache.ratis.util.PureJavaCrc32C").getConstructor().newInstance();
      }
    }
    throw new AssertionError("ratis-common jar not on the class path: " + cp);
  }
}
