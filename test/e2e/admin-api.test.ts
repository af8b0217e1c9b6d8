// The admin and moderation API over HTTP, against a real server: admin tokens only, every action
// in the audit log, bans that close live devices and refuse new connections, messages removed as
// tombstones everywhere, members removed by moderation, the user registry, reports; and the
// `msgr admin` command line.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_ROUTES } from "../../src/admin/actions.ts";
import { decodeSystemEvent, DisconnectCode, ErrorCode, MessageKind, Method, ProtocolError, SystemOp, type Client, type SystemEvent } from "../../src/sdk/index.ts";
import { HARNESS_START_MS, nextEvent, startHarness, text, type Harness } from "../helpers/harness.ts";
import { expectRefused } from "../security/ws.ts";
import { forEachTopology } from "../helpers/topology.ts";

forEachTopology((topology) => {
  let h: Harness;
  let adminToken: string;
  beforeAll(async () => {
    h = await startHarness({ users: { requireRegistered: true } }, { topology });
    adminToken = await h.token("root", "console", { admin: true });
  }, HARNESS_START_MS);
  afterAll(() => h.stop());

  interface Answer {
    status: number;
    json: Record<string, any>;
  }

  async function call(method: string, path: string, body?: unknown, token: string | null = adminToken): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${h.server.httpUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  }

  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 0,
      (e) => (e instanceof ProtocolError ? e.code : -99),
    );

  const system = (body: Uint8Array) => decodeSystemEvent(body) as SystemEvent;

  /** The route's path with sample values for its parameters. */
  const samplePath = (path: string) => path.replace("{user}", "someone").replace("{conv}", "c0").replace("{seq}", "1").replace("{id}", "1");

  async function auditActions(): Promise<{ id: number; action: string; target: string; status: number; admin: string; device: string }[]> {
    return (await call("GET", "/v1/admin/audit?limit=1000")).json.entries;
  }

  describe("authentication", () => {
    test("every route refuses a missing token (401) and a token without scope=admin (403), and records nothing", async () => {
      const before = (await auditActions()).length;
      const user = await h.token("plain", "phone");
      for (const r of ADMIN_ROUTES) {
        const none = await call(r.method, samplePath(r.path), r.method === "POST" ? {} : undefined, null);
        expect({ route: r.action, status: none.status, code: none.json.code }).toEqual({ route: r.action, status: 401, code: "credentials-missing" });
        const plain = await call(r.method, samplePath(r.path), r.method === "POST" ? {} : undefined, user);
        expect({ route: r.action, status: plain.status, code: plain.json.code }).toEqual({ route: r.action, status: 403, code: "not-admin" });
      }
      // The audit.list call above is the only new entry.
      expect((await auditActions()).length).toBe(before + 1);
    });

    test("unknown routes are 404 and wrong methods 405, before any credentials are looked at", async () => {
      expect(await call("GET", "/v1/admin/nothing", undefined, null)).toMatchObject({ status: 404, json: { code: "not-found" } });
      expect(await call("DELETE", "/v1/admin/users", undefined, null)).toMatchObject({ status: 405, json: { code: "method-not-allowed" } });
    });
  });

  describe("users", () => {
    test("provisioning registers a user whom others may then name; list, search and read them", async () => {
      const created = await call("POST", "/v1/admin/users", { user: "pv-newcomer" });
      expect(created).toMatchObject({ status: 201, json: { created: true, user: { id: "pv-newcomer", origin: "admin", banned: false } } });
      expect(await call("POST", "/v1/admin/users", { user: "pv-newcomer" })).toMatchObject({ status: 200, json: { created: false } });
      expect(await call("POST", "/v1/admin/users", { user: "bad id" })).toMatchObject({ status: 400, json: { code: "bad-params" } });
      expect(await call("POST", "/v1/admin/users", "{")).toMatchObject({ status: 400 });

      // users.requireRegistered is on: the provisioned user may be named before ever connecting.
      const alice = await h.client("pv-alice");
      expect((await alice.openDirect("pv-newcomer")).members).toHaveLength(2);
      expect(await codeOf(alice.openDirect("pv-nobody"))).toBe(ErrorCode.NotFound);

      const found = await call("GET", "/v1/admin/users?q=PV-&limit=10");
      expect(found.json.users.map((u: { id: string }) => u.id)).toEqual(["pv-alice", "pv-newcomer"]);
      const page = await call("GET", "/v1/admin/users?q=pv-&limit=1");
      expect(page.json).toMatchObject({ users: [{ id: "pv-alice", origin: "login" }], next: "pv-alice" });
      expect((await call("GET", "/v1/admin/users?q=pv-&limit=1&after=pv-alice")).json.users[0].id).toBe("pv-newcomer");
      expect(await call("GET", "/v1/admin/users/pv-alice")).toMatchObject({ status: 200, json: { user: { id: "pv-alice", origin: "login" } } });
      expect(await call("GET", "/v1/admin/users/pv-ghost")).toMatchObject({ status: 404, json: { code: "not-found" } });
      expect(await call("GET", "/v1/admin/users?limit=x")).toMatchObject({ status: 400 });
    });

    test("a user's devices and conversations", async () => {
      const phone = await h.client("ud-bob", "phone");
      await h.client("ud-carol");
      const laptop = await h.client("ud-bob", "laptop");
      laptop.close();
      const dm = await phone.openDirect("ud-carol");
      const g = await phone.createGroup("book club", ["ud-carol"]);
      const devices = await call("GET", "/v1/admin/users/ud-bob/devices");
      expect(devices.json.devices.map((d: { device: string; revoked: boolean }) => [d.device, d.revoked])).toEqual([
        ["phone", false],
        ["laptop", false],
      ]);
      expect(devices.json.devices[0].online).toBe(true);
      const convs = await call("GET", "/v1/admin/users/ud-bob/conversations");
      expect(convs.json.conversations.map((c: { id: string; type: string }) => [c.id, c.type]).sort()).toEqual(
        [
          [dm.id, "direct"],
          [g.id, "group"],
        ].sort(),
      );
      const conv = await call("GET", `/v1/admin/conversations/${g.id}`);
      expect(conv.json.conversation).toMatchObject({ id: g.id, type: "group", title: "book club", createdBy: "ud-bob", lastSeq: 1 });
      expect(conv.json.conversation.members.map((m: { user: string }) => m.user).sort()).toEqual(["ud-bob", "ud-carol"]);
      expect(await call("GET", "/v1/admin/conversations/nope")).toMatchObject({ status: 404 });
      expect(await call("GET", "/v1/admin/conversations/bad%20id")).toMatchObject({ status: 400 });
    });
  });

  describe("bans", () => {
    test("a ban closes every live device (4504, no reconnect) and refuses new connections and tickets until lifted", async () => {
      const phone = await h.client("bn-eve", "phone");
      const laptop = await h.client("bn-eve", "laptop");
      const friend = await h.client("bn-friend");
      const closed = [nextEvent(phone, "disconnected"), nextEvent(laptop, "disconnected")];
      let friendDropped = false;
      friend.on("disconnected", () => (friendDropped = true));

      const banned = await call("POST", "/v1/admin/users/bn-eve/ban", { reason: "spam waves" });
      expect(banned).toMatchObject({ status: 200, json: { user: { id: "bn-eve", banned: true, banReason: "spam waves" } } });
      for (const d of await Promise.all(closed)) expect(d).toMatchObject({ code: DisconnectCode.UserBanned, willReconnect: false });

      const token = await h.token("bn-eve", "phone");
      await expectRefused(h, { bearer: token }, 403, "user-banned");
      await expectRefused(h, { bearer: await h.token("bn-eve", "new-device") }, 403, "user-banned");
      const ticket = await fetch(`${h.server.httpUrl}/v1/tickets`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      expect(ticket.status).toBe(403);
      expect(((await ticket.json()) as { code: string }).code).toBe("user-banned");
      // The ban refused the new device before it was recorded.
      expect((await call("GET", "/v1/admin/users/bn-eve/devices")).json.devices.map((d: { device: string }) => d.device)).toEqual(["phone", "laptop"]);
      expect(friend.connected && !friendDropped).toBe(true);

      expect(await call("POST", "/v1/admin/users/bn-eve/unban")).toMatchObject({ status: 200, json: { user: { banned: false, bannedAt: null } } });
      const back = await h.client("bn-eve", "phone");
      expect(back.connected).toBe(true);
      expect(await call("POST", "/v1/admin/users/bn-ghost/ban", {})).toMatchObject({ status: 404 });
      expect(await call("POST", "/v1/admin/users/bn-eve/ban", { reason: 42 })).toMatchObject({ status: 400 });
      // PostgreSQL cannot store U+0000, so no backend takes a reason with one.
      expect(await call("POST", "/v1/admin/users/bn-eve/ban", { reason: "spam\u0000" })).toMatchObject({ status: 400, json: { code: "bad-params" } });
    });
  });

  describe("removing a message", () => {
    test("it becomes a tombstone for every device, live, in history and on resume; its media is no longer served", async () => {
      const alice = await h.client("rm-alice");
      const bob = await h.client("rm-bob");
      const conv = (await alice.openDirect("rm-bob")).id;
      const media = await bob.uploadMedia(new TextEncoder().encode("evil file"), "application/octet-stream");
      const bad = await bob.send(conv, "look at this", { media });
      const ok = await bob.send(conv, "fine");
      expect((await alice.mediaUrl(media)).size).toBe(9);

      const told = nextEvent(alice, "message", (m) => m.kind === MessageKind.System && system(m.body).op === SystemOp.MessageRemoved);
      const r = await call("POST", `/v1/admin/conversations/${conv}/messages/${bad.seq}/remove`, { reason: "malware" });
      expect(r).toMatchObject({ status: 200, json: { removed: true } });
      const notice = await told;
      expect(notice.seq).toBe(r.json.seq);
      expect(system(notice.body)).toEqual({ op: SystemOp.MessageRemoved, by: "", ref: bad.seq });

      const history = (await alice.history(conv)).messages;
      const tomb = history.find((m) => m.seq === bad.seq)!;
      expect({ kind: tomb.kind, body: tomb.body.length, media: tomb.media, from: tomb.from }).toEqual({ kind: MessageKind.Removed, body: 0, media: undefined, from: "rm-bob" });
      expect(text(history.find((m) => m.seq === ok.seq)!)).toBe("fine");
      expect(await codeOf(alice.mediaUrl(media))).not.toBe(0);
      expect(await codeOf(bob.mediaUrl(media))).not.toBe(0);

      // A device that resumes from scratch gets the tombstone in its backlog.
      const fresh = await h.client("rm-alice", "rm-alice-new", { cursors: { [conv]: 0 } });
      const got = (await fresh.history(conv, bad.seq + 1, 1)).messages[0]!;
      expect(got.kind).toBe(MessageKind.Removed);

      expect(await call("POST", `/v1/admin/conversations/${conv}/messages/${bad.seq}/remove`, {})).toMatchObject({ status: 200, json: { removed: false, seq: 0 } });
      expect(await call("POST", `/v1/admin/conversations/${conv}/messages/${notice.seq}/remove`, {})).toMatchObject({ status: 400, json: { code: "system-message" } });
      expect(await call("POST", `/v1/admin/conversations/${conv}/messages/999/remove`, {})).toMatchObject({ status: 404 });
      expect(await call("POST", `/v1/admin/conversations/${conv}/messages/0/remove`, {})).toMatchObject({ status: 400 });
      // Clients cannot write tombstones.
      expect(await codeOf(alice.request(Method.Send, { conv, cid: "fake", kind: MessageKind.Removed, body: new Uint8Array(0) }))).toBe(ErrorCode.InvalidParams);
    });
  });

  describe("removing a member", () => {
    test("moderation removes a group's only admin; the longest-standing member becomes admin", async () => {
      const owner = await h.client("mr-owner");
      const bob = await h.client("mr-bob");
      await h.client("mr-carol");
      const g = await owner.createGroup("g", ["mr-bob", "mr-carol"]);
      const gone = nextEvent(owner, "conversation", (c) => c.conv.id === g.id && c.removed);
      const seen = nextEvent(bob, "message", (m) => m.kind === MessageKind.System && system(m.body).op === SystemOp.MemberRemoved);
      const r = await call("POST", `/v1/admin/conversations/${g.id}/members/mr-owner/remove`);
      expect(r.status).toBe(200);
      await gone;
      expect(system((await seen).body)).toEqual({ op: SystemOp.MemberRemoved, by: "", users: ["mr-owner"] });
      const info = await bob.conversation(g.id);
      expect(info.members.map((m) => [m.user, m.admin]).sort()).toEqual([
        ["mr-bob", true],
        ["mr-carol", false],
      ]);
      expect(await call("POST", `/v1/admin/conversations/${g.id}/members/mr-owner/remove`)).toMatchObject({ status: 404 });
      const dm = await bob.openDirect("mr-carol");
      expect(await call("POST", `/v1/admin/conversations/${dm.id}/members/mr-carol/remove`)).toMatchObject({ status: 400, json: { code: "not-a-group" } });
    });
  });

  describe("reports", () => {
    test("reports are listed newest first and read with the reporter's copies", async () => {
      const alice = await h.client("ar-alice");
      const mallory = await h.client("ar-mallory");
      const conv = (await alice.openDirect("ar-mallory")).id;
      const m = await mallory.send(conv, "threat");
      const body = new TextEncoder().encode("threat");
      const first = await alice.report({ conv, seq: m.seq, reason: "threatening", messages: [{ conv, seq: m.seq, from: "ar-mallory", ts: m.ts, kind: 1, body }] });
      const second = await alice.report({ user: "ar-mallory", reason: "keeps at it" });
      const list = await call("GET", "/v1/admin/reports?limit=2");
      expect(list.json.reports.map((r: { id: number }) => r.id)).toEqual([second, first]);
      expect(list.json.next).toBe(first);
      const one = await call("GET", `/v1/admin/reports/${first}`);
      expect(one.json.report).toMatchObject({ id: first, reporter: "ar-alice", user: "ar-mallory", conv, seq: m.seq, reason: "threatening" });
      expect(Buffer.from(one.json.report.messages[0].body, "base64").toString()).toBe("threat");
      expect(await call("GET", "/v1/admin/reports/999999")).toMatchObject({ status: 404 });
      expect(await call("GET", "/v1/admin/reports/x")).toMatchObject({ status: 400 });
    });
  });

  describe("the audit log", () => {
    test("every admin action is recorded with the admin, the target and the answer", async () => {
      // A second admin, so entries tell admins apart.
      const other = await h.token("ops2", "laptop", { admin: true });
      await call("POST", "/v1/admin/users", { user: "au-target" }, other);
      await call("POST", "/v1/admin/revoke", { user: "au-target", device: "none" }, other);
      const entries = await auditActions();
      const actions = new Set(entries.map((e) => e.action));
      for (const r of ADMIN_ROUTES) expect({ action: r.action, recorded: actions.has(r.action) }).toEqual({ action: r.action, recorded: true });
      expect(entries.find((e) => e.action === "users.create" && e.target === "au-target")).toMatchObject({ admin: "ops2", device: "laptop", status: 201 });
      expect(entries.find((e) => e.action === "users.ban" && e.target === "bn-eve" && e.status === 200)).toMatchObject({ admin: "root", device: "console", status: 200 });
      // Refusals after authentication are recorded too, with their status.
      expect(entries.some((e) => e.action === "users.get" && e.status === 404)).toBe(true);
      const page = await call("GET", `/v1/admin/audit?limit=2&before=${entries[0]!.id}`);
      expect(page.json.entries.map((e: { id: number }) => e.id)).toEqual([entries[1]!.id, entries[2]!.id]);
    });
  });

  describe("msgr admin", () => {
    async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
      const proc = Bun.spawn([process.execPath, "src/cli/main.ts", "admin", ...args, "--url", h.server.httpUrl], {
        cwd: `${import.meta.dir}/../..`,
        env: { ...process.env, ...h.cliEnv },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      return { code, out, err };
    }

    test("subcommands call the API with the server's key and print its answer", async () => {
      const victim: Client = await h.client("cli-eve");
      const closed = nextEvent(victim, "disconnected");
      const ban = await cli("ban", "--user", "cli-eve", "--reason", "from the shell", "--as", "shell-admin");
      expect({ code: ban.code, err: ban.err }).toEqual({ code: 0, err: "" });
      expect(JSON.parse(ban.out)).toMatchObject({ user: { id: "cli-eve", banned: true, banReason: "from the shell" } });
      expect((await closed).code).toBe(DisconnectCode.UserBanned);
      const audit = JSON.parse((await cli("audit", "--limit", "1")).out);
      expect(audit.entries[0]).toMatchObject({ action: "users.ban", target: "cli-eve", admin: "shell-admin" });
      const missing = await cli("user", "--user", "cli-nobody");
      expect(missing.code).toBe(1);
      expect(missing.err).toContain("404");
      expect((await cli("ban")).code).toBe(2);
    }, 30_000); // four child processes, each loading the CLI
  });
});
