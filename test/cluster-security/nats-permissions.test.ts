// The NATS permissions of msgr's roles (src/connect/nats-permissions.ts) against the subjects
// msgr uses (src/bus/subjects.ts): every subject an edge must use is granted to the edge role,
// none of msgr's subjects is granted to the worker role, and a subject added to msgr without a
// decision about who may use it fails here. The example accounts file in infra/production is
// what `msgr nats-auth` generates.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { subjects } from "../../src/bus/subjects.ts";
import { DEFAULTS } from "../../src/config/config.ts";
import { natsAccountsConf, natsPermissions, subjectMatches } from "../../src/connect/nats-permissions.ts";
import { LogLayout } from "../../src/storage/jetstream/layout.ts";

const names = { stream: DEFAULTS.jetstream.stream, shards: DEFAULTS.jetstream.shards, consumer: DEFAULTS.worker.consumer };
const layout = new LogLayout(names.stream, names.shards);
const perms = natsPermissions(names);
const allowed = (patterns: string[], subject: string) => patterns.some((p) => subjectMatches(p, subject));

/** Who uses each entry of `subjects`: all are the bus (edges publish and subscribe). */
const USE: Record<keyof typeof subjects, "bus"> = {
  user: "bus",
  conversation: "bus",
  presence: "bus",
  health: "bus",
  safety: "bus",
  access: "bus",
  e2ee: "bus",
};

describe("NATS permissions per role", () => {
  test("every msgr subject has a role decision; edges may use the bus; workers may publish on none of them", () => {
    // Ids with the characters the subject encoding escapes: still one token, still covered.
    const ids = ["alice", "a.b", "*", ">", "x y", "%2e"];
    for (const [name, make] of Object.entries(subjects)) {
      const use = USE[name as keyof typeof subjects];
      expect(use, `subjects.${name} is new: decide which role may use it in src/connect/nats-permissions.ts, then list it in USE here`).toBeDefined();
      if (typeof make !== "function") continue;
      for (const id of ids) {
        // Every subject maker takes ids (health takes a node id and a nonce: both given here).
        const subject = (make as (...ids: string[]) => string)(id, id);
        expect(allowed(perms.edge.publish, subject)).toBe(true);
        expect(allowed(perms.edge.subscribe, subject)).toBe(use === "bus");
        expect(allowed(perms.worker.publish, subject)).toBe(false);
        expect(allowed(perms.worker.subscribe, subject)).toBe(false);
      }
    }
  });

  test("edges append to every shard and reach every shard's owner; workers do neither", () => {
    for (const shard of layout.all) {
      expect(allowed(perms.edge.publish, layout.subject(shard))).toBe(true);
      expect(allowed(perms.worker.publish, layout.subject(shard))).toBe(false);
      expect(allowed(perms.edge.publish, `$JS.API.DIRECT.GET.${layout.stream(shard)}`)).toBe(true);
    }
    for (const subject of [layout.ownerSubject("node-1"), layout.ownerSubject("a.b")]) {
      expect(allowed(perms.edge.publish, subject)).toBe(true);
      expect(allowed(perms.edge.subscribe, subject)).toBe(true);
      expect(allowed(perms.worker.publish, subject)).toBe(false);
      expect(allowed(perms.worker.subscribe, subject)).toBe(false);
    }
    // Both open the lease bucket (its layout record) when they open the log.
    for (const role of [perms.edge, perms.worker]) expect(allowed(role.publish, `$KV.${layout.leaseBucket}.layout`)).toBe(true);
  });

  test("only the worker may consume; neither role may delete or purge a stream", () => {
    const { consumer } = names;
    for (const stream of layout.all.map((shard) => layout.stream(shard))) {
      for (const subject of [`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, `$JS.ACK.${stream}.${consumer}.1.2.3.4.5`, `$JS.API.CONSUMER.CREATE.${stream}.${consumer}`]) {
        expect(allowed(perms.worker.publish, subject)).toBe(true);
        expect(allowed(perms.edge.publish, subject)).toBe(false);
      }
      for (const subject of [`$JS.API.STREAM.DELETE.${stream}`, `$JS.API.STREAM.PURGE.${stream}`, `$JS.API.CONSUMER.DELETE.${stream}.${consumer}`, `$JS.API.CONSUMER.MSG.NEXT.${stream}.someone-else`, "$JS.API.STREAM.CREATE.OTHER", `$JS.API.STREAM.DELETE.KV_${layout.leaseBucket}`]) {
        expect(allowed(perms.edge.publish, subject)).toBe(false);
        expect(allowed(perms.worker.publish, subject)).toBe(false);
      }
    }
    // Replies come back on inboxes; nobody may publish on one (that would be a forged reply).
    for (const role of [perms.edge, perms.worker]) {
      expect(allowed(role.subscribe, "_INBOX.abc.1")).toBe(true);
      expect(allowed(role.publish, "_INBOX.abc.1")).toBe(false);
    }
  });

  test("subject patterns match as NATS matches them", () => {
    expect(subjectMatches("msgr.conv.>", "msgr.conv.a")).toBe(true);
    expect(subjectMatches("msgr.conv.>", "msgr.conv")).toBe(false);
    expect(subjectMatches("msgr.*.x", "msgr.conv.x")).toBe(true);
    expect(subjectMatches("msgr.*.x", "msgr.conv.y.x")).toBe(false);
    expect(subjectMatches("$JS.API.INFO", "$JS.API.INFO.more")).toBe(false);
  });

  test("infra/production/msgr-accounts.conf is what msgr nats-auth generates, with placeholder keys", () => {
    const example = readFileSync(join(import.meta.dir, "../../infra/production/msgr-accounts.conf"), "utf8");
    const generated = natsAccountsConf(names, [
      { role: "edge", nkey: "U_REPLACE_WITH_THE_EDGE_PUBLIC_KEY" },
      { role: "worker", nkey: "U_REPLACE_WITH_THE_WORKER_PUBLIC_KEY" },
    ]);
    expect(example.endsWith(generated)).toBe(true);
  });
});
