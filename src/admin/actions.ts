// The admin and moderation actions, one per route. `action` names the route in the audit log and
// is the operationId in docs/admin-api.openapi.yaml (a test checks that both list the same routes).

import type { Node } from "../actors/node.ts";
import type { AccessClaims } from "../auth/tokens.ts";
import { subjects } from "../bus/subjects.ts";
import type { RouteDeps } from "../edge/http-routes.ts";
import { ConvType, ErrorCode, MessageKind } from "../proto/codes.ts";
import { CommandError } from "../proto/command-error.ts";
import { CONV_ID_PATTERN, hasNul, ID_PATTERN } from "../proto/schema.ts";
import type { AuditEntry, ReportRecord, UserRecord } from "../storage/safety-types.ts";
import { isPlaceholder } from "../lifecycle/page-rows.ts";
import { removeMessage } from "../lifecycle/removal.ts";

export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminCall {
  deps: RouteDeps;
  node: Node;
  /** The admin token's claims. */
  admin: AccessClaims;
  /** Path parameters, decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body ({} when there is none). */
  body: unknown;
}

export interface AdminResult {
  status?: number;
  body: object;
  /** Overrides the audit entry's target (default: the route's target parameter). */
  target?: string;
  details?: Record<string, unknown>;
}

export interface AdminRoute {
  method: "GET" | "POST";
  /** OpenAPI path template. */
  path: string;
  /** Audit log action and OpenAPI operationId. */
  action: string;
  /** The path parameter the audit entry names as its target. */
  target?: string;
  run(c: AdminCall): Promise<AdminResult>;
}

// ---- parameters ---------------------------------------------------------------------------------

const notFound = (what: string) => new AdminError(404, "not-found", `no such ${what}`);
const badParams = (message: string) => new AdminError(400, "bad-params", message);

function id(value: string | undefined, name: string, pattern = ID_PATTERN): string {
  if (value === undefined || !pattern.test(value)) throw badParams(`${name}: expected an id matching ${pattern}`);
  return value;
}

function field(body: unknown, name: string): unknown {
  return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>)[name] : undefined;
}

/** An optional reason in the body: a string of at most 1000 characters, without U+0000. */
function reason(body: unknown): string {
  const r = field(body, "reason") ?? "";
  if (typeof r !== "string" || r.length > 1000 || hasNul(r)) throw badParams("reason: expected a string of at most 1000 characters, without U+0000");
  return r;
}

function count(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw badParams(`${name}: expected an integer 0..${max}`);
  return n;
}

// ---- views --------------------------------------------------------------------------------------

function userView(u: UserRecord) {
  return { id: u.id, createdAt: u.createdAt, origin: u.origin, banned: u.bannedAt !== null, bannedAt: u.bannedAt, banReason: u.banReason };
}

function reportView(r: ReportRecord) {
  return { ...r, messages: r.messages.map((m) => ({ ...m, body: Buffer.from(m.body).toString("base64") })) };
}

const auditView = (e: AuditEntry) => e;

async function registered(node: Node, user: string): Promise<UserRecord> {
  const u = await node.ctx.safety.store.getUser(user);
  if (!u) throw notFound("user");
  return u;
}

// ---- the routes ---------------------------------------------------------------------------------

export const ADMIN_ROUTES: AdminRoute[] = [
  {
    method: "GET",
    path: "/v1/admin/users",
    action: "users.list",
    async run({ node, query }) {
      const q = query.get("q") ?? "";
      if (q.length > 128) throw badParams("q: at most 128 characters");
      const after = query.get("after") ?? "";
      const limit = count(query, "limit", 100, 1000);
      const users = await node.ctx.safety.store.searchUsers(q, after, limit);
      return { body: { users: users.map(userView), next: users.length === limit && limit > 0 ? users.at(-1)!.id : null }, details: { q } };
    },
  },
  {
    method: "POST",
    path: "/v1/admin/users",
    action: "users.create",
    async run({ node, body }) {
      const user = id(typeof field(body, "user") === "string" ? (field(body, "user") as string) : undefined, "user");
      const r = await node.ctx.safety.store.admitUser(user, "admin", Date.now());
      return { status: r.created ? 201 : 200, body: { user: userView(r.user), created: r.created }, target: user, details: { created: r.created } };
    },
  },
  {
    method: "GET",
    path: "/v1/admin/users/{user}",
    action: "users.get",
    target: "user",
    async run({ node, params }) {
      return { body: { user: userView(await registered(node, id(params.user, "user"))) } };
    },
  },
  {
    method: "GET",
    path: "/v1/admin/users/{user}/devices",
    action: "users.devices",
    target: "user",
    async run({ node, params }) {
      const user = id(params.user, "user");
      await registered(node, user);
      const [devices, online] = await Promise.all([node.ctx.metadata.listDevices(user), node.ctx.presence.onlineDevices(user)]);
      const on = new Set(online);
      return { body: { devices: devices.map((d) => ({ device: d.device, firstSeen: d.firstSeen, lastSeen: d.lastSeen, revoked: d.revoked, online: on.has(d.device) })) } };
    },
  },
  {
    method: "GET",
    path: "/v1/admin/users/{user}/conversations",
    action: "users.conversations",
    target: "user",
    async run({ node, params }) {
      const user = id(params.user, "user");
      await registered(node, user);
      const conversations = [];
      for (const { conv, joinedSeq } of await node.ctx.metadata.listUserConversations(user)) {
        const c = await node.ctx.metadata.getConversation(conv);
        if (c) conversations.push({ id: c.id, type: c.type === ConvType.Direct ? "direct" : "group", title: c.title, joinedSeq });
      }
      return { body: { conversations } };
    },
  },
  {
    method: "POST",
    path: "/v1/admin/users/{user}/ban",
    action: "users.ban",
    target: "user",
    async run({ node, params, body }) {
      const user = id(params.user, "user");
      const why = reason(body);
      const u = await node.ctx.safety.store.setBan(user, { at: Date.now(), reason: why });
      if (!u) throw notFound("user");
      // Every node closes the user's connections (4504); upgrades are refused from now on.
      node.ctx.bus.publish(subjects.access, { t: "ban", user });
      // Answered once every node has heard.
      await node.ctx.bus.ready();
      return { body: { user: userView(u) }, details: { reason: why } };
    },
  },
  {
    method: "POST",
    path: "/v1/admin/users/{user}/unban",
    action: "users.unban",
    target: "user",
    async run({ node, params }) {
      const user = id(params.user, "user");
      const u = await node.ctx.safety.store.setBan(user, null);
      if (!u) throw notFound("user");
      // Nodes that heard the ban recently would otherwise still close the user's new connections.
      node.ctx.bus.publish(subjects.access, { t: "unban", user });
      await node.ctx.bus.ready();
      return { body: { user: userView(u) } };
    },
  },
  {
    method: "POST",
    path: "/v1/admin/revoke",
    action: "devices.revoke",
    async run({ node, body }) {
      const user = field(body, "user");
      const device = field(body, "device");
      if (typeof user !== "string" || typeof device !== "string" || !ID_PATTERN.test(user) || !ID_PATTERN.test(device)) {
        throw badParams("expected JSON {user, device} with valid ids");
      }
      const revoked = await node.revokeDevice(user, device);
      return { body: { revoked }, target: user, details: { device, revoked } };
    },
  },
  {
    method: "GET",
    path: "/v1/admin/conversations/{conv}",
    action: "conversations.get",
    target: "conv",
    async run({ node, params }) {
      const conv = id(params.conv, "conv", CONV_ID_PATTERN);
      const [c, members, lastSeq] = await Promise.all([node.ctx.metadata.getConversation(conv), node.ctx.metadata.listMembers(conv), node.ctx.messages.lastSeq(conv)]);
      if (!c) throw notFound("conversation");
      return {
        body: {
          conversation: {
            id: c.id,
            type: c.type === ConvType.Direct ? "direct" : "group",
            title: c.title,
            createdBy: c.createdBy,
            createdAt: c.createdAt,
            lastSeq,
            members: members.map((m) => ({ user: m.user, admin: m.admin, joinedSeq: m.joinedSeq })),
          },
        },
      };
    },
  },
  {
    method: "POST",
    path: "/v1/admin/conversations/{conv}/messages/{seq}/remove",
    action: "messages.remove",
    target: "conv",
    async run({ node, admin, params, body }) {
      const conv = id(params.conv, "conv", CONV_ID_PATTERN);
      const seq = Number(params.seq);
      if (!Number.isSafeInteger(seq) || seq < 1) throw badParams("seq: expected a positive integer");
      const why = reason(body);
      const { ctx } = node;
      const a = await node.conversation(conv);
      if (!a) throw notFound("conversation");
      const [m] = await ctx.messages.range(conv, seq - 1, 1);
      if (!m || m.seq !== seq || isPlaceholder(m)) throw notFound("message");
      if (m.kind === MessageKind.System) throw new AdminError(400, "system-message", "system messages record the conversation's history and cannot be removed");
      // Every node serves it as a tombstone from now on; the system message tells devices to drop
      // their copy. The stored row stays for the moderators (src/lifecycle/removal.ts).
      const notice = await removeMessage(ctx, a, m, { by: admin.user, announceAs: "", reason: why, erase: false });
      if (!notice) return { body: { removed: false, seq: 0 }, details: { seq, removed: false } };
      return { body: { removed: true, seq: notice }, details: { seq, sender: m.from, reason: why } };
    },
  },
  {
    method: "POST",
    path: "/v1/admin/conversations/{conv}/members/{user}/remove",
    action: "members.remove",
    target: "conv",
    async run({ node, params }) {
      const conv = id(params.conv, "conv", CONV_ID_PATTERN);
      const user = id(params.user, "user");
      const a = await node.conversation(conv);
      if (!a) throw notFound("conversation");
      if (a.type !== ConvType.Group) throw new AdminError(400, "not-a-group", "members of a direct conversation cannot be removed");
      if (!a.isMember(user)) throw notFound("member");
      let seq: number;
      try {
        seq = await a.remove("", user, { moderator: true });
      } catch (e) {
        if (e instanceof CommandError && e.code === ErrorCode.NotFound) throw notFound("member");
        if (e instanceof CommandError) throw new AdminError(409, "conflict", e.message);
        throw e;
      }
      await node.ctx.safety.withdrawConsent(conv, user);
      return { body: { seq }, details: { user } };
    },
  },
  {
    method: "GET",
    path: "/v1/admin/reports",
    action: "reports.list",
    async run({ node, query }) {
      const limit = count(query, "limit", 100, 1000);
      const reports = await node.ctx.safety.store.listReports(count(query, "before", 0, Number.MAX_SAFE_INTEGER), limit);
      return { body: { reports: reports.map(reportView), next: reports.length === limit && limit > 0 ? reports.at(-1)!.id : null } };
    },
  },
  {
    method: "GET",
    path: "/v1/admin/reports/{id}",
    action: "reports.get",
    target: "id",
    async run({ node, params }) {
      const n = Number(params.id);
      if (!Number.isSafeInteger(n) || n < 1) throw badParams("id: expected a positive integer");
      const r = await node.ctx.safety.store.getReport(n);
      if (!r) throw notFound("report");
      return { body: { report: reportView(r) } };
    },
  },
  {
    method: "GET",
    path: "/v1/admin/audit",
    action: "audit.list",
    async run({ node, query }) {
      const limit = count(query, "limit", 100, 1000);
      const entries = await node.ctx.safety.store.listAudit(count(query, "before", 0, Number.MAX_SAFE_INTEGER), limit);
      return { body: { entries: entries.map(auditView), next: entries.length === limit && limit > 0 ? entries.at(-1)!.id : null } };
    },
  },
];
