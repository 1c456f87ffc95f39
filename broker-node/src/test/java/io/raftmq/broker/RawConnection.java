package io.raftmq.broker;

import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;

/** A bare blocking socket speaking (or mangling) the frame protocol, to test the broker's edges. */
final class RawConnection implements AutoCloseable {
  private final Socket socket;
  private final DataInputStream in;
  private final DataOutputStream out;

  RawConnection(String host, int port) throws IOException {
    socket = new Socket(host, port);
    socket.setSoTimeout(15_000);
    in = new DataInputStream(socket.getInputStream());
    out = new DataOutputStream(socket.getOutputStream());
  }

  void send(Request request, byte[] body) throws IOException {
    byte[] header = request.toByteArray();
    out.writeInt(4 + header.length + body.length);
    out.writeInt(header.length);
    out.write(header);
    out.write(body);
    out.flush();
  }

  void sendRaw(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
  }

  /** A response: its header and its body. */
  record Reply(Response header, ByteBuffer body) {}

  Reply receive() throws IOException {
    int length = in.readInt();
    int headerLength = in.readInt();
    byte[] header = new byte[headerLength];
    in.readFully(header);
    byte[] body = new byte[length - 4 - headerLength];
    in.readFully(body);
    return new Reply(Response.parseFrom(header), ByteBuffer.wrap(body));
  }

  Reply call(Request request) throws IOException {
    send(request, new byte[0]);
    return receive();
  }

  /** Whether the broker closed this connection (reads hit end of stream within the timeout). */
  boolean closedByPeer() throws IOException {
    try {
      while (in.read() >= 0) {
        // drain anything sent before the close
      }
      return true;
    } catch (EOFException e) {
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return true; // connection reset
    }
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
