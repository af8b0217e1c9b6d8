// Reconnect storm (msgr only: the peers keep no backlog to resume from). M receivers, each in a
// 1:1 conversation with its own sender, go offline holding their cursors (and tokens); each misses K
// messages; then all reconnect at once with the SDK's `cursors` option, and the step measures
// how long each takes until its `synced` event, having received exactly its K messages. A storm
// step reconnects a range of the receivers, so that one cohort can warm the server up before
// another is measured.

import { loadSigningKey, type SigningKey } from "../../../src/auth/keyring.ts";
import { Client } from "../../../src/sdk/index.ts";
import { mintToken } from "../../adapters/msgr.ts";
import { LatencyHistogram } from "../../lib/histogram.ts";
import type { TargetAccess } from "../../targets/types.ts";
import { connectAll, connectEvery } from "../connect-all.ts";
import type { Counters, Workload } from "../protocol.ts";

export interface ResumeSetup {
  devices: number;
  bodyBytes: number;
  connectConcurrency: number;
}

export interface PreloadParams {
  missed: number;
  /** Sends in flight per sender while preloading. */
  window: number;
}

export interface StormParams {
  /** The receivers that reconnect: [first, first + count). */
  first: number;
  count: number;
  concurrency: number;
  timeoutMs: number;
}

export function resumeWorkload(access: TargetAccess, counters: Counters): Workload {
  const url = access.endpoints[0]!;
  let key: SigningKey;
  let senders: Client[] = [];
  let convs: string[] = [];
  let cursors: Record<string, number>[] = [];
  let body = new Uint8Array(0);
  let missed = 0;
  const receiver = (i: number) => `r${i}`;

  const connected = async (user: string, device: string) => {
    const c = new Client({ url, token: () => mintToken(key, user, device), reconnect: false });
    const synced = new Promise<void>((resolve) => c.once("synced", resolve));
    await c.connect();
    await synced;
    return c;
  };

  return {
    steps: {
      async setup(p: ResumeSetup) {
        key = await loadSigningKey(access.keysFile!);
        body = new Uint8Array(p.bodyBytes).fill(0x61);
        senders = await connectEvery(p.devices, p.connectConcurrency, (i) => connected(`s${i}`, "phone"));
        convs = await Promise.all(senders.map(async (s, i) => (await s.openDirect(receiver(i))).id));
        // Each receiver gets one message live, so it holds a real cursor, then goes offline.
        const receivers = await connectEvery(p.devices, p.connectConcurrency, (i) => connected(receiver(i), "phone"));
        await Promise.all(
          receivers.map((r, i) => {
            const got = new Promise<void>((resolve) => r.once("message", () => resolve()));
            return senders[i]!.send(convs[i]!, body).then(() => got);
          }),
        );
        cursors = receivers.map((r) => r.cursors());
        for (const r of receivers) r.close();
        return { devices: p.devices };
      },

      async preload(p: PreloadParams) {
        missed = p.missed;
        await Promise.all(
          senders.map(async (s, i) => {
            for (let sent = 0; sent < p.missed; sent += p.window) {
              const batch = Math.min(p.window, p.missed - sent);
              await Promise.all(Array.from({ length: batch }, () => s.send(convs[i]!, body)));
              counters.sent += batch;
            }
          }),
        );
        return { messages: senders.length * p.missed };
      },

      async storm(p: StormParams) {
        const perDevice = new LatencyHistogram();
        let incomplete = 0;
        let replayed = 0;
        // A device reconnects with the token it holds (they live for hours): minting them, with
        // WebCrypto, is the token service's work, not part of the time to catch up.
        const cohort = Array.from({ length: p.count }, (_, k) => p.first + k);
        const tokens = await Promise.all(cohort.map((i) => mintToken(key, receiver(i), "phone")));
        const started = performance.now();
        const clients: Client[] = [];
        let timer: ReturnType<typeof setTimeout> | undefined;
        const deadline = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), p.timeoutMs)));
        const storm = connectAll(cohort.length, p.concurrency, async (k) => {
          let got = 0;
          const c = new Client({ url, token: tokens[k]!, reconnect: false, cursors: cursors[cohort[k]!] });
          clients.push(c);
          c.on("message", () => {
            got++;
            replayed++;
            counters.delivered++;
          });
          const synced = new Promise<void>((resolve) => c.once("synced", resolve));
          await c.connect();
          await synced;
          perDevice.recordMs(performance.now() - started);
          if (got !== missed) incomplete++;
        });
        const outcome = await Promise.race([storm, deadline]);
        const allCaughtUpMs = performance.now() - started;
        clearTimeout(timer);
        for (const c of clients) c.close();
        return {
          devices: cohort.length,
          caughtUp: perDevice.count,
          incomplete,
          timedOut: outcome === "timeout",
          failed: outcome === "timeout" ? 0 : outcome.failed,
          firstError: outcome === "timeout" ? undefined : outcome.firstError,
          allCaughtUpMs,
          replayed,
          perDevice: perDevice.toData(),
        };
      },

      async teardown() {
        for (const s of senders) s.close();
        senders = [];
        return {};
      },
    },
  };
}
