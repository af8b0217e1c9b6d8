// The message log: a JetStream stream with one subject per conversation. A publish ack from it is
// the durability point of a send in cluster mode (file storage, `sync_interval: always`, R3 in
// production). This module is the JetStream mechanics only: fenced publishes, the last entry of
// a conversation, walking a conversation's entries. Sequencing policy lives in message-store.ts.

import {
  connect,
  headers,
  DiscardPolicy,
  JSONCodec,
  RequestStrategy,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type NatsError,
  type StoredMsg,
  type StreamConfig,
} from "nats";
import type { Logger } from "pino";
import type { Config } from "../../config/config.ts";
import type { NatsClientOptions } from "../../connect/nats.ts";
import { subjects } from "../../bus/subjects.ts";
import { pack, unpack } from "../../proto/codec.ts";
import type { StoredMessage } from "../types.ts";

/** A message as the log holds it, with its place in the stream. */
export interface LogEntry {
  message: StoredMessage;
  /** Stream sequence: the fence for the next publish to the conversation, and the resume point of a walk. */
  logSeq: number;
}

type PublishOutcome =
  | { kind: "stored"; logSeq: number }
  /** The client id was published within the duplicate window: the log holds `original` instead. */
  | { kind: "duplicate"; original: LogEntry }
  /** Another writer appended to the conversation since `expectLogSeq`: re-read the tail and retry. */
  | { kind: "conflict" };

/** The `jetstream` settings (documented in src/config/config.ts), and how to reach NATS (src/connect/nats.ts). */
export type MessageLogOptions = Config["jetstream"] & NatsClientOptions & { log: Logger };

/** Entries per batched direct get while walking a conversation. */
const WALK_BATCH = 256;
const json = JSONCodec();

// JetStream API error codes (nats-server server/errors.json).
const WRONG_LAST_SEQUENCE = 10071;
const NO_MESSAGE_FOUND = 10037;
const STREAM_NOT_FOUND = 10059;

/** Entries are the stored message in the protocol's MessagePack form: the worker decodes them, nothing else. */
function encodeEntry(message: StoredMessage): Uint8Array {
  return pack(message);
}

export function decodeEntry(data: Uint8Array): StoredMessage {
  const m = unpack(data) as StoredMessage;
  if (m.media === undefined) delete m.media;
  return m;
}

/**
 * A disappearing message's entry leaves the log this long after the message expired (nats-server
 * 2.11+ per-message TTL). Reads hide it from its expiry on; the margin lets the write-behind
 * worker record the conversation's last seq (sender_last) before the entry that holds it goes.
 */
export const EXPIRED_ENTRY_GRACE_SEC = 600;

/** The Nats-TTL header of a disappearing message's entry; undefined for the others (the stream's max age applies). */
function entryTtl(message: StoredMessage): string | undefined {
  if (message.exp === undefined) return undefined;
  return `${Math.max(1, Math.ceil((message.exp - Date.now()) / 1000) + EXPIRED_ENTRY_GRACE_SEC)}s`;
}

/** The Nats-Msg-Id of a message: its client id, made unique across senders and conversations. */
function logMsgId(message: Pick<StoredMessage, "conv" | "from" | "cid">): string {
  return JSON.stringify([message.conv, message.from, message.cid]);
}

/** Direct gets (any replica answers). nats.js has them on the manager but leaves them out of its type. */
interface DirectGets {
  getMessage(stream: string, query: { seq: number } | { last_by_subj: string }): Promise<StoredMsg>;
}

function apiErrorCode(err: unknown): number | undefined {
  return (err as NatsError | undefined)?.api_error?.err_code;
}

function isNotFound(err: unknown): boolean {
  const e = err as NatsError | undefined;
  return apiErrorCode(err) === NO_MESSAGE_FOUND || e?.code === "404" || /no message found/i.test(e?.message ?? "");
}

export class MessageLog {
  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly direct: DirectGets,
    readonly stream: string,
    private readonly publishTimeoutMs: number,
  ) {}

  static async open(opts: MessageLogOptions): Promise<MessageLog> {
    const nc = await connect({
      servers: opts.servers,
      name: opts.name,
      authenticator: opts.authenticator,
      tls: opts.tls,
      // Keep trying through a server restart: publishes fail fast meanwhile (timeouts), and the
      // client resends with the same client id.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm, opts);
    opts.log.info({ stream: opts.stream, replicas: opts.replicas }, "message log ready");
    return new MessageLog(nc, nc.jetstream(), (jsm as unknown as { direct: DirectGets }).direct, opts.stream, opts.publishTimeoutMs);
  }

  /**
   * Appends `message` to its conversation's subject, fenced: the stream refuses it unless the
   * subject's last entry is still `expectLogSeq` (0: the subject has no entries). A non-empty
   * client id doubles as the Nats-Msg-Id, so a resend within the duplicate window is not stored twice.
   */
  async publish(message: StoredMessage, expectLogSeq: number): Promise<PublishOutcome> {
    const subject = subjects.log(message.conv);
    const ttl = entryTtl(message);
    let hdrs;
    if (ttl) (hdrs = headers()).set("Nats-TTL", ttl);
    try {
      const ack = await this.js.publish(subject, encodeEntry(message), {
        msgID: message.cid ? logMsgId(message) : undefined,
        expect: { lastSubjectSequence: expectLogSeq },
        timeout: this.publishTimeoutMs,
        headers: hdrs,
      });
      if (ack.duplicate) return { kind: "duplicate", original: await this.get(ack.seq) };
      return { kind: "stored", logSeq: ack.seq };
    } catch (err) {
      if (apiErrorCode(err) === WRONG_LAST_SEQUENCE) return { kind: "conflict" };
      throw err;
    }
  }

  /** The entry at stream sequence `logSeq`. */
  async get(logSeq: number): Promise<LogEntry> {
    return toEntry(await this.direct.getMessage(this.stream, { seq: logSeq }));
  }

  /** The conversation's newest entry, or null when the log holds none (never written, or aged out). */
  async last(conv: string): Promise<LogEntry | null> {
    try {
      return toEntry(await this.direct.getMessage(this.stream, { last_by_subj: subjects.log(conv) }));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * The conversation's entries from stream sequence `fromLogSeq` on, oldest first, while `more`
   * returns true. Reads `batch` entries per round trip with batched direct gets (nats-server
   * 2.11+): the server streams the matching entries and ends with an EOB status saying how many
   * more match.
   */
  async walk(conv: string, fromLogSeq: number, more: (entry: LogEntry) => boolean, batch = WALK_BATCH): Promise<void> {
    const request = { seq: Math.max(1, fromLogSeq), next_by_subj: subjects.log(conv), batch };
    for (;;) {
      const replies = await this.nc.requestMany(`$JS.API.DIRECT.GET.${this.stream}`, json.encode(request), {
        strategy: RequestStrategy.SentinelMsg,
        maxWait: this.publishTimeoutMs,
      });
      let stopped = false;
      let end: { pending: number } | undefined;
      for await (const m of replies) {
        if (m.data.length === 0) {
          // The sentinel: 204 EOB after a batch, 404 when nothing (more) matches.
          const code = m.headers?.code ?? 0;
          if (code !== 204 && code !== 404) throw new Error(`direct get from ${this.stream}: ${code} ${m.headers?.description ?? ""}`);
          end = { pending: code === 204 ? Number(m.headers?.get("Nats-Num-Pending") || 0) : 0 };
          break;
        }
        // After `more` said stop, the rest of the batch is read and dropped (the reply stream ends with its sentinel).
        if (stopped) continue;
        const logSeq = Number(m.headers?.get("Nats-Sequence"));
        request.seq = logSeq + 1;
        if (!more({ message: decodeEntry(m.data), logSeq })) stopped = true;
      }
      // No sentinel within maxWait: the server did not answer; a partial walk must not pass for a whole one.
      if (!end) throw new Error(`direct get from ${this.stream}: no complete answer within ${this.publishTimeoutMs} ms`);
      if (stopped || end.pending === 0) return;
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}

function toEntry(m: StoredMsg): LogEntry {
  return { message: decodeEntry(m.data), logSeq: m.seq };
}

/** Creates the stream, or brings an existing one's settings in line with the config. */
async function ensureStream(jsm: JetStreamManager, opts: Pick<MessageLogOptions, "stream" | "replicas" | "maxAgeSeconds" | "duplicateWindowSeconds" | "log">): Promise<void> {
  const config: Partial<StreamConfig> = {
    name: opts.stream,
    subjects: [subjects.logAll],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // Age is the only limit: the log must keep every message for maxAge, whatever the volume.
    discard: DiscardPolicy.Old,
    max_age: nanos(opts.maxAgeSeconds * 1000),
    duplicate_window: nanos(opts.duplicateWindowSeconds * 1000),
    num_replicas: opts.replicas,
    // Reads of the unflushed tail (history, resume) use direct gets, served by any replica.
    allow_direct: true,
    // Disappearing messages carry a Nats-TTL header (nats-server 2.11+); not in nats.js's types yet.
    ...({ allow_msg_ttl: true } as Partial<StreamConfig>),
  };
  try {
    const info = await jsm.streams.info(opts.stream);
    const cur = info.config;
    const ttlAllowed = (cur as { allow_msg_ttl?: boolean }).allow_msg_ttl === true;
    if (cur.max_age !== config.max_age || cur.duplicate_window !== config.duplicate_window || cur.num_replicas !== config.num_replicas || !cur.allow_direct || !ttlAllowed) {
      await jsm.streams.update(opts.stream, { ...cur, ...config });
      opts.log.info({ stream: opts.stream }, "message log settings updated");
    }
  } catch (err) {
    if (apiErrorCode(err) !== STREAM_NOT_FOUND) throw err;
    await jsm.streams.add(config);
  }
}
