// What an actor may do with a device's connection. Only src/edge implements this (over Bun's
// ServerWebSocket); actors never see a socket.

export interface Transport {
  /**
   * Queues a frame. Returns false when the connection is gone, the frame was dropped, or the
   * send buffer passed the limit; the caller must then close the connection and write no more.
   */
  send(frame: Uint8Array): boolean;
  close(code: number, reason: string): void;
  /** Bytes queued in the socket that the peer has not read yet. */
  bufferedAmount(): number;
  /** Resolves once the queued bytes fall to a quarter of the limit, or the connection closes. */
  drained(): Promise<void>;
  readonly closed: boolean;
  /**
   * The client reads Batch envelopes (it said so in CONNECT): from now on, frames written to it in
   * one turn may leave as one WebSocket message, and topics may bring it its own messages back.
   */
  batchFrames(): void;
  /**
   * Joins a topic of the edge's native fan-out (Broadcaster): frames published to it reach this
   * connection after every frame queued with send() so far. A connection written past its
   * buffer limit by a topic is cut (close code 1006 on the client: no room for a close frame).
   */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/**
 * The edge's native fan-out (Bun's pub/sub, uWebSockets inside): one call writes a frame to every
 * connection subscribed to a topic, with no JavaScript per connection.
 */
export interface Broadcaster {
  /**
   * Writes `frame` to every connection subscribed to `topic`, except `except` when given. A
   * connection that reads batches may get it at the end of the turn, with the topic's other
   * frames of the turn, and then also when it is `except`.
   */
  publish(topic: string, frame: Uint8Array, except?: Transport): void;
}
