// What each msgr role may publish and subscribe to on NATS, and the nats-server configuration
// that enforces it. NATS checks every publish and subscription against the permissions of the
// user (nkey) that made the connection: a process holding the worker's key cannot publish a
// bus event, one holding the edge's key cannot acknowledge or delete the workers' consumer, and
// a process with no key cannot connect at all. Everything not listed is denied.
//
// To give a role a new subject (a new bus subject in src/bus/subjects.ts, a KV bucket for
// leases, a new JetStream API call), add its prefix to that role's list below; the test in
// test/cluster-security/nats-permissions.test.ts fails while a subject msgr uses is not
// listed. Then regenerate the server's accounts file (`msgr nats-auth`) and reload nats-server
// (`nats-server --signal reload`).

import { LogLayout } from "../storage/jetstream/layout.ts";

export type NatsRole = "edge" | "worker";

export interface RolePermissions {
  /** Subjects (with NATS wildcards) the role may publish to. */
  publish: string[];
  /** Subjects the role may subscribe to. */
  subscribe: string[];
  /**
   * Whether the role answers requests: it may then publish `max` replies on the reply subject of
   * each request it received, for `expiresMs` after it arrived, and on no other inbox. NATS
   * grants this per request (`allow_responses`; `resp` in a user JWT), so a role that answers
   * still cannot forge a reply to a request it never got.
   */
  responses: { max: number; expiresMs: number } | null;
}

/**
 * An edge answers the other edges' requests for the shards it owns (forwarded appends, reads,
 * rewrites; shard-rpc.ts), once each. Its answer to an append follows a group commit, which the
 * requester waits for up to `jetstream.publishTimeoutMs` (5 s by default): a minute is well past
 * that, and a reply later than the requester's wait is dropped by the requester anyway.
 */
const OWNER_REPLIES = { max: 1, expiresMs: 60_000 };

/**
 * What names the message log's JetStream API subjects carry: its streams and lease bucket (from
 * `jetstream.stream` and `jetstream.shards`, src/storage/jetstream/layout.ts) and the workers'
 * consumer. A stream name is one subject token, so each shard's stream is listed by name.
 */
export interface LogNames {
  stream: string;
  shards: number;
  consumer: string;
}

/** Replies to requests (JetStream API calls, publish acks, pull deliveries) come back on inboxes. */
const INBOX = "_INBOX.>";

/** The bus (src/bus/subjects.ts): events between edges. Only edges publish or listen here. */
const BUS = [
  "msgr.user.>", // membership changes and revocations for every actor of a user
  "msgr.conv.>", // messages, receipts and typing of a conversation
  "msgr.presence.>", // online/offline transitions
  "msgr.access", // revoked devices and banned users: every node closes their connections
  "msgr.safety", // blocks, contacts, privacy settings and removed messages: every node drops its caches
  "msgr.e2ee", // MLS commits and revoked devices: every node drops its cached group facts
  "msgr.health.>", // readiness probes: an edge's event to itself through the bus (src/health/readiness.ts)
];

export function natsPermissions({ stream, shards, consumer }: LogNames): Record<NatsRole, RolePermissions> {
  const layout = new LogLayout(stream, shards);
  const streams = layout.all.map((shard) => layout.stream(shard));
  const bucket = layout.leaseBucket;
  // Reads are granted on every stream of the account, and the workers' consumer by its name on
  // every stream: the MSGR account holds msgr's log and nothing else, and listing each shard's
  // stream for each read would make a user's permissions too long for the CONNECT line of a
  // credentials (JWT) login (nats-server's max_control_line, 4 KiB). What creates or changes a
  // stream is still granted by name.
  const reads = ["$JS.API.STREAM.INFO.*", "$JS.API.DIRECT.GET.>", "$JS.API.STREAM.MSG.GET.*"];
  // Opening the log (MessageLog.open), which both roles do at start: check the JetStream API,
  // open the lease bucket (create its stream, write the layout record), and create each shard's
  // stream or bring its settings in line with the config.
  const openLog = [
    "$JS.API.INFO",
    ...reads,
    `$JS.API.STREAM.CREATE.KV_${bucket}`,
    `$KV.${bucket}.>`,
    ...streams.flatMap((s) => [`$JS.API.STREAM.CREATE.${s}`, `$JS.API.STREAM.UPDATE.${s}`]),
  ];
  // Where a shard's owner takes appends and reads from the other edges (shard-rpc.ts).
  const owners = `msgr.logowner.${stream}.>`;
  return {
    edge: {
      publish: [
        ...BUS,
        ...openLog,
        // Group-committed appends to the shards this edge owns.
        `msgr.log.${stream}.>`,
        owners,
        // The workers' ack floor: an owner taking a shard over replays what they have not stored.
        `$JS.API.CONSUMER.INFO.*.${consumer}`,
      ],
      subscribe: [...BUS, owners, INBOX],
      responses: OWNER_REPLIES,
    },
    worker: {
      publish: [
        ...openLog,
        // Its durable consumer on each shard only: look it up, create or update it (both API
        // forms), pull from it.
        `$JS.API.CONSUMER.INFO.*.${consumer}`,
        `$JS.API.CONSUMER.CREATE.*.${consumer}`,
        `$JS.API.CONSUMER.CREATE.*.${consumer}.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.*.${consumer}`,
        `$JS.API.CONSUMER.MSG.NEXT.*.${consumer}`,
        // Acknowledgements (ack, term, in progress) of the entries it was given.
        `$JS.ACK.*.${consumer}.>`,
      ],
      subscribe: [INBOX],
      responses: null,
    },
  };
}

/** Whether NATS subject `subject` matches `pattern` (`*` one token, `>` one or more at the end). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

export interface NatsUser {
  role: NatsRole;
  /** The nkey's public key (U...). */
  nkey: string;
}

const list = (subjects: string[]) => subjects.map((s) => `      "${s}"`).join("\n");

const responses = (r: RolePermissions["responses"]) => (r ? `  allow_responses: { max: ${r.max}, expires: "${r.expiresMs}ms" }\n` : "");

/**
 * The nats-server configuration block (for `include`) with one account, MSGR, holding msgr's
 * stream and its users, each with its role's permissions. One account keeps msgr's subjects
 * apart from anything else the servers carry; the users are its only way in.
 */
export function natsAccountsConf(names: LogNames, users: NatsUser[]): string {
  const perms = natsPermissions(names);
  const block = (role: NatsRole) => `${role.toUpperCase()}_PERMISSIONS = {
  publish: {
    allow: [
${list(perms[role].publish)}
    ]
  }
  subscribe: {
    allow: [
${list(perms[role].subscribe)}
    ]
  }
${responses(perms[role].responses)}}
`;
  return `# msgr's NATS account and users, generated by \`msgr nats-auth\` (src/connect/nats-permissions.ts).
# Include it from every server's config (include "msgr-accounts.conf"). A connection must present
# one of these nkeys; each may publish and subscribe only where its role needs to.
# Streams ${names.stream}-0 .. ${names.stream}-${names.shards - 1}, worker consumer ${names.consumer}.

${block("edge")}
${block("worker")}
accounts {
  MSGR {
    jetstream: enabled
    users: [
${users.map((u) => `      { nkey: "${u.nkey}", permissions: $${u.role.toUpperCase()}_PERMISSIONS }`).join("\n")}
    ]
  }
}
`;
}
