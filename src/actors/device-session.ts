// The server side of one device connection: its protocol state and what it has been sent.
// Owned by the user actor; writes go through the Transport the edge provides.

import { randomUUID } from "node:crypto";
import { DisconnectCode, ErrorCode, type ErrorCodeId, type PushKindId } from "../proto/codes.ts";
import { encodeError, encodePush, encodeReply } from "../proto/codec.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { messageFrame } from "../proto/message-frame.ts";
import type { WireMessage } from "../proto/types.ts";
import type { RateLimit } from "../config/config.ts";
import { TokenBucket } from "./rate-limit.ts";
import type { Transport } from "./transport.ts";

const NO_ONE: ReadonlySet<string> = new Set();

/**
 * Session ids are UUIDs made when asked for (CONNECT's reply, a cluster's device event), not held
 * by every connection: a random UUID drawn once per process, its last 48 bits replaced by the
 * session's serial number. Unique per connection: serials do not repeat within a process, and
 * the 74 random bits left tell processes apart.
 */
const SESSION_ID_PREFIX = randomUUID().slice(0, 24);
let lastSerial = 0;

/** What every session of a node shares: one reference per connection rather than one each. */
export interface SessionShared {
  readonly metrics: Metrics;
  /** Each connection's budget for commands of every method. */
  readonly commandRate: RateLimit;
}

/** Protocol errors and refused commands are counted over windows of this length. */
const ERROR_WINDOW_MS = 10_000;

// One of these per connection, so its size is watched: JavaScriptCore gives an object made by this
// constructor room for its fields in steps (up to 18 fields: 160 bytes; 19 to 22: 224), and at 18
// it sits at the top of its step. A new field belongs in SessionShared, or made on first use
// inside one that is, unless it is worth 64 bytes on every connection.
export class DeviceSession {
  /** CONNECT was accepted. */
  connected = false;
  /** SYNC was accepted: message pushes flow to this device from now on. */
  synced = false;
  /** The node has forgotten this connection (Node.closeSession): a later report of its close changes nothing. */
  forgotten = false;
  /** conversation id -> highest seq pushed (or known to the device) on this connection, with no gap below. */
  sent = new Map<string, number>();
  /**
   * Conversations whose messages reach this device through the edge's native fan-out
   * (conversation-fanout.ts): `sent` is not kept for them, the fan-out's `published` is. Null
   * while there are none.
   */
  live: Set<string> | null = null;
  /** Users whose presence this device watches (none until PRESENCE_SUBSCRIBE). */
  watching: ReadonlySet<string> = NO_ONE;
  /** Time of the last frame from the device (heartbeat). */
  lastFrameAt: number;
  readonly openedAt: number;
  /** Commands of this connection being handled (the in-flight cap). */
  inflight = 0;
  // Made on first use: an idle connection carries none of these.
  private commandBucket: TokenBucket | null = null;
  private badFrames: WindowCount | null = null;
  private refusals: WindowCount | null = null;
  /** This connection's number in the process: a small integer, held without an allocation. */
  private readonly serial = ++lastSerial;

  constructor(
    readonly user: string,
    readonly device: string,
    /** Access-token expiry, ms since epoch: the connection is closed then. */
    readonly expiresAt: number,
    readonly transport: Transport,
    private readonly shared: SessionShared,
    now: number,
  ) {
    this.lastFrameAt = now;
    this.openedAt = now;
  }

  /** A UUID unique to this connection (see SESSION_ID_PREFIX); the same string each time. */
  get id(): string {
    return SESSION_ID_PREFIX + this.serial.toString(16).padStart(12, "0");
  }

  get closed(): boolean {
    return this.transport.closed;
  }

  reply(id: number, result: object): void {
    if (id !== 0) this.write(encodeReply(id, result));
  }

  error(id: number, code: ErrorCodeId, message: string, retryAfterMs?: number): void {
    this.shared.metrics.errors.inc({ code });
    this.write(encodeError(id, code, message, retryAfterMs));
  }

  push(kind: PushKindId, body: object): boolean {
    return this.write(encodePush(kind, body));
  }

  /** Pushes a message; its frame is encoded once however many devices it goes to. */
  pushMessage(msg: WireMessage): boolean {
    return this.pushMessageFrame(messageFrame(msg));
  }

  /** Pushes a message already encoded as its MESSAGE frame (a stored backlog). */
  pushMessageFrame(frame: Uint8Array): boolean {
    const ok = this.write(frame);
    if (ok) this.shared.metrics.messagesDelivered.n++;
    return ok;
  }

  write(frame: Uint8Array): boolean {
    if (this.transport.closed) return false;
    if (this.transport.send(frame)) {
      this.shared.metrics.framesOut.n++;
      return true;
    }
    // Never keep writing after a drop: the device would see a gap. It resumes from its cursors instead.
    this.close(DisconnectCode.SlowConsumer, "slow consumer: reconnect and resume from your cursors");
    return false;
  }

  /** Waits while the socket holds a large backlog (used when streaming history, not for live pushes). */
  async drained(limit: number): Promise<void> {
    if (this.transport.bufferedAmount() > limit / 4) await this.transport.drained();
  }

  close(code: number, reason: string): void {
    if (this.transport.closed) return;
    this.shared.metrics.disconnects.inc({ code });
    this.transport.close(code, reason);
  }

  /** The connection's budget for commands of every method: 0 when one may run, else ms to wait. */
  takeCommandToken(now: number): number {
    // Made on the first command, so an idle connection does not carry one.
    if (!this.commandBucket) {
      const { perSecond, burst } = this.shared.commandRate;
      this.commandBucket = new TokenBucket(perSecond, burst, now);
    }
    return this.commandBucket.take(now);
  }

  /**
   * Drops what an idle connection no longer needs (Node.sweep): a command bucket that has filled
   * up again, error counts whose window has passed. Each is made again on next use, as it was.
   */
  shed(now: number): void {
    if (this.commandBucket?.full(now)) this.commandBucket = null;
    if (this.badFrames?.over(now, ERROR_WINDOW_MS)) this.badFrames = null;
    if (this.refusals?.over(now, ERROR_WINDOW_MS)) this.refusals = null;
  }

  /**
   * Counts a protocol error; returns true (and closes the connection) when the device has sent
   * too many bad frames recently to be anything but broken or abusive.
   */
  protocolError(now: number, max: number): boolean {
    if ((this.badFrames ??= new WindowCount()).add(now, ERROR_WINDOW_MS) <= max) return false;
    this.close(DisconnectCode.ProtocolViolation, "too many protocol errors");
    return true;
  }

  /**
   * Counts a command refused for its rate; a client that keeps sending regardless is flooding,
   * and is closed (it may reconnect after a backoff).
   */
  refused(now: number, max: number): boolean {
    if ((this.refusals ??= new WindowCount()).add(now, ERROR_WINDOW_MS) <= max) return false;
    this.close(DisconnectCode.Flooding, "too many commands refused for their rate");
    return true;
  }
}

/** Events in the current fixed window: two numbers instead of a list of times per connection. */
class WindowCount {
  private start = 0;
  private n = 0;

  /** Counts one event at `now`; returns the count in its window. */
  add(now: number, windowMs: number): number {
    if (now - this.start >= windowMs) {
      this.start = now;
      this.n = 0;
    }
    return ++this.n;
  }

  /** Whether the window has passed at `now`: the next event starts a new one. */
  over(now: number, windowMs: number): boolean {
    return now - this.start >= windowMs;
  }
}

/** Errors that only a broken or hostile client causes; they count towards the abuse limit. */
export const isProtocolError = (code: number) =>
  code === ErrorCode.BadFrame ||
  code === ErrorCode.FrameTooLarge ||
  code === ErrorCode.UnknownMethod ||
  code === ErrorCode.InvalidParams ||
  code === ErrorCode.NotConnected ||
  code === ErrorCode.AlreadyConnected;
