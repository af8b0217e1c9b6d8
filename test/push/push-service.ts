// A real push service for tests: a Bun HTTP server on loopback that records what it receives and
// answers with a status of the test's choosing, plus a browser-side subscription (a P-256 key pair
// and an auth secret) able to decrypt what the server pushed, per RFC 8291 and RFC 8188.

import { createDecipheriv, createECDH, createHmac, randomBytes, type ECDH } from "node:crypto";
import type { PushSubscriptionRecord } from "../../src/storage/types.ts";

export interface ReceivedPush {
  path: string;
  headers: Headers;
  body: Buffer;
}

export interface PushService {
  /** The origin to allowlist, e.g. "http://127.0.0.1:41234". */
  origin: string;
  received: ReceivedPush[];
  /** Status answered to a request for `path` (default 201). */
  statusFor: Map<string, number>;
  /** Statuses answered to the next requests for `path`, one each, before statusFor applies. */
  script: Map<string, number[]>;
  /** Retry-After header answered for `path`. */
  retryAfterFor: Map<string, string>;
  /** Resolves when the service has received `n` pushes in total. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  stop(): void;
}

export function startPushService(): PushService {
  const received: ReceivedPush[] = [];
  const statusFor = new Map<string, number>();
  const retryAfterFor = new Map<string, string>();
  const script = new Map<string, number[]>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      received.push({ path, headers: req.headers, body: Buffer.from(await req.arrayBuffer()) });
      for (const w of waiters.filter((w) => received.length >= w.n)) w.resolve();
      const status = script.get(path)?.shift() ?? statusFor.get(path) ?? 201;
      const headers: Record<string, string> = {};
      if (status >= 300 && status < 400) headers.location = `/redirected${path}`;
      const retryAfter = retryAfterFor.get(path);
      if (retryAfter) headers["retry-after"] = retryAfter;
      return new Response(null, { status, headers });
    },
  });
  return {
    origin: `http://127.0.0.1:${server.port}`,
    received,
    statusFor,
    retryAfterFor,
    script,
    waitFor(n, timeoutMs = 5000) {
      if (received.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`push service got ${received.length} pushes, waited for ${n}`)), timeoutMs);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    stop: () => void server.stop(true),
  };
}

/** The browser's side of a subscription: what it registers, and what it needs to decrypt. */
export interface Subscriber {
  record: PushSubscriptionRecord;
  ecdh: ECDH;
  authSecret: Buffer;
}

/** A subscriber whose endpoint is `<origin>/push/<user>/<device>`. */
export function makeSubscriber(origin: string, user: string, device: string): Subscriber {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const authSecret = randomBytes(16);
  return {
    ecdh,
    authSecret,
    record: {
      user,
      device,
      endpoint: `${origin}/push/${user}/${device}`,
      p256dh: ecdh.getPublicKey().toString("base64url"),
      auth: authSecret.toString("base64url"),
      createdAt: Date.now(),
    },
  };
}

/** Decrypts an aes128gcm push body (RFC 8188) whose keys were derived per RFC 8291. */
export function decryptPush(sub: Subscriber, body: Buffer): string {
  // Header: salt (16) | record size (4) | key id length (1) | key id = the server's ephemeral public key.
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idLen = body[20]!;
  const asPublic = body.subarray(21, 21 + idLen);
  const ciphertext = body.subarray(21 + idLen);
  if (ciphertext.length > rs) throw new Error("more than one record; the tests send short payloads");

  const uaPublic = sub.ecdh.getPublicKey();
  const shared = sub.ecdh.computeSecret(asPublic);
  // RFC 8291 §3.3: IKM = HKDF(salt = auth secret, secret = ECDH, info = "WebPush: info\0" || ua_public || as_public).
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), uaPublic, asPublic]);
  const ikm = hkdf(sub.authSecret, shared, keyInfo, 32);
  // RFC 8188 §2.2 and §2.3: content encryption key and nonce from the record's salt.
  const cek = hkdf(salt, ikm, Buffer.from("Content-Encoding: aes128gcm\0"), 16);
  const nonce = hkdf(salt, ikm, Buffer.from("Content-Encoding: nonce\0"), 12);

  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const plain = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last (here: only) record ends with the delimiter 0x02, then zero or more 0x00 of padding.
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (plain[end] !== 0x02) throw new Error("no last-record delimiter");
  return plain.subarray(0, end).toString("utf8");
}

/** HKDF-SHA-256 (RFC 5869) for outputs of at most one hash length, which is all RFC 8291 needs. */
function hkdf(salt: Buffer, ikm: Buffer, info: Buffer, length: number): Buffer {
  const prk = createHmac("sha256", salt).update(ikm).digest();
  return createHmac("sha256", prk).update(Buffer.concat([info, Buffer.from([1])])).digest().subarray(0, length);
}
