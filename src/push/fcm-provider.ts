// Firebase Cloud Messaging, HTTP v1 API. The server authenticates as a Google service account:
// it signs a JWT (RS256) with the account's key, exchanges it at the account's token_uri for an
// OAuth access token (RFC 7523), and uses that token until shortly before it expires.
//
// The message is data-only: no `notification` block, so FCM shows nothing by itself and learns
// no text; the app builds the notification (its own wording) from `type`, `tag` and `count`.

import { importPKCS8, SignJWT, type CryptoKey } from "jose";
import type { PushSubscriptionRecord } from "../storage/types.ts";
import type { Http2Client } from "./http2-client.ts";
import { pushTag, serviceOf } from "./mobile-token.ts";
import { retryAfterMs, type PushNotification, type PushOutcome, type PushProvider } from "./provider.ts";

/** The fields of a service account's JSON key that FCM needs. */
export interface ServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri: string;
}

export interface FcmOptions {
  account: ServiceAccount;
  /** The account's private key (see loadServiceAccount). */
  key: CryptoKey;
  /** https://fcm.googleapis.com */
  url: string;
  http: Http2Client;
  timeoutMs: number;
  now?: () => number;
}

const SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
/** An access token is renewed this long before Google says it expires. */
const EXPIRY_MARGIN_MS = 60_000;

/** Parses a service account JSON key; throws naming what is missing. */
export async function loadServiceAccount(json: string, where: string): Promise<{ account: ServiceAccount; key: CryptoKey }> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(json) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${where}: not JSON (${(err as Error).message})`);
  }
  for (const field of ["project_id", "client_email", "private_key", "token_uri"]) {
    if (typeof doc[field] !== "string" || !doc[field]) throw new Error(`${where}: ${field} missing (expected a service account key file)`);
  }
  const account = doc as unknown as ServiceAccount;
  return { account, key: await importPKCS8(account.private_key, "RS256") };
}

export class FcmProvider implements PushProvider {
  /** The current access token, shared by concurrent sends so one expiry costs one exchange. */
  private access: { value: Promise<string>; until: number } | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: FcmOptions) {
    this.now = opts.now ?? Date.now;
  }

  async send(sub: PushSubscriptionRecord, n: PushNotification): Promise<PushOutcome> {
    const { token } = serviceOf(sub.endpoint);
    let bearer: string;
    try {
      bearer = await this.accessToken();
    } catch (err) {
      return { kind: "retry", error: `FCM token exchange failed: ${(err as Error).message}` };
    }
    const tag = pushTag(n.payload.conv);
    const message = {
      token,
      // Data values must be strings.
      data: { type: n.payload.type, tag, count: String(n.payload.count) },
      android: {
        // HIGH wakes a dozing device, which a chat message warrants.
        priority: n.urgency === "high" || n.urgency === "normal" ? "HIGH" : "NORMAL",
        ttl: `${n.ttlSec}s`,
        collapse_key: tag,
      },
    };
    let res;
    try {
      res = await this.opts.http.request(`${this.opts.url}/v1/projects/${encodeURIComponent(this.opts.account.project_id)}/messages:send`, {
        method: "POST",
        headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
        body: JSON.stringify({ message }),
        timeoutMs: this.opts.timeoutMs,
      });
    } catch (err) {
      return { kind: "retry", error: `FCM request failed: ${(err as Error).message}` };
    }
    const retryAfter = res.headers["retry-after"];
    return this.outcomeOf(res.status, res.body, typeof retryAfter === "string" ? retryAfter : undefined);
  }

  close(): void {
    this.opts.http.close();
  }

  /**
   * UNREGISTERED (404), and INVALID_ARGUMENT naming the token, are how FCM says a token is dead
   * (Firebase: "manage registration tokens"). Any other INVALID_ARGUMENT would be our message's
   * fault, and SENDER_ID_MISMATCH (403) a token of another project or our wrong account: the
   * operator's to fix, so nothing is deleted.
   */
  private outcomeOf(status: number, body: string, retryAfter: string | undefined): PushOutcome {
    if (status === 200) return { kind: "sent" };
    const err = parseError(body);
    const error = `FCM answered ${status}${err.code ? ` ${err.code}` : ""}${err.message ? `: ${err.message}` : ""}`;
    if (status === 404 || err.code === "UNREGISTERED") return { kind: "gone" };
    if (status === 400 && err.fields.includes("message.token")) return { kind: "gone" };
    if (status === 401) {
      this.access = undefined;
      return { kind: "retry", error };
    }
    if (status === 429 || status >= 500) return { kind: "retry", error, retryAfterMs: retryAfterMs(retryAfter, this.now()) };
    return { kind: "failed", error };
  }

  private accessToken(): Promise<string> {
    const now = this.now();
    if (this.access && this.access.until > now) return this.access.value;
    const exchanged = this.exchange(now);
    // Valid until the exchange says otherwise; a failed exchange is not cached, so the next push tries again.
    const entry = { value: exchanged.then((r) => r.token), until: Number.POSITIVE_INFINITY };
    this.access = entry;
    exchanged.then(
      (r) => void (entry.until = now + r.expiresInSec * 1000 - EXPIRY_MARGIN_MS),
      () => void (this.access === entry && (this.access = undefined)),
    );
    return entry.value;
  }

  private async exchange(now: number): Promise<{ token: string; expiresInSec: number }> {
    const { account } = this.opts;
    const iat = Math.floor(now / 1000);
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader(account.private_key_id ? { alg: "RS256", typ: "JWT", kid: account.private_key_id } : { alg: "RS256", typ: "JWT" })
      .setIssuer(account.client_email)
      .setAudience(account.token_uri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(this.opts.key);
    const res = await this.opts.http.request(account.token_uri, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString(),
      timeoutMs: this.opts.timeoutMs,
    });
    if (res.status !== 200) throw new Error(`${account.token_uri} answered ${res.status}: ${res.body.slice(0, 200)}`);
    const doc = JSON.parse(res.body) as { access_token?: unknown; expires_in?: unknown };
    if (typeof doc.access_token !== "string" || typeof doc.expires_in !== "number") throw new Error(`${account.token_uri}: no access_token/expires_in in the answer`);
    return { token: doc.access_token, expiresInSec: doc.expires_in };
  }
}

function parseError(body: string): { code: string; message: string; fields: string[] } {
  try {
    const e = (JSON.parse(body) as { error?: { status?: unknown; message?: unknown; details?: unknown[] } }).error ?? {};
    let code = typeof e.status === "string" ? e.status : "";
    const fields: string[] = [];
    for (const d of Array.isArray(e.details) ? e.details : []) {
      const detail = d as { errorCode?: unknown; fieldViolations?: { field?: unknown }[] };
      // The FcmError detail is more precise than the status (UNREGISTERED under NOT_FOUND).
      if (typeof detail.errorCode === "string") code = detail.errorCode;
      for (const v of detail.fieldViolations ?? []) if (typeof v.field === "string") fields.push(v.field);
    }
    return { code, message: typeof e.message === "string" ? e.message : "", fields };
  } catch {
    return { code: "", message: "", fields: [] };
  }
}
