// A target is a server under test: msgr or one of its peers. The orchestrator starts it (one or
// more instances, each its own process on its own loopback address) and hands the generators a
// TargetAccess, which is all they need to speak to it.

/** Which adapter a generator uses: the two bare routers share one wire format. */
export type Protocol = "msgr" | "bare" | "socketio" | "centrifugo";

export interface TargetAccess {
  name: string;
  protocol: Protocol;
  /** One WebSocket URL per instance. */
  endpoints: string[];
  /** msgr: the JWK Set the edges verify with, so generators can mint access tokens. */
  keysFile?: string;
  /** Centrifugo: the HMAC secret its connection tokens are signed with. */
  hmacSecret?: string;
  /** Heartbeat period the clients and servers were configured with. */
  heartbeatMs: number;
}

export interface RunningTarget {
  access: TargetAccess;
  /** Server process ids, whose CPU and memory the report charges to this target. */
  pids: number[];
  stop(): Promise<void>;
}

export interface StartOptions {
  instances: number;
  heartbeatMs: number;
  /** An empty directory this start may use (data, keys, config files). */
  workDir: string;
  /** Command prefix that pins server processes to their cores. */
  pin: string[];
}

export interface Target {
  name: string;
  /** What this server does for one 1:1 message, for the report's "does less" notes. */
  perMessage: string;
  /** Null when it can run on this machine, else the reason it is skipped. */
  unavailable(): string | null;
  start(opts: StartOptions): Promise<RunningTarget>;
}
