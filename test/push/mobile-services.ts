// Stand-ins for APNs and FCM: real HTTP/2 servers over TLS on loopback (node:http2, a self-signed
// certificate) that check each request the way the real services do (form, headers, JWT
// signatures and claims, the OAuth exchange), record what they received, and answer what the test
// scripted.

import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createSecureServer, type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { selfSignedCert } from "../helpers/tls.ts";

export interface Answer {
  status: number;
  /** APNs: the JSON body's `reason`. */
  reason?: string;
  /** FCM: the JSON error body. */
  body?: unknown;
  retryAfter?: string;
}

interface Served {
  server: Http2SecureServer;
  origin: string;
  /** HTTP/2 connections opened so far. */
  connections(): number;
  stop(): Promise<void>;
}

async function serveHttp2(handle: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: string, alpn: string) => Promise<void>): Promise<Served> {
  const { key, cert } = selfSignedCert();
  // HTTP/2 only, as APNs: a client speaking HTTP/1.1 fails the TLS handshake (no ALPN match).
  const server = createSecureServer({ key, cert, allowHTTP1: false });
  let connections = 0;
  server.on("session", () => connections++);
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const alpn = (stream.session as unknown as { alpnProtocol?: string }).alpnProtocol ?? "";
      handle(stream, headers, Buffer.concat(chunks).toString("utf8"), alpn).catch((err: Error) => {
        if (!stream.closed) {
          stream.respond({ ":status": 500 });
          stream.end(String(err.message));
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    server,
    origin: `https://127.0.0.1:${port}`,
    connections: () => connections,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function reply(stream: ServerHttp2Stream, status: number, body?: unknown, extra: Record<string, string> = {}): void {
  stream.respond({ ":status": status, ...(body === undefined ? {} : { "content-type": "application/json" }), ...extra });
  stream.end(body === undefined ? undefined : JSON.stringify(body));
}

// ---- APNs ---------------------------------------------------------------------------------------

export interface ApnsRequest {
  token: string;
  headers: IncomingHttpHeaders;
  body: { aps: Record<string, unknown>; [k: string]: unknown };
  alpn: string;
  /** The provider token's header and claims, when its signature checked out. */
  jwt: { header: Record<string, unknown>; claims: Record<string, unknown>; raw: string };
}

export interface FakeApns {
  url: string;
  /** The CA to trust (the self-signed certificate). */
  ca: string;
  keyPem: string;
  keyId: string;
  teamId: string;
  topic: string;
  /** Requests that passed authentication and form checks. */
  requests: ApnsRequest[];
  /** Every request's refusal, when it was refused for its form or authentication. */
  refusals: string[];
  /** Answers for the next requests to a token, one each; then 200. */
  script: Map<string, Answer[]>;
  connections(): number;
  stop(): Promise<void>;
}

export async function startFakeApns(): Promise<FakeApns> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const fake = {
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    keyId: "ABC123DEFG",
    teamId: "TEAM456789",
    topic: "com.example.msgr",
    requests: [] as ApnsRequest[],
    refusals: [] as string[],
    script: new Map<string, Answer[]>(),
  };
  const served = await serveHttp2(async (stream, headers, body, alpn) => {
    const refuse = (status: number, reason: string) => {
      fake.refusals.push(reason);
      reply(stream, status, { reason });
    };
    const path = String(headers[":path"]);
    const m = /^\/3\/device\/([0-9a-f]+)$/.exec(path);
    if (headers[":method"] !== "POST" || !m) return refuse(405, "MethodNotAllowed");
    const auth = String(headers.authorization ?? "");
    if (!auth.startsWith("bearer ")) return refuse(403, "MissingProviderToken");
    const raw = auth.slice(7);
    let jwt: ApnsRequest["jwt"];
    try {
      const header = decodeProtectedHeader(raw) as Record<string, unknown>;
      if (header.alg !== "ES256" || header.kid !== fake.keyId) throw new Error(`header ${JSON.stringify(header)}`);
      const { payload } = await jwtVerify(raw, publicKey as KeyObject, { algorithms: ["ES256"], issuer: fake.teamId });
      if (typeof payload.iat !== "number" || Math.abs(payload.iat - Date.now() / 1000) > 3600) throw new Error("iat not within the hour");
      jwt = { header, claims: payload as Record<string, unknown>, raw };
    } catch (err) {
      return refuse(403, `InvalidProviderToken: ${(err as Error).message}`);
    }
    if (headers["apns-topic"] !== fake.topic) return refuse(400, "BadTopic");
    if (!["alert", "background"].includes(String(headers["apns-push-type"]))) return refuse(400, "InvalidPushType");
    if (!/^\d+$/.test(String(headers["apns-expiration"] ?? ""))) return refuse(400, "BadExpirationDate");
    if (Buffer.byteLength(String(headers["apns-collapse-id"] ?? "")) > 64) return refuse(400, "BadCollapseId");
    let parsed: ApnsRequest["body"];
    try {
      parsed = JSON.parse(body);
      if (typeof parsed.aps !== "object") throw new Error();
    } catch {
      return refuse(400, "PayloadEmpty");
    }
    const token = m[1]!;
    fake.requests.push({ token, headers, body: parsed, alpn, jwt });
    const answer = fake.script.get(token)?.shift();
    if (!answer) return reply(stream, 200, undefined, { "apns-id": crypto.randomUUID() });
    reply(stream, answer.status, answer.reason ? { reason: answer.reason } : undefined);
  });
  return { ...fake, url: served.origin, ca: selfSignedCert().cert, connections: served.connections, stop: served.stop };
}

// ---- FCM ----------------------------------------------------------------------------------------

export interface FcmExchange {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  form: URLSearchParams;
  contentType: string;
}

export interface FcmSend {
  path: string;
  headers: IncomingHttpHeaders;
  body: { message: { token: string; data?: Record<string, string>; notification?: unknown; android?: Record<string, unknown> } };
  alpn: string;
}

export interface FakeFcm {
  url: string;
  ca: string;
  /** A service account JSON key whose token_uri is this fake. */
  serviceAccount: string;
  projectId: string;
  clientEmail: string;
  exchanges: FcmExchange[];
  sends: FcmSend[];
  refusals: string[];
  script: Map<string, Answer[]>;
  /** Lifetime of the access tokens issued from now on, in seconds. */
  expiresIn: number;
  /** Forgets every access token issued so far: the next send with one gets 401. */
  revokeAccessTokens(): void;
  stop(): Promise<void>;
}

export async function startFakeFcm(): Promise<FakeFcm> {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const issued = new Set<string>();
  let next = 0;
  const fake = {
    projectId: "msgr-test-project",
    clientEmail: "push@msgr-test-project.iam.gserviceaccount.com",
    exchanges: [] as FcmExchange[],
    sends: [] as FcmSend[],
    refusals: [] as string[],
    script: new Map<string, Answer[]>(),
    expiresIn: 3599,
    revokeAccessTokens: () => issued.clear(),
  };
  let tokenUri = "";
  const served = await serveHttp2(async (stream, headers, body, alpn) => {
    const refuse = (status: number, why: string, statusName: string) => {
      fake.refusals.push(why);
      reply(stream, status, { error: { code: status, message: why, status: statusName } });
    };
    const path = String(headers[":path"]);
    if (path === "/token") {
      const contentType = String(headers["content-type"] ?? "");
      if (headers[":method"] !== "POST" || contentType !== "application/x-www-form-urlencoded") return refuse(400, "token: not a form POST", "invalid_request");
      const form = new URLSearchParams(body);
      if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return refuse(400, "token: grant_type", "unsupported_grant_type");
      const assertion = form.get("assertion") ?? "";
      try {
        const header = decodeProtectedHeader(assertion) as Record<string, unknown>;
        const { payload } = await jwtVerify(assertion, publicKey as KeyObject, { algorithms: ["RS256"], issuer: fake.clientEmail, audience: tokenUri });
        if (payload.scope !== "https://www.googleapis.com/auth/firebase.messaging") throw new Error(`scope ${String(payload.scope)}`);
        if (typeof payload.iat !== "number" || typeof payload.exp !== "number" || payload.exp - payload.iat > 3600) throw new Error("exp more than an hour after iat");
        fake.exchanges.push({ header, claims: payload as Record<string, unknown>, form, contentType });
      } catch (err) {
        return refuse(400, `token: invalid_grant ${(err as Error).message}`, "invalid_grant");
      }
      const access = `ya29.fake-${++next}`;
      issued.add(access);
      return reply(stream, 200, { access_token: access, expires_in: fake.expiresIn, token_type: "Bearer" });
    }
    if (path !== `/v1/projects/${fake.projectId}/messages:send` || headers[":method"] !== "POST") return refuse(404, `no route ${path}`, "NOT_FOUND");
    const bearer = /^Bearer (.+)$/.exec(String(headers.authorization ?? ""))?.[1];
    if (!bearer || !issued.has(bearer)) return refuse(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED");
    let parsed: FcmSend["body"];
    try {
      parsed = JSON.parse(body);
      if (typeof parsed.message?.token !== "string") throw new Error();
    } catch {
      return refuse(400, "message.token missing", "INVALID_ARGUMENT");
    }
    fake.sends.push({ path, headers, body: parsed, alpn });
    const answer = fake.script.get(parsed.message.token)?.shift();
    if (!answer) return reply(stream, 200, { name: `projects/${fake.projectId}/messages/${fake.sends.length}` });
    reply(stream, answer.status, answer.body, answer.retryAfter ? { "retry-after": answer.retryAfter } : {});
  });
  tokenUri = `${served.origin}/token`;
  const serviceAccount = JSON.stringify({
    type: "service_account",
    project_id: fake.projectId,
    private_key_id: "k1",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    client_email: fake.clientEmail,
    token_uri: tokenUri,
  });
  return Object.assign(fake, { url: served.origin, ca: selfSignedCert().cert, serviceAccount, stop: served.stop });
}

/** FCM's error bodies, as the v1 API sends them. */
export const fcmErrors = {
  unregistered: { error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND", details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "UNREGISTERED" }] } },
  invalidToken: {
    error: {
      code: 400,
      message: "The registration token is not a valid FCM registration token",
      status: "INVALID_ARGUMENT",
      details: [
        { "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "INVALID_ARGUMENT" },
        { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "message.token", description: "Invalid registration token" }] },
      ],
    },
  },
  invalidPayload: {
    error: {
      code: 400,
      message: "Invalid value at 'message.android.ttl'",
      status: "INVALID_ARGUMENT",
      details: [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "message.android.ttl", description: "Invalid value" }] }],
    },
  },
  senderMismatch: { error: { code: 403, message: "SenderId mismatch", status: "PERMISSION_DENIED", details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "SENDER_ID_MISMATCH" }] } },
  quota: { error: { code: 429, message: "Quota exceeded", status: "RESOURCE_EXHAUSTED", details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "QUOTA_EXCEEDED" }] } },
  unavailable: { error: { code: 503, message: "The service is currently unavailable.", status: "UNAVAILABLE", details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "UNAVAILABLE" }] } },
};
