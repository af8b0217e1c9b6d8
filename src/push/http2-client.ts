// A small HTTP/2 client for the mobile push services. APNs accepts only HTTP/2 and asks providers
// to keep their connections open rather than connect per push (it treats rapid reconnects as a
// denial of service), so each origin gets one long-lived session that carries every request as a
// stream, and is opened again when the service closes it (GOAWAY, idle timeout, network error).
// fetch is not used: under Bun it speaks HTTP/1.1 only.

import { connect, constants, type ClientHttp2Session } from "node:http2";

export interface Http2Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface Http2RequestInit {
  method: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** Deadline for the whole exchange, connecting included. */
  timeoutMs: number;
}

export class Http2Client {
  private readonly sessions = new Map<string, ClientHttp2Session>();
  /** Why a session failed, for the requests it took down. */
  private readonly failures = new WeakMap<ClientHttp2Session, string>();
  private closed = false;

  /** `ca`: extra trusted certificates (PEM); none: the system's. */
  constructor(private readonly opts: { ca?: string } = {}) {}

  request(url: string, init: Http2RequestInit): Promise<Http2Response> {
    if (this.closed) return Promise.reject(new Error("HTTP/2 client closed"));
    const target = new URL(url);
    const session = this.session(target.origin);
    return new Promise((resolve, reject) => {
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: init.method,
        [constants.HTTP2_HEADER_PATH]: target.pathname + target.search,
        ...init.headers,
      });
      const timer = setTimeout(() => {
        stream.close(constants.NGHTTP2_CANCEL);
        reject(new Error(`no answer from ${target.origin} within ${init.timeoutMs} ms`));
      }, init.timeoutMs);
      let status = 0;
      let headers: Http2Response["headers"] = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        status = Number(h[constants.HTTP2_HEADER_STATUS]);
        headers = h;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        clearTimeout(timer);
        // A stream cut by a failed connection (refused, TLS) ends without a response.
        if (!status) reject(new Error(`${target.origin}: ${this.failures.get(session) ?? "no response"}`));
        else resolve({ status, headers, body: Buffer.concat(chunks).toString("utf8") });
      });
      stream.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.end(init.body);
    });
  }

  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }

  private session(origin: string): ClientHttp2Session {
    const existing = this.sessions.get(origin);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const session = connect(origin, this.opts.ca ? { ca: this.opts.ca } : {});
    const forget = () => {
      if (this.sessions.get(origin) === session) this.sessions.delete(origin);
    };
    // A session the service ends is replaced on the next request; requests in flight on it fail
    // (and are retried by the notifier).
    session.on("goaway", forget);
    session.on("close", forget);
    session.on("error", (err: Error) => {
      this.failures.set(session, err.message);
      forget();
    });
    // An idle connection must not keep the process alive.
    session.unref();
    this.sessions.set(origin, session);
    return session;
  }
}
