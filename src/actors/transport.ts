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
}
