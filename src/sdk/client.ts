// The client SDK: one device's connection to a msgr server, with handshake, heartbeats,
// reconnection (exponential backoff with jitter), resume from per-conversation cursors,
// exactly-once in-order message events, idempotent sends that survive reconnects, and
// automatic delivered receipts.

import {
  BEARER_SUBPROTOCOL_PREFIX,
  ErrorCode,
  FrameType,
  isRetryableError,
  Method,
  MessageKind,
  PROTOCOL_VERSION,
  PushKind,
  ReceiptType,
  shouldReconnect,
  SUBPROTOCOL,
  type MethodId,
} from "../proto/codes.ts";
import { decodeServerFrame, encodeCommand, type ErrorBody } from "../proto/codec.ts";
import { frameBoundsOfBatch, isBatch } from "../proto/frame-batch.ts";
import type * as P from "../proto/types.ts";
import { ConversationCursor } from "./conversation-cursor.ts";
import { Emitter } from "./emitter.ts";
import { ReceiptBatcher } from "./receipt-batcher.ts";
import { resolveWebSocket, WS_OPEN, type WebSocketConstructor, type WebSocketLike } from "./websocket.ts";

export interface ClientOptions {
  /** ws://host:port/v1/ws, or several nodes' URLs: each reconnect tries the next one. */
  url: string | string[];
  /** Access token, or a function returning a fresh one (called on every connect). */
  token: string | (() => string | Promise<string>);
  /** Reconnect after a connection loss the server does not mark final (default true). */
  reconnect?: boolean;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Cursors saved from an earlier run: conversation id -> highest seq held. */
  cursors?: Record<string, number>;
  /** Send delivered receipts for received messages (default true). */
  autoAck?: boolean;
  /**
   * Delivered receipts are cumulative and timed per conversation (receipt-batcher.ts): the first
   * after a quiet spell leaves this many ms after the message that opened it (default 100), so a
   * lone message's sender sees the second tick that soon.
   */
  receiptDelayMs?: number;
  /**
   * While messages keep arriving in a conversation, its receipts leave at most once per this many
   * ms (default 500): the senders' ticks then lag by up to this much, and the server, the network
   * and the device handle one receipt per interval instead of one per few messages.
   */
  receiptIntervalMs?: number;
  requestTimeoutMs?: number;
  clientName?: string;
  /**
   * The WebSocket class to connect with. Defaults to the runtime's global one (browsers, Bun,
   * Deno, Node 22+); on Node 20 pass the `ws` package's: `import WebSocket from "ws"`.
   */
  WebSocket?: WebSocketConstructor;
}

export interface ClientEvents extends Record<string, unknown> {
  connected: P.ConnectResult;
  disconnected: { code: number; reason: string; willReconnect: boolean };
  /** A message, in seq order per conversation, exactly once, including this device's own sends. */
  message: P.WireMessage;
  /** A member's markers moved: this user's own, or another's that raised this user's aggregates (ticks; docs/protocol.md §9.2). */
  receipt: P.ReceiptPush;
  presence: P.PresenceInfo;
  typing: P.TypingPush;
  conversation: P.ConversationPush;
  /** The backlog after a (re)connect has been delivered. */
  synced: undefined;
  /** A conversation's cursor could not be resumed: local state for it is stale, history starts at `from`. */
  reset: P.SyncConvState;
  /** This user's block list changed (on any of their devices): the whole list. */
  blocks: P.UserListResult;
  /** This user's privacy settings changed: all of them. */
  privacy: P.PrivacySettings;
  /** This user's contact list changed: the whole list. */
  contacts: P.UserListResult;
  /** An invitation to a group arrived, or was answered. */
  invitation: P.InvitationPush;
  /** Someone asked to join a group this user administers, or the request was answered. */
  joinRequest: P.JoinRequestPush;
  /** This user's settings of a conversation changed (on any of their devices). */
  chatSettings: P.ChatSettings;
  /** This user hid messages for themselves (delete for me, on any of their devices). */
  hidden: P.HiddenMessages;
  /** One of this user's devices has this many MLS KeyPackages left (end-to-end encryption, `@msgr/sdk/e2ee`). */
  keyPackages: P.KeyPackageCount;
}

/** What SEND may carry besides the body: see docs/protocol.md §5.4 and §7.6. */
export interface SendOptions {
  kind?: number;
  cid?: string;
  media?: string;
  /** Edit, Reaction: the message they apply to; any other kind: the message this one replies to. */
  ref?: number;
  /** Forwarding: the message (of a conversation this user belongs to) whose media this one carries. */
  forward?: { conv: string; seq: number };
}

export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
  get retryable(): boolean {
    return isRetryableError(this.code);
  }
}

interface Pending {
  /** Applies the reply's result to the client's state as the frame is read (see exchange()). */
  apply: ((result: unknown) => void) | undefined;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface OutboxEntry {
  params: P.SendParams;
  resolve: (r: P.SendResult) => void;
  reject: (e: Error) => void;
  inFlight: boolean;
  /** Transmitted at least once: later transmissions are marked `resend`. */
  sent: boolean;
}

const CONNECTION_LOST = -1;

export class Client extends Emitter<ClientEvents> {
  readonly opts: Required<Omit<ClientOptions, "cursors" | "clientName" | "WebSocket">> & Pick<ClientOptions, "clientName">;
  session: P.ConnectResult | null = null;
  private readonly WebSocketClass: WebSocketConstructor;
  private ws: WebSocketLike | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly outbox = new Map<string, OutboxEntry>();
  private readonly convCursors = new Map<string, ConversationCursor>();
  private readonly receipts: ReceiptBatcher;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  /** While the handshake waits for SYNC's reply and the presence watch: whether SYNC_DONE has come (null outside it). */
  private syncDoneEarly: boolean | null = null;
  private attempt = 0;
  private closedByUser = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly urls: string[];
  private urlIndex = 0;
  /** The users this device watches (watchPresence). A watch belongs to a connection: each new one subscribes again. */
  private watched: string[] = [];

  constructor(opts: ClientOptions) {
    super();
    const { WebSocket: wsClass, cursors, ...rest } = opts;
    this.WebSocketClass = resolveWebSocket(wsClass);
    this.opts = {
      reconnect: true,
      minBackoffMs: 200,
      maxBackoffMs: 10_000,
      autoAck: true,
      receiptDelayMs: 100,
      receiptIntervalMs: 500,
      requestTimeoutMs: 15_000,
      ...rest,
    };
    this.urls = Array.isArray(opts.url) ? opts.url : [opts.url];
    if (this.urls.length === 0) throw new Error("url: at least one server URL is required");
    for (const [conv, seq] of Object.entries(cursors ?? {})) this.convCursors.set(conv, new ConversationCursor(seq));
    this.receipts = new ReceiptBatcher({ delayMs: this.opts.receiptDelayMs, intervalMs: this.opts.receiptIntervalMs }, (conv, seq) =>
      this.session ? this.notify(Method.Receipt, { conv, type: ReceiptType.Delivered, seq }) : false,
    );
  }

  /** The URL of the node this client is connected to (or trying). */
  get url(): string {
    return this.urls[this.urlIndex % this.urls.length]!;
  }

  // ---- connection -------------------------------------------------------------------------

  /** Opens the connection, performs CONNECT and SYNC; resolves with the session once both are answered. */
  connect(): Promise<P.ConnectResult> {
    this.closedByUser = false;
    return this.open();
  }

  /** Closes for good (no reconnect). */
  close(): void {
    this.closedByUser = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ws?.close(1000, "client closed");
    this.teardown();
  }

  get connected(): boolean {
    return this.session !== null;
  }

  /** Cursors to persist and pass back as `cursors` on the next start. */
  cursors(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [conv, c] of this.convCursors) out[conv] = c.seq;
    return out;
  }

  private async open(): Promise<P.ConnectResult> {
    const token = typeof this.opts.token === "function" ? await this.opts.token() : this.opts.token;
    const ws = new this.WebSocketClass(this.url, [SUBPROTOCOL, BEARER_SUBPROTOCOL_PREFIX + token]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    return new Promise<P.ConnectResult>((resolve, reject) => {
      let settled = false;
      ws.onopen = () => {
        this.lastFrameAt = Date.now();
        this.handshake().then(
          (r) => {
            settled = true;
            resolve(r);
          },
          (e) => {
            settled = true;
            reject(e);
            ws.close(1000, "handshake failed");
          },
        );
      };
      ws.onmessage = (ev: { data: ArrayBuffer }) => this.onMessage(new Uint8Array(ev.data));
      ws.onclose = (ev: { code: number; reason: string }) => {
        if (this.ws !== ws) return;
        this.teardown();
        const willReconnect = this.opts.reconnect && !this.closedByUser && shouldReconnect(ev.code);
        this.emit("disconnected", { code: ev.code, reason: ev.reason, willReconnect });
        if (!settled) {
          settled = true;
          reject(new ProtocolError(CONNECTION_LOST, `connection closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`));
        }
        if (willReconnect) this.scheduleReconnect();
      };
      ws.onerror = () => {
        /* onclose follows with the code */
      };
    });
  }

  /**
   * CONNECT, SYNC and the presence watch, sent together: the server handles a connection's
   * frames in order and answers CONNECT before it reads the next one, so the others run as after
   * it (docs/protocol.md §4), and a connection is ready after one round trip instead of three. Each
   * reply takes effect as it is read (exchange()): the session before SYNC's plan, the plan
   * before its backlog, the watched users' state before any later presence push.
   */
  private async handshake(): Promise<P.ConnectResult> {
    // This client reads Batch envelopes (onMessage): several frames to a WebSocket message.
    const params: P.ConnectParams = this.opts.clientName ? { v: PROTOCOL_VERSION, client: this.opts.clientName, batch: true } : { v: PROTOCOL_VERSION, batch: true };
    const connecting = this.exchange(Method.Connect, params, (r) => (this.session = r as P.ConnectResult));
    this.syncDoneEarly = false;
    const syncing = this.exchange(Method.Sync, { cursors: this.cursors() }, (plan) => this.resumeFrom(plan as P.SyncResult));
    const watching = this.watched.length > 0 ? this.exchange(Method.PresenceSubscribe, { users: this.watched }, (r) => this.watchedNow(r as P.PresenceSubscribeResult)) : null;
    // When CONNECT fails, the others fail with it (NotConnected, or the connection's loss): its error is the handshake's.
    syncing.catch(() => {});
    watching?.catch(() => {});
    let session: P.ConnectResult;
    try {
      session = (await connecting) as P.ConnectResult;
      this.attempt = 0;
      this.heartbeat = setInterval(() => this.beat(), session.heartbeatMs);
      await syncing;
      if (watching) await this.watchSettled(watching);
      this.emit("connected", session);
      if (this.syncDoneEarly) this.emit("synced", undefined);
    } finally {
      this.syncDoneEarly = null;
    }
    // Receipts that were due when the last connection dropped.
    this.receipts.flush();
    for (const [, entry] of this.outbox) if (!entry.inFlight) this.transmit(entry);
    return session;
  }

  /** SYNC's plan: where each conversation's backlog, which follows it, begins. */
  private resumeFrom(plan: P.SyncResult): void {
    for (const c of plan.convs) {
      if (c.removed) {
        this.convCursors.delete(c.conv);
        continue;
      }
      // The server resumes each conversation at `from`: that is the cursor from now on (it is
      // past ours when we were added back to a group while away, or were reset).
      this.convCursors.set(c.conv, new ConversationCursor(c.from - 1));
      if (c.reset) this.emit("reset", c);
    }
  }

  /** The presence watch restored on a new connection: each watched user's state, as of its reply (the transitions in between were never pushed). */
  private watchedNow(r: P.PresenceSubscribeResult): void {
    for (const p of r.presence) this.emit("presence", p);
  }

  /**
   * The watch's answer, once CONNECT succeeded. A refusal the next connection would get too (the
   * watch exceeds a node's limit) forgets the watch rather than failing every handshake; any
   * other failure fails this one, and the reconnect tries again.
   */
  private async watchSettled(watching: Promise<unknown>): Promise<void> {
    try {
      await watching;
    } catch (e) {
      if (e instanceof ProtocolError && e.code !== CONNECTION_LOST && !e.retryable) {
        this.watched = [];
        return;
      }
      throw e;
    }
  }

  private beat(): void {
    const s = this.session;
    if (!s) return;
    if (Date.now() - this.lastFrameAt > s.heartbeatTimeoutMs) {
      // The server went silent: treat the connection as dead and reconnect.
      this.ws?.close(4001, "server heartbeat timeout");
      return;
    }
    this.request(Method.Ping, {}).catch(() => {});
  }

  private scheduleReconnect(): void {
    const { minBackoffMs, maxBackoffMs } = this.opts;
    const ceiling = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.attempt++);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    // The node may be gone: spread reconnects over the other nodes.
    this.urlIndex++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.open().catch(() => {
        /* onclose schedules the next attempt */
      });
    }, delay);
  }

  private teardown(): void {
    this.session = null;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError(CONNECTION_LOST, "connection lost"));
    }
    this.pending.clear();
    for (const [, e] of this.outbox) e.inFlight = false;
  }

  // ---- frames -----------------------------------------------------------------------------

  /** Sends a command and resolves with its result; rejects with ProtocolError. */
  request(method: MethodId, params: object): Promise<unknown> {
    return this.exchange(method, params, undefined);
  }

  /**
   * request(), with `apply` run on the result as soon as the reply is read. A promise's
   * continuation runs only after the rest of a Batch envelope: a reply whose result decides how
   * the frames behind it are read (SYNC's plan, then its backlog) must take effect here.
   */
  private exchange(method: MethodId, params: object, apply: ((result: unknown) => void) | undefined): Promise<unknown> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WS_OPEN) return Promise.reject(new ProtocolError(CONNECTION_LOST, "not connected"));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError(ErrorCode.Unavailable, "request timed out"));
      }, this.opts.requestTimeoutMs);
      this.pending.set(id, { apply, resolve, reject, timer });
      ws.send(encodeCommand(id, method, params));
    });
  }

  /** Sends a command that wants no reply on success (id 0); false when there is no open connection to send it on. */
  notify(method: MethodId, params: object): boolean {
    if (this.ws?.readyState !== WS_OPEN) return false;
    this.ws.send(encodeCommand(0, method, params));
    return true;
  }

  /** One WebSocket message: a frame, or a Batch envelope of several (CONNECT asked for them). */
  private onMessage(buf: Uint8Array): void {
    this.lastFrameAt = Date.now();
    if (!isBatch(buf)) return this.onFrame(buf);
    // An application handler that throws loses no other frame of the batch: the first error is
    // thrown once all are handled, where it would have come from its own message.
    let failed = false;
    let error: unknown;
    const bounds = frameBoundsOfBatch(buf);
    for (let i = 0; i < bounds.length; i += 2) {
      try {
        this.onFrame(buf, bounds[i], bounds[i + 1]);
      } catch (e) {
        if (!failed) (failed = true), (error = e);
      }
    }
    if (failed) throw error;
  }

  /** The frame in `buf` from `start` to `end` (all of it when they are left out). */
  private onFrame(buf: Uint8Array, start?: number, end?: number): void {
    const f = decodeServerFrame(buf, start, end);
    if (f.type === FrameType.Reply) {
      const p = this.pending.get(f.id);
      if (!p) return;
      this.pending.delete(f.id);
      clearTimeout(p.timer);
      if (f.code === ErrorCode.Ok) {
        // Settled first: `apply` may emit events, and a handler that throws must not leave the request hanging.
        p.resolve(f.body);
        p.apply?.(f.body);
      } else {
        const e = f.body as ErrorBody;
        p.reject(new ProtocolError(f.code, e.message, e.retryAfterMs));
      }
      return;
    }
    switch (f.kind) {
      case PushKind.Message:
        return this.received(f.body as P.WireMessage);
      case PushKind.Receipt:
        return this.emit("receipt", f.body as P.ReceiptPush);
      case PushKind.Presence:
        return this.emit("presence", f.body as P.PresenceInfo);
      case PushKind.Typing:
        return this.emit("typing", f.body as P.TypingPush);
      case PushKind.Conversation: {
        const c = f.body as P.ConversationPush;
        if (c.removed) this.convCursors.delete(c.conv.id);
        else if (!this.convCursors.has(c.conv.id)) {
          const me = c.conv.members.find((m) => m.user === this.session?.user);
          this.convCursors.set(c.conv.id, new ConversationCursor((me?.joined ?? 1) - 1));
        }
        return this.emit("conversation", c);
      }
      case PushKind.SyncDone:
        // "connected" comes first, though SYNC_DONE can come in the batch of SYNC's reply.
        if (this.syncDoneEarly === false) return void (this.syncDoneEarly = true);
        return this.emit("synced", undefined);
      case PushKind.Blocks:
        return this.emit("blocks", f.body as P.UserListResult);
      case PushKind.Privacy:
        return this.emit("privacy", f.body as P.PrivacySettings);
      case PushKind.Contacts:
        return this.emit("contacts", f.body as P.UserListResult);
      case PushKind.Invitation:
        return this.emit("invitation", f.body as P.InvitationPush);
      case PushKind.JoinRequest:
        return this.emit("joinRequest", f.body as P.JoinRequestPush);
      case PushKind.ChatSettings:
        return this.emit("chatSettings", f.body as P.ChatSettings);
      case PushKind.Hidden:
        return this.emit("hidden", f.body as P.HiddenMessages);
      case PushKind.KeyPackages:
        return this.emit("keyPackages", f.body as P.KeyPackageCount);
    }
  }

  /**
   * A message this device wrote with a command other than SEND (an MLS commit): the server pushes
   * no device its own writes, so it joins the conversation's order here, as a SEND's ack does.
   */
  acceptOwn(m: P.WireMessage): void {
    this.received(m);
  }

  private received(m: P.WireMessage): void {
    let c = this.convCursors.get(m.conv);
    if (!c) this.convCursors.set(m.conv, (c = new ConversationCursor(m.seq - 1)));
    const me = this.session?.user;
    // The usual case, the next message with none held back: released as it is.
    if (c.next(m)) {
      this.emit("message", m);
      if (this.opts.autoAck && m.from !== me) this.receipts.add(m.conv, m.seq);
      return;
    }
    const ready = c.accept(m);
    if (ready.length === 0) return;
    for (const x of ready) this.emit("message", x);
    if (this.opts.autoAck && ready.some((x) => x.from !== me)) this.receipts.add(m.conv, c.seq);
  }

  // ---- messaging ----------------------------------------------------------------------------

  /**
   * Sends a message. Resolves once the server has stored it durably. If the connection drops
   * first, the same client id is sent again after reconnecting, so it is stored once.
   */
  send(conv: string, body: Uint8Array | string, opts: SendOptions = {}): Promise<P.SendResult> {
    const params: P.SendParams = {
      conv,
      cid: opts.cid ?? crypto.randomUUID(),
      kind: opts.kind ?? (opts.media ? MessageKind.Media : MessageKind.Text),
      body: typeof body === "string" ? new TextEncoder().encode(body) : body,
    };
    if (opts.media) params.media = opts.media;
    if (opts.ref !== undefined) params.ref = opts.ref;
    if (opts.forward) params.forward = opts.forward;
    const known = this.outbox.get(params.cid);
    if (known) return new Promise((resolve, reject) => this.outbox.set(params.cid, { ...known, resolve, reject }));
    return new Promise((resolve, reject) => {
      const entry: OutboxEntry = { params, resolve, reject, inFlight: false, sent: false };
      this.outbox.set(params.cid, entry);
      if (this.session) this.transmit(entry);
    });
  }

  private transmit(entry: OutboxEntry): void {
    entry.inFlight = true;
    // The ack of an earlier transmission may have been lost after the message was stored.
    if (entry.sent) entry.params.resend = true;
    entry.sent = true;
    const { params } = entry;
    this.request(Method.Send, params).then(
      (r) => {
        const res = r as P.SendResult;
        this.outbox.delete(params.cid);
        // The sender's own message joins the conversation's order like any other.
        const own: P.WireMessage = { conv: params.conv, seq: res.seq, id: res.id, from: this.session?.user ?? "", dev: this.session?.device ?? "", cid: params.cid, kind: params.kind, body: params.body, ts: res.ts };
        const media = params.media ?? res.media;
        if (media) own.media = media;
        if (params.ref !== undefined) own.ref = params.ref;
        if (res.exp !== undefined) own.exp = res.exp;
        this.received(own);
        entry.resolve(res);
      },
      (e: ProtocolError) => {
        entry.inFlight = false;
        if (e.code === CONNECTION_LOST) return; // resent after reconnect
        if (e.retryable) {
          setTimeout(() => this.session && this.outbox.has(params.cid) && this.transmit(entry), e.retryAfterMs ?? 500);
          return;
        }
        this.outbox.delete(params.cid);
        entry.reject(e);
      },
    );
  }

  // ---- the message lifecycle (docs/protocol.md §7.6) ---------------------------------------------

  /** Replaces the body of one of this user's messages (within the server's edit window). */
  edit(conv: string, seq: number, body: Uint8Array | string): Promise<P.SendResult> {
    return this.send(conv, body, { kind: MessageKind.Edit, ref: seq });
  }

  /** Reacts to a message; this user's latest reaction to it replaces earlier ones, and "" removes it. */
  react(conv: string, seq: number, reaction: Uint8Array | string): Promise<P.SendResult> {
    return this.send(conv, reaction, { kind: MessageKind.Reaction, ref: seq });
  }

  /** Sends a message that replies to message `seq` of the same conversation. */
  reply(conv: string, seq: number, body: Uint8Array | string, opts: Omit<SendOptions, "ref" | "forward"> = {}): Promise<P.SendResult> {
    return this.send(conv, body, { ...opts, ref: seq });
  }

  /**
   * Forwards `message` (of a conversation this user belongs to) to conversation `to`; its media,
   * if any, is shared without an upload. The body is the original's unless another is given.
   */
  forward(message: P.WireMessage, to: string, body: Uint8Array | string = message.body): Promise<P.SendResult> {
    const kind = message.media ? MessageKind.Media : message.kind;
    return this.send(to, body, { kind, forward: { conv: message.conv, seq: message.seq } });
  }

  /** Deletes a message for everyone (its sender within the delete window, or a group admin); resolves with the seq of the MessageRemoved notice (0: it was gone already). */
  async deleteForEveryone(conv: string, seq: number): Promise<number> {
    return ((await this.request(Method.Delete, { conv, seq })) as P.MembershipResult).seq;
  }

  /** Hides messages on every device of this user (delete for me). */
  hide(conv: string, seqs: number[]): Promise<unknown> {
    return this.request(Method.Hide, { conv, seqs });
  }

  /** Sets the disappearing-message timer (seconds; 0 turns it off); resolves with the seq of the TimerChanged notice. */
  async setTimer(conv: string, seconds: number): Promise<number> {
    return ((await this.request(Method.TimerSet, { conv, timer: seconds })) as P.MembershipResult).seq;
  }

  /** This user's settings of every conversation that has any, and the messages they hid. */
  chatSettings(): Promise<P.SettingsListResult> {
    return this.request(Method.SettingsList, {}) as Promise<P.SettingsListResult>;
  }

  /** Changes this user's settings of one conversation (mute until, archive, pin, unread); resolves with all of them. */
  setChatSettings(conv: string, changes: Omit<P.SettingsSetParams, "conv">): Promise<P.ChatSettings> {
    return this.request(Method.SettingsSet, { ...changes, conv }) as Promise<P.ChatSettings>;
  }

  /** Marks everything up to `seq` as read (and delivered). */
  markRead(conv: string, seq: number): Promise<unknown> {
    return this.request(Method.Receipt, { conv, type: ReceiptType.Read, seq });
  }

  markDelivered(conv: string, seq: number): Promise<unknown> {
    return this.request(Method.Receipt, { conv, type: ReceiptType.Delivered, seq });
  }

  typing(conv: string, on: boolean): void {
    this.notify(Method.Typing, { conv, on });
  }

  history(conv: string, before?: number, limit?: number): Promise<P.HistoryResult> {
    const params: P.HistoryParams = { conv };
    if (before !== undefined) params.before = before;
    if (limit !== undefined) params.limit = limit;
    return this.request(Method.History, params) as Promise<P.HistoryResult>;
  }

  /**
   * Replaces the set of users whose presence this device watches; returns their current presence.
   * The watch lasts across reconnects: each new connection subscribes again and emits `presence`
   * for every watched user.
   */
  async watchPresence(users: string[]): Promise<P.PresenceInfo[]> {
    const { presence } = (await this.request(Method.PresenceSubscribe, { users })) as P.PresenceSubscribeResult;
    this.watched = [...users];
    return presence;
  }

  async conversations(): Promise<P.ConvInfo[]> {
    return ((await this.request(Method.ConvList, {})) as { convs: P.ConvInfo[] }).convs;
  }

  conversation(conv: string): Promise<P.ConvInfo> {
    return this.request(Method.ConvGet, { conv }) as Promise<P.ConvInfo>;
  }

  openDirect(user: string): Promise<P.ConvInfo> {
    return this.request(Method.DirectOpen, { user }) as Promise<P.ConvInfo>;
  }

  /** Members whose settings do not let this user add them are invited instead (`invited`). */
  createGroup(title: string, members: string[]): Promise<P.GroupCreateResult> {
    return this.request(Method.GroupCreate, { title, members }) as Promise<P.GroupCreateResult>;
  }

  renameGroup(conv: string, title: string): Promise<P.MembershipResult> {
    return this.request(Method.GroupRename, { conv, title }) as Promise<P.MembershipResult>;
  }

  /** Users whose settings do not let this user add them are invited instead (`invited`). */
  addMembers(conv: string, users: string[]): Promise<P.GroupAddResult> {
    return this.request(Method.GroupAdd, { conv, users }) as Promise<P.GroupAddResult>;
  }

  removeMember(conv: string, user: string): Promise<P.MembershipResult> {
    return this.request(Method.GroupRemove, { conv, user }) as Promise<P.MembershipResult>;
  }

  setAdmin(conv: string, user: string, admin: boolean): Promise<P.MembershipResult> {
    return this.request(Method.GroupSetAdmin, { conv, user, admin }) as Promise<P.MembershipResult>;
  }

  /**
   * Uploads a file straight to the server's object store and returns its media id; send it with
   * `send(conv, caption, { kind: MessageKind.Media, media })`.
   */
  async uploadMedia(data: Uint8Array, contentType: string): Promise<string> {
    const bytes = ownBuffer(data);
    const sha256 = await sha256Hex(bytes);
    const slot = (await this.request(Method.MediaUpload, { contentType, size: bytes.length, sha256 })) as P.MediaUploadResult;
    const form = new FormData();
    for (const [k, v] of Object.entries(slot.upload.fields)) form.append(k, v);
    form.append("file", new Blob([bytes], { type: contentType }), "upload");
    const res = await fetch(slot.upload.url, { method: "POST", body: form });
    if (!res.ok) throw new ProtocolError(ErrorCode.Conflict, `upload refused by the store (${res.status}): ${(await res.text()).slice(0, 200)}`);
    return slot.media;
  }

  /** A short-lived download URL for media of a conversation this user belongs to. */
  mediaUrl(media: string): Promise<P.MediaUrlResult> {
    return this.request(Method.MediaUrl, { media }) as Promise<P.MediaUrlResult>;
  }

  /** Registers this device's Web Push subscription (from PushManager.subscribe()). */
  subscribePush(sub: P.PushSubscribeParams): Promise<unknown> {
    return this.request(Method.PushSubscribe, sub);
  }

  /** Registers this device's APNs or FCM token; resolves with the endpoint to unsubscribe it with. */
  async registerPush(params: P.PushRegisterParams): Promise<string> {
    return ((await this.request(Method.PushRegister, params)) as P.PushRegisterResult).endpoint;
  }

  unsubscribePush(endpoint: string): Promise<unknown> {
    return this.request(Method.PushUnsubscribe, { endpoint });
  }

  async devices(): Promise<P.DeviceInfo[]> {
    return ((await this.request(Method.DeviceList, {})) as { devices: P.DeviceInfo[] }).devices;
  }

  revokeDevice(device: string): Promise<unknown> {
    return this.request(Method.DeviceRevoke, { device });
  }

  // ---- safety -------------------------------------------------------------------------------

  /** Blocks a user: no direct messages, group additions, presence or typing between the two. */
  block(user: string): Promise<unknown> {
    return this.request(Method.Block, { user });
  }

  unblock(user: string): Promise<unknown> {
    return this.request(Method.Unblock, { user });
  }

  async blocked(): Promise<string[]> {
    return ((await this.request(Method.BlockList, {})) as P.UserListResult).users;
  }

  privacy(): Promise<P.PrivacySettings> {
    return this.request(Method.PrivacyGet, {}) as Promise<P.PrivacySettings>;
  }

  /** Changes the settings given; resolves with all of them. */
  setPrivacy(changes: P.PrivacySetParams): Promise<P.PrivacySettings> {
    return this.request(Method.PrivacySet, changes) as Promise<P.PrivacySettings>;
  }

  async contacts(): Promise<string[]> {
    return ((await this.request(Method.ContactList, {})) as P.UserListResult).users;
  }

  addContacts(users: string[]): Promise<unknown> {
    return this.request(Method.ContactAdd, { users });
  }

  removeContacts(users: string[]): Promise<unknown> {
    return this.request(Method.ContactRemove, { users });
  }

  async invitations(): Promise<P.Invitation[]> {
    return ((await this.request(Method.InvitationList, {})) as { invitations: P.Invitation[] }).invitations;
  }

  acceptInvitation(conv: string): Promise<P.MembershipResult> {
    return this.request(Method.InvitationAccept, { conv }) as Promise<P.MembershipResult>;
  }

  declineInvitation(conv: string): Promise<unknown> {
    return this.request(Method.InvitationDecline, { conv });
  }

  /** An invite link to a group this user administers; `approval`: each join waits for an admin. */
  createInviteLink(conv: string, approval = false): Promise<P.InviteLink> {
    return this.request(Method.LinkCreate, { conv, approval }) as Promise<P.InviteLink>;
  }

  async inviteLinks(conv: string): Promise<P.InviteLink[]> {
    return ((await this.request(Method.LinkList, { conv })) as { links: P.InviteLink[] }).links;
  }

  revokeInviteLink(conv: string, token: string): Promise<unknown> {
    return this.request(Method.LinkRevoke, { conv, token });
  }

  joinByLink(token: string): Promise<P.LinkJoinResult> {
    return this.request(Method.LinkJoin, { token }) as Promise<P.LinkJoinResult>;
  }

  async joinRequests(conv: string): Promise<P.JoinRequest[]> {
    return ((await this.request(Method.JoinRequestList, { conv })) as { requests: P.JoinRequest[] }).requests;
  }

  answerJoinRequest(conv: string, user: string, approve: boolean): Promise<P.MembershipResult> {
    return this.request(Method.JoinRequestAnswer, { conv, user, approve }) as Promise<P.MembershipResult>;
  }

  /** Reports a user, or a message (conv + seq), with the reporter's own copies of messages if given. */
  async report(params: P.ReportParams): Promise<number> {
    return ((await this.request(Method.Report, params)) as P.ReportResult).id;
  }
}

/** Web APIs (Blob, crypto.subtle) take views of a plain ArrayBuffer: copy only a shared one. */
function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
