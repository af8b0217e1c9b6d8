// The bus over core NATS, for clusters: every edge process is one NATS client. Core NATS is
// at-most-once: an event published while a connection is down is lost (nats.js discards its
// outbound buffer when it redials). That is acceptable because every event that matters is
// already in the store before it is published; onRecovered tells the node to catch its devices
// up from there, and a device that was not caught up resumes from its cursor.
//
// One NATS subscription per subject per process, whatever the number of local listeners, so a
// group message crosses the network once per process that has members connected.

import { connect, Events, type Msg, type NatsConnection, type NatsError, type Subscription } from "nats";
import type { Logger } from "pino";
import type { NatsClientOptions } from "../connect/nats.ts";
import { pack, unpack } from "../proto/codec.ts";
import type { Bus, BusListener, Unsubscribe } from "./bus.ts";
import type { BusEvent } from "./events.ts";

interface Topic {
  /** In subscription order; a listener subscribed twice is here twice. */
  listeners: BusListener[];
  sub: Subscription;
}

/** How long close() waits for the drain before it closes the connection anyway (NATS may be down). */
const DRAIN_TIMEOUT_MS = 5_000;
/** How long ready() waits for the server's answer before giving up (NATS may be down). */
const READY_TIMEOUT_MS = 3_000;

// A Record, so that adding an event type to BusEvent without listing it here fails to compile.
const EVENT_TYPES: Record<BusEvent["t"], true> = {
  msg: true,
  receipt: true,
  typing: true,
  conv: true,
  revoke: true,
  device: true,
  presence: true,
  safety: true,
  removed: true,
  ban: true,
  notice: true,
  unban: true,
  e2ee: true,
};

export class NatsBus implements Bus {
  readonly distributed = true;
  private readonly topics = new Map<string, Topic>();
  private readonly recoveredHandlers = new Set<() => void>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly drainTimeoutMs: number,
  ) {
    void this.watchStatus();
    void nc.closed().then((err) => {
      if (err && !this.closing) log.error({ err }, "NATS connection closed for good; the bus no longer routes");
    });
  }

  /** `drainTimeoutMs`: how long close() waits for the drain (DRAIN_TIMEOUT_MS unless given). */
  static async connect(opts: NatsClientOptions & { log: Logger; drainTimeoutMs?: number }): Promise<NatsBus> {
    const log = opts.log.child({ component: "nats-bus" });
    const nc = await connect({
      servers: opts.servers,
      // Credentials and TLS (src/connect/nats.ts): what this process may publish is the server's call.
      authenticator: opts.authenticator,
      tls: opts.tls,
      // Shows up in the server's monitoring (connz), so an operator can tell the edge processes apart.
      name: opts.name,
      // An edge process is useless without its bus and nothing else restarts the connection: never give up.
      maxReconnectAttempts: -1,
      // Routing is down while disconnected, so come back fast; the jitter spreads the reconnects of
      // every edge process after a NATS server restart so they do not arrive in one burst.
      reconnectTimeWait: 500,
      reconnectJitter: 500,
      // Wait for NATS at startup instead of failing, so edges and NATS can start in any order.
      waitOnFirstConnect: true,
      // The default (2 minutes x 2 missed pings) leaves a half-open connection undetected for
      // minutes while events vanish; notice a dead server within about 30 s.
      pingInterval: 10_000,
      maxPingOut: 2,
      // noEcho stays off: listeners in this process must see the events this process publishes.
    });
    log.info({ server: nc.getServer() }, "NATS connected");
    return new NatsBus(nc, log, opts.drainTimeoutMs ?? DRAIN_TIMEOUT_MS);
  }

  publish(subject: string, event: BusEvent): void {
    try {
      this.nc.publish(subject, pack(event));
    } catch (err) {
      // Closed, draining or over max_payload. Messages, receipts and membership are stored before
      // they are published, so receivers catch up from the store; typing and presence are transient.
      this.log.warn({ err, subject, t: event.t }, "bus publish failed");
    }
  }

  subscribe(subject: string, listener: BusListener): void {
    const topic = this.topics.get(subject);
    if (topic) {
      topic.listeners.push(listener);
      return;
    }
    const listeners = [listener];
    const sub = this.nc.subscribe(subject, { callback: (err, msg) => this.dispatch(subject, listeners, err, msg) });
    this.topics.set(subject, { listeners, sub });
  }

  unsubscribe(subject: string, listener: BusListener): void {
    const t = this.topics.get(subject);
    if (!t) return;
    const i = t.listeners.indexOf(listener);
    if (i < 0) return;
    t.listeners.splice(i, 1);
    if (t.listeners.length > 0) return;
    t.sub.unsubscribe();
    this.topics.delete(subject);
  }

  ready(): Promise<void> {
    // The server answers the flush's PING after every SUB and PUB sent before it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flushed = this.nc.flush().catch((err: unknown) => this.log.warn({ err }, "NATS flush failed"));
    const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, READY_TIMEOUT_MS)));
    return Promise.race([flushed, gaveUp]).finally(() => clearTimeout(timer));
  }

  onRecovered(handler: () => void): Unsubscribe {
    const entry = () => handler();
    this.recoveredHandlers.add(entry);
    return () => {
      this.recoveredHandlers.delete(entry);
    };
  }

  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    // Drain delivers what is already in flight to the listeners, then closes. It needs the server,
    // so while NATS is down it would wait forever: bound it.
    const drained = this.nc.drain().catch((err: unknown) => this.log.warn({ err }, "NATS drain failed"));
    await Promise.race([drained, Bun.sleep(this.drainTimeoutMs)]);
    if (!this.nc.isClosed()) await this.nc.close();
    this.topics.clear();
    this.recoveredHandlers.clear();
  }

  /** Runs in NATS's read loop, one message at a time, so listeners see a subject's events in arrival order. */
  private dispatch(subject: string, listeners: BusListener[], err: NatsError | null, msg: Msg): void {
    if (err) {
      this.log.error({ err, subject }, "NATS subscription failed");
      return;
    }
    let event: unknown;
    try {
      // Copy first: msg.data is a view of the socket's read buffer and msgpackr returns binary
      // fields as views of its input, so a message body kept in memory would pin that whole buffer.
      event = unpack(msg.data.slice());
    } catch (err) {
      this.log.warn({ err, subject, bytes: msg.data.length }, "dropped an undecodable bus payload");
      return;
    }
    if (!isBusEvent(event)) {
      this.log.warn({ subject, bytes: msg.data.length }, "dropped a bus payload that is not an event");
      return;
    }
    if (listeners.length === 1) return this.deliver(listeners[0]!, subject, event);
    // A copy: a listener may subscribe or unsubscribe itself or others meanwhile.
    for (const l of listeners.slice()) this.deliver(l, subject, event);
  }

  private deliver(listener: BusListener, subject: string, event: BusEvent): void {
    try {
      listener.onEvent(event);
    } catch (err) {
      this.log.error({ err, subject, t: event.t }, "bus listener failed");
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case Events.Disconnect:
          this.log.warn({ server: s.data }, "NATS disconnected; cluster routing is down until it reconnects");
          break;
        case Events.Reconnect:
          this.log.info({ server: s.data }, "NATS reconnected; catching up from the store");
          for (const h of this.recoveredHandlers) {
            try {
              h();
            } catch (err) {
              this.log.error({ err }, "bus recovery handler failed");
            }
          }
          break;
        case Events.LDM:
          this.log.warn({ server: s.data }, "NATS server entering lame duck mode; the client will move to another server");
          break;
        case Events.Error:
          this.log.error({ data: s.data }, "NATS async error");
          break;
      }
    }
  }
}

/** Only our own nodes publish on these subjects, so a shape check is enough to reject garbage. */
function isBusEvent(v: unknown): v is BusEvent {
  if (typeof v !== "object" || v === null) return false;
  const t = (v as { t?: unknown }).t;
  return typeof t === "string" && Object.hasOwn(EVENT_TYPES, t);
}
