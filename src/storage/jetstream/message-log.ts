// The message log: one JetStream stream per shard, each holding envelopes of chat messages. A
// publish ack from it is the durability point of a send in cluster mode (file storage,
// `sync_interval: always`, R3 in production). This module is the JetStream mechanics only:
// fenced envelope publishes, the stream's last sequence, walking envelopes, the workers' ack floor
// and the lease bucket. Ownership and sequencing live in shard-owner.ts and shard-router.ts.

import {
  connect,
  DiscardPolicy,
  Events,
  JSONCodec,
  nanos,
  RequestStrategy,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type NatsConnection,
  type NatsError,
  type StoredMsg,
  type StreamConfig,
} from "nats";
import type { Logger } from "pino";
import type { Config } from "../../config/config.ts";
import type { NatsClientOptions } from "../../connect/nats.ts";
import { decodeEnvelope, encodeEnvelope, envelopeId, type Envelope } from "./envelope.ts";
import { LogLayout } from "./layout.ts";

export type PublishOutcome =
  | { kind: "stored"; logSeq: number }
  /** The stream's last sequence was not the one expected: another writer appended, or an earlier publish of ours failed. Nothing was stored. */
  | { kind: "refused" };

/** The `jetstream` settings (documented in src/config/config.ts), how to reach NATS (src/connect/nats.ts), and the workers' consumer. */
export type MessageLogOptions = Config["jetstream"] &
  NatsClientOptions & {
    /** The write-behind workers' durable consumer (`worker.consumer`): what it acknowledged is in the history store. */
    consumer: string;
    log: Logger;
  };

/** Replies of one batched direct get stop at this many bytes (envelopes are at most a few hundred KiB). */
const WALK_MAX_BYTES = 4 * 1024 * 1024;
const WALK_BATCH = 256;
const json = JSONCodec();

// JetStream API error codes (nats-server server/errors.json).
const WRONG_LAST_SEQUENCE = 10071;
const WRONG_LAST_MSG_ID = 10070;
const NO_MESSAGE_FOUND = 10037;
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

/** Direct gets (any replica answers). nats.js has them on the manager but leaves them out of its type. */
interface DirectGets {
  getMessage(stream: string, query: { seq: number }): Promise<StoredMsg>;
}

function apiErrorCode(err: unknown): number | undefined {
  return (err as NatsError | undefined)?.api_error?.err_code;
}

function isNotFound(err: unknown): boolean {
  const e = err as NatsError | undefined;
  return apiErrorCode(err) === NO_MESSAGE_FOUND || e?.code === "404" || /no message found/i.test(e?.message ?? "");
}

export class LayoutMismatchError extends Error {}

/**
 * What the server refuses asynchronously (a publish or reply its permissions deny, a slow
 * consumer) reaches only the connection's status stream; without this, a refused reply to another
 * edge shows only as that edge's request timing out.
 */
async function logAsyncErrors(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const s of nc.status()) if (s.type === Events.Error) log.error({ data: s.data }, "NATS async error on the message log's connection");
}

export class MessageLog {
  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly direct: DirectGets,
    readonly layout: LogLayout,
    /** Shard leases (shard-lease.ts). */
    readonly leases: KV,
    readonly consumer: string,
    readonly publishTimeoutMs: number,
  ) {}

  static async open(opts: MessageLogOptions): Promise<MessageLog> {
    const nc = await connect({
      servers: opts.servers,
      name: opts.name,
      authenticator: opts.authenticator,
      tls: opts.tls,
      // Keep trying through a server restart: publishes fail meanwhile, owners re-read their
      // shard once it is back, and clients resend with the same client id.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    void logAsyncErrors(nc, opts.log);
    try {
      const jsm = await nc.jetstreamManager();
      const js = nc.jetstream();
      const layout = new LogLayout(opts.stream, opts.shards);
      const leases = await js.views.kv(layout.leaseBucket, { history: 1, replicas: opts.replicas, storage: StorageType.File });
      await checkLayout(leases, opts.shards);
      await Promise.all(layout.all.map((shard) => ensureStream(jsm, layout, shard, opts)));
      opts.log.info({ stream: opts.stream, shards: opts.shards, replicas: opts.replicas }, "message log ready");
      return new MessageLog(nc, js, jsm, (jsm as unknown as { direct: DirectGets }).direct, layout, leases, opts.consumer, opts.publishTimeoutMs);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /**
   * Appends an envelope to a shard's stream, fenced: the stream refuses it unless its last
   * sequence is still `expect.lastSeq` and, when given, its last envelope is `expect.lastId`.
   * Publishes pipeline: the envelope after this one may be sent before this one is acknowledged,
   * expecting this one's sequence and id. The id check is what makes that safe: if this one is
   * refused and another writer's envelope takes its place, the next one must be refused too,
   * and only the id tells the two apart. Throws when the outcome is unknown (timeout, connection lost).
   */
  async publish(shard: number, envelope: Envelope, expect: { lastSeq: number; lastId?: string }): Promise<PublishOutcome> {
    try {
      const ack = await this.js.publish(this.layout.subject(shard), encodeEnvelope(envelope), {
        msgID: envelopeId(envelope),
        expect: expect.lastId ? { lastSequence: expect.lastSeq, lastMsgID: expect.lastId } : { lastSequence: expect.lastSeq },
        timeout: this.publishTimeoutMs,
      });
      // Ids are unique per writer, epoch and counter, and no envelope is ever published twice.
      if (ack.duplicate) throw new Error(`envelope ${envelopeId(envelope)} was already in ${this.layout.stream(shard)}`);
      return { kind: "stored", logSeq: ack.seq };
    } catch (err) {
      const code = apiErrorCode(err);
      if (code === WRONG_LAST_SEQUENCE || code === WRONG_LAST_MSG_ID) return { kind: "refused" };
      throw err;
    }
  }

  /** The shard stream's first and last sequences (last is 0 when it never held anything; first > last when everything aged out). */
  async bounds(shard: number): Promise<{ first: number; last: number }> {
    const { state } = await this.jsm.streams.info(this.layout.stream(shard));
    return { first: state.first_seq, last: state.last_seq };
  }

  /** The envelope at stream sequence `logSeq`, or null when the log no longer holds it. */
  async get(shard: number, logSeq: number): Promise<Envelope | null> {
    try {
      return decodeEnvelope((await this.direct.getMessage(this.layout.stream(shard), { seq: logSeq })).data);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** The highest stream sequence the workers acknowledged: every envelope up to it is in the history store. 0 when there is no worker consumer yet. */
  async ackFloor(shard: number): Promise<number> {
    try {
      return (await this.jsm.consumers.info(this.layout.stream(shard), this.consumer)).ack_floor.stream_seq;
    } catch (err) {
      if (apiErrorCode(err) === CONSUMER_NOT_FOUND || (err as NatsError).code === "404") return 0;
      throw err;
    }
  }

  /**
   * The shard's envelopes from stream sequence `fromLogSeq` on, oldest first, while `more`
   * returns true. Reads up to 256 envelopes (at most 4 MiB) per round trip with batched direct
   * gets (nats-server 2.11+): the server streams them and ends with an EOB status saying how
   * many are left.
   */
  async walk(shard: number, fromLogSeq: number, more: (envelope: Envelope, logSeq: number) => boolean): Promise<void> {
    const stream = this.layout.stream(shard);
    const request = { seq: Math.max(1, fromLogSeq), next_by_subj: this.layout.subject(shard), batch: WALK_BATCH, max_bytes: WALK_MAX_BYTES };
    for (;;) {
      const replies = await this.nc.requestMany(`$JS.API.DIRECT.GET.${stream}`, json.encode(request), {
        strategy: RequestStrategy.SentinelMsg,
        maxWait: this.publishTimeoutMs,
      });
      let stopped = false;
      let end: { pending: number } | undefined;
      for await (const m of replies) {
        if (m.data.length === 0) {
          // The sentinel: 204 EOB after a batch, 404 when nothing (more) matches.
          const code = m.headers?.code ?? 0;
          if (code !== 204 && code !== 404) throw new Error(`direct get from ${stream}: ${code} ${m.headers?.description ?? ""}`);
          end = { pending: code === 204 ? Number(m.headers?.get("Nats-Num-Pending") || 0) : 0 };
          break;
        }
        // After `more` said stop, the rest of the batch is read and dropped (the reply stream ends with its sentinel).
        if (stopped) continue;
        const logSeq = Number(m.headers?.get("Nats-Sequence"));
        request.seq = logSeq + 1;
        if (!more(decodeEnvelope(m.data), logSeq)) stopped = true;
      }
      // No sentinel within maxWait: the server did not answer; a partial walk must not pass for a whole one.
      if (!end) throw new Error(`direct get from ${stream}: no complete answer within ${this.publishTimeoutMs} ms`);
      if (stopped || end.pending === 0) return;
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}

const LAYOUT_KEY = "layout";

/** The shard count is fixed when the log is created: a conversation's shard must never change. */
async function checkLayout(leases: KV, shards: number): Promise<void> {
  const mine = JSON.stringify({ shards });
  try {
    await leases.create(LAYOUT_KEY, new TextEncoder().encode(mine));
    return;
  } catch (err) {
    if (apiErrorCode(err) !== WRONG_LAST_SEQUENCE) throw err;
  }
  const existing = await leases.get(LAYOUT_KEY);
  const recorded = existing ? (JSON.parse(existing.string()) as { shards: number }).shards : undefined;
  if (recorded !== shards) throw new LayoutMismatchError(`jetstream.shards is ${shards} but the message log was created with ${recorded} shards; a conversation's shard cannot change, so set it back`);
}

/** Creates a shard's stream, or brings an existing one's settings in line with the config. */
async function ensureStream(jsm: JetStreamManager, layout: LogLayout, shard: number, opts: Pick<MessageLogOptions, "replicas" | "maxAgeSeconds" | "log">): Promise<void> {
  const name = layout.stream(shard);
  const config: Partial<StreamConfig> = {
    name,
    subjects: [layout.subject(shard)],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // Age is the only limit: the log must keep every envelope for maxAge, whatever the volume.
    discard: DiscardPolicy.Old,
    max_age: nanos(opts.maxAgeSeconds * 1000),
    num_replicas: opts.replicas,
    // Reads of the unflushed tail (history, resume) use direct gets, served by any replica.
    allow_direct: true,
  };
  try {
    const cur = (await jsm.streams.info(name)).config;
    if (cur.max_age !== config.max_age || cur.num_replicas !== config.num_replicas || !cur.allow_direct) {
      await jsm.streams.update(name, { ...cur, ...config });
      opts.log.info({ stream: name }, "message log settings updated");
    }
  } catch (err) {
    if (apiErrorCode(err) !== STREAM_NOT_FOUND) throw err;
    await jsm.streams.add(config);
  }
}
