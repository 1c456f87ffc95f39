package io.raftmq.client;

/**
 * A broker node's addresses.
 *
 * @param nodeId the node id
 * @param host host name or IP of the client port
 * @param port the client (wire protocol) port
 * @param httpPort the HTTP port (metrics, health), 0 if unknown
 */
public record NodeAddress(int nodeId, String host, int port, int httpPort) {}
