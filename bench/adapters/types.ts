// What a scenario sees of a server, whatever protocol it speaks: connections that can address a
// user or a group, send a body, and hand over the bodies other users sent. One adapter per
// protocol turns these calls into that protocol; msgr's uses the public SDK like any app.

export interface Conn {
  readonly user: string;
  /** The route that reaches `peer` one to one (msgr: opens the direct conversation). */
  directRoute(peer: string): Promise<string>;
  /** Creates a group of `members` (this user included) and returns its route. */
  createGroup(name: string, members: string[]): Promise<string>;
  /** Resolves once this connection receives the group's messages. */
  joinGroup(route: string): Promise<void>;
  /**
   * Sends `body`. Where the protocol acknowledges a send, the promise resolves on the server's
   * ack (msgr: once the message is durable); where it does not, it is undefined.
   */
  send(route: string, body: Uint8Array): Promise<unknown> | undefined;
  /** Called with every message body another user sent to this connection. */
  onMessage(handler: (body: Uint8Array) => void): void;
  close(): void;
}

export interface Adapter {
  /** True when `send` resolves on a server acknowledgement. */
  readonly acks: boolean;
  /** Connects and authenticates one device; resolves once it is ready to send and receive. */
  connect(user: string, device: string, endpoint: string): Promise<Conn>;
}
