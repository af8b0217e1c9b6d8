// The shard owner's replies under NATS permissions: an edge answers the requests another edge
// sends to its owner subject (src/storage/jetstream/shard-rpc.ts), and still may not publish on
// an inbox that no request named (a forged reply). Checked in every configuration that enforces
// per-role permissions: the accounts file and operator-mode credentials.

import { expect } from "bun:test";
import { Events, type NatsConnection } from "nats";
import { until } from "./wait.ts";

export async function expectOwnerAnswersOnlyWhenAsked(owner: NatsConnection, asker: NatsConnection, subject: string): Promise<void> {
  let violations = 0;
  void (async () => {
    for await (const s of owner.status()) if (s.type === Events.Error && /PERMISSIONS_VIOLATION/i.test(String(s.data))) violations++;
  })();
  const sub = owner.subscribe(subject, { callback: (err, m) => void (err ? undefined : m.respond(new TextEncoder().encode("answer"))) });
  try {
    await owner.flush();
    const reply = await asker.request(subject, new Uint8Array([1]), { timeout: 5_000 });
    expect(new TextDecoder().decode(reply.data)).toBe("answer");
    expect(violations).toBe(0);
    owner.publish("_INBOX.forged.1", new TextEncoder().encode("forged"));
    await owner.flush();
    await until(() => violations === 1, 5_000, "the server to refuse a reply nobody asked for");
  } finally {
    sub.unsubscribe();
  }
}
