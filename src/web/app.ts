// The browser app: a small client on the SDK, served by the edge at web.path (src/edge/web-app.ts)
// and bundled by Bun.build. Plain DOM, no framework: one module of state and rendering.
//
// Each tab is a device of its own (its id lives in sessionStorage), so two tabs of one user
// behave as two devices. Tokens come from the development sign-in when the server offers it, or
// are pasted (from the operator's auth service, or `msgr token` in development).

import { Client, ConvType, MessageKind, ProtocolError, SystemOp, type ConvInfo, type PresenceInfo, type WireMessage } from "../sdk/index.ts";
// Pure presentation helpers shared with the terminal client.
import { aggregatesFromInfo, convLabel, decodeSystem, describeSystemEvent, formatClock, formatTyping, peersOf, tickState, type Aggregates } from "../cli/chat-view.ts";

interface AppConfig {
  devSignIn: boolean;
  wsPath: string;
  base: string;
}

interface Conv {
  info: ConvInfo;
  agg: Aggregates;
  /** My read marker. */
  read: number;
  unread: number;
  messages: Map<number, WireMessage>;
  /** Lowest seq loaded, and whether the server has older ones. */
  oldest: number;
  more: boolean;
  /** Thumbnail media id by the seq of the message it belongs to. */
  thumbs: Map<number, string>;
}

const HISTORY_PAGE = 30;
const TYPING_THROTTLE_MS = 3_000;
const TYPING_EXPIRY_MS = 5_000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const decoder = new TextDecoder();

// ---- session ------------------------------------------------------------------------------------

const store = window.sessionStorage;

/** This tab's device id: kept across reloads of the tab, different in every other tab. */
function tabDevice(): string {
  let d = store.getItem("msgr.device");
  if (!d) {
    d = `web-${Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("")}`;
    store.setItem("msgr.device", d);
  }
  return d;
}

async function devToken(cfg: AppConfig, user: string, device: string): Promise<string> {
  const res = await fetch(`${cfg.base}/dev-sign-in`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user, device }) });
  const body = (await res.json()) as { token?: string; message?: string };
  if (!res.ok || !body.token) throw new Error(body.message ?? `sign-in failed (${res.status})`);
  return body.token;
}

// ---- app ----------------------------------------------------------------------------------------

class App {
  private readonly convs = new Map<string, Conv>();
  private current: string | null = null;
  private readonly presence = new Map<string, PresenceInfo>();
  private readonly typers = new Map<string, ReturnType<typeof setTimeout>>();
  private typingSentAt = 0;
  private loadingHistory = false;
  private readonly pendingUrls = new Map<string, Promise<string>>();
  me = "";

  constructor(readonly client: Client) {
    client.on("connected", (s) => {
      this.me = s.user;
      $("me").textContent = `${s.user} · ${s.device}`;
      this.setConn("online");
      void this.loadConversations();
      if (this.current) void this.watchPeers();
    });
    client.on("disconnected", (d) => this.setConn(d.willReconnect ? "reconnecting…" : `closed (${d.code})`));
    client.on("message", (m) => this.onMessage(m));
    client.on("receipt", (r) => {
      const c = this.convs.get(r.conv);
      if (!c) return;
      c.agg = { allDelivered: r.allDelivered, allRead: r.allRead };
      if (r.user === this.me) {
        c.read = Math.max(c.read, r.read);
        c.unread = this.countUnread(c);
        this.renderList();
      }
      if (r.conv === this.current) this.refreshTicks(c);
    });
    client.on("typing", (t) => {
      if (t.conv !== this.current || t.user === this.me) return;
      clearTimeout(this.typers.get(t.user));
      if (t.on) this.typers.set(t.user, setTimeout(() => this.dropTyper(t.user), TYPING_EXPIRY_MS));
      else this.typers.delete(t.user);
      this.renderTyping();
    });
    client.on("presence", (p) => {
      this.presence.set(p.user, p);
      this.renderHeader();
    });
    client.on("conversation", (push) => {
      if (push.removed) {
        this.convs.delete(push.conv.id);
        if (this.current === push.conv.id) this.close();
      } else this.upsert(push.conv);
      this.renderList();
      if (push.conv.id === this.current) this.renderHeader();
    });
    document.addEventListener("visibilitychange", () => this.current && this.markCurrentRead());
  }

  private setConn(text: string): void {
    $("conn").textContent = text;
  }

  // ---- conversations ----------------------------------------------------------------------------

  private upsert(info: ConvInfo): Conv {
    let c = this.convs.get(info.id);
    const mine = info.members.find((m) => m.user === this.me);
    if (!c) {
      c = { info, agg: aggregatesFromInfo(info, this.me), read: mine?.read ?? 0, unread: 0, messages: new Map(), oldest: info.lastSeq + 1, more: info.lastSeq > 0, thumbs: new Map() };
      this.convs.set(info.id, c);
    } else {
      c.info = info;
      c.agg = aggregatesFromInfo(info, this.me);
      c.read = Math.max(c.read, mine?.read ?? 0);
    }
    c.unread = this.countUnread(c);
    return c;
  }

  private async loadConversations(): Promise<void> {
    try {
      for (const info of await this.client.conversations()) this.upsert(info);
      this.renderList();
    } catch (e) {
      this.error(e);
    }
  }

  private countUnread(c: Conv): number {
    let n = 0;
    for (let seq = c.read + 1; seq <= c.info.lastSeq; seq++) {
      const m = c.messages.get(seq);
      // Not loaded (this tab resumed past it, or it is older than the history loaded): it counts.
      if (!m || (m.from !== this.me && m.kind !== MessageKind.System)) n++;
    }
    return n;
  }

  private label(c: Conv): string {
    return convLabel(c.info, this.me);
  }

  renderList(): void {
    const list = $("convs");
    list.replaceChildren();
    const lastTs = (c: Conv) => Math.max(0, ...[...c.messages.values()].map((m) => m.ts));
    const sorted = [...this.convs.values()].sort((a, b) => lastTs(b) - lastTs(a) || b.info.lastSeq - a.info.lastSeq);
    for (const c of sorted) {
      const li = el("li", `conv${c.info.id === this.current ? " current" : ""}`);
      li.dataset.id = c.info.id;
      li.append(el("span", "name", this.label(c)), el("span", "kind", c.info.type === ConvType.Group ? `group of ${c.info.members.length}` : ""));
      if (c.unread > 0 && c.info.id !== this.current) li.append(el("span", "unread", String(c.unread)));
      li.onclick = () => void this.open(c.info.id);
      list.append(li);
    }
  }

  async openDirect(user: string): Promise<void> {
    const info = await this.client.openDirect(user);
    this.upsert(info);
    await this.open(info.id);
  }

  async createGroup(title: string, members: string[]): Promise<void> {
    const info = await this.client.createGroup(title, members);
    this.upsert(info);
    await this.open(info.id);
  }

  // ---- the open conversation --------------------------------------------------------------------

  async open(id: string): Promise<void> {
    const c = this.convs.get(id);
    if (!c) return;
    this.current = id;
    this.clearTypers();
    $("composer").hidden = false;
    $("messages").replaceChildren();
    this.renderHeader();
    this.renderList();
    if (c.messages.size < HISTORY_PAGE && c.more) await this.loadOlder(c);
    this.renderMessages(c);
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
    this.markCurrentRead();
    await this.watchPeers();
    $<HTMLInputElement>("text").focus();
  }

  private close(): void {
    this.current = null;
    $("composer").hidden = true;
    $("messages").replaceChildren();
    $("title").textContent = "Pick a conversation";
    $("status").textContent = "";
  }

  private async loadOlder(c: Conv): Promise<number> {
    if (this.loadingHistory || !c.more) return 0;
    this.loadingHistory = true;
    try {
      const page = await this.client.history(c.info.id, c.oldest, HISTORY_PAGE);
      for (const m of page.messages) this.remember(c, m);
      const lowest = Math.min(c.oldest, ...page.messages.map((m) => m.seq));
      c.oldest = lowest;
      c.more = page.more && lowest > 1;
      c.unread = this.countUnread(c);
      return page.messages.length;
    } finally {
      this.loadingHistory = false;
    }
  }

  /** Scrolled to the top: the previous page goes above, and what was in view stays in view. */
  async onScroll(): Promise<void> {
    const c = this.current ? this.convs.get(this.current) : undefined;
    const box = $("messages");
    if (!c || box.scrollTop > 40 || !c.more || this.loadingHistory) return;
    const before = box.scrollHeight - box.scrollTop;
    if ((await this.loadOlder(c)) === 0 || this.current !== c.info.id) return;
    this.renderMessages(c);
    box.scrollTop = box.scrollHeight - before;
  }

  private remember(c: Conv, m: WireMessage): void {
    c.messages.set(m.seq, m);
    c.info.lastSeq = Math.max(c.info.lastSeq, m.seq);
    if (m.kind === MessageKind.System) {
      const ev = decodeSystem(m.body);
      if (ev?.op === SystemOp.ThumbnailReady && ev.thumb && ev.ref !== undefined) c.thumbs.set(ev.ref, ev.thumb);
    }
  }

  private onMessage(m: WireMessage): void {
    let c = this.convs.get(m.conv);
    if (!c) {
      // A conversation this tab has not listed yet: fetch it, then show the message.
      void this.client.conversation(m.conv).then((info) => {
        const conv = this.upsert(info);
        this.remember(conv, m);
        conv.unread = this.countUnread(conv);
        this.renderList();
      }, (e) => this.error(e));
      return;
    }
    this.remember(c, m);
    this.saveCursorsSoon();
    if (m.from !== this.me) this.dropTyper(m.from);
    if (m.conv === this.current) {
      const box = $("messages");
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
      const ev = m.kind === MessageKind.System ? decodeSystem(m.body) : null;
      if (ev?.op === SystemOp.ThumbnailReady && ev.ref !== undefined) this.renderImage(c, ev.ref);
      else {
        document.querySelector(`.msg[data-cid="${CSS.escape(m.cid)}"].pending`)?.remove();
        box.append(this.messageElement(c, m));
      }
      if (atBottom || m.from === this.me) box.scrollTop = box.scrollHeight;
      this.markCurrentRead();
    }
    c.unread = this.countUnread(c);
    this.renderList();
  }

  // ---- resuming ---------------------------------------------------------------------------------
  // A reloaded tab is the same device: it resumes from its cursors, so only what it missed is
  // pushed again, and older messages come from history when scrolled to.

  private saveTimer: ReturnType<typeof setTimeout> | null = null;

  saveCursors(): void {
    store.setItem("msgr.cursors", JSON.stringify(this.client.cursors()));
  }

  private saveCursorsSoon(): void {
    this.saveTimer ??= setTimeout(() => {
      this.saveTimer = null;
      this.saveCursors();
    }, 300);
  }

  private markCurrentRead(): void {
    const c = this.current ? this.convs.get(this.current) : undefined;
    if (!c || document.visibilityState !== "visible") return;
    const last = Math.max(0, ...c.messages.keys());
    if (last <= c.read) return;
    c.read = last;
    c.unread = 0;
    this.client.markRead(c.info.id, last).catch(() => {});
    this.renderList();
  }

  // ---- rendering messages -----------------------------------------------------------------------

  private renderMessages(c: Conv): void {
    const box = $("messages");
    box.replaceChildren();
    if (!c.more) box.append(el("div", "history-edge", "beginning of the conversation"));
    for (const m of [...c.messages.values()].sort((a, b) => a.seq - b.seq)) {
      const ev = m.kind === MessageKind.System ? decodeSystem(m.body) : null;
      if (ev?.op === SystemOp.ThumbnailReady) continue; // shown on the image itself
      box.append(this.messageElement(c, m));
    }
  }

  private messageElement(c: Conv, m: WireMessage): HTMLElement {
    const own = m.from === this.me;
    if (m.kind === MessageKind.System) {
      const ev = decodeSystem(m.body);
      const div = el("div", "msg system", ev ? describeSystemEvent(ev) : "(system event)");
      div.dataset.seq = String(m.seq);
      return div;
    }
    const div = el("div", `msg${own ? " own" : ""}`);
    div.dataset.seq = String(m.seq);
    div.dataset.cid = m.cid;
    if (!own && c.info.type === ConvType.Group) div.append(el("div", "from", m.from));
    if (m.kind === MessageKind.Media && m.media) {
      div.append(el("img"));
      this.fillImage(c, m, div.querySelector("img")!);
    }
    const text = decoder.decode(m.body);
    if (text) div.append(el("span", "text", text));
    const meta = el("span", "meta", formatClock(m.ts, Date.now()));
    if (own) meta.append(this.ticksElement(m.seq, c.agg));
    div.append(meta);
    return div;
  }

  private ticksElement(seq: number, agg: Aggregates): HTMLElement {
    const st = tickState(seq, agg);
    const span = el("span", `ticks ${st}`, st === "sent" ? "✓" : st === "pending" ? "…" : "✓✓");
    span.title = st;
    return span;
  }

  private refreshTicks(c: Conv): void {
    for (const span of document.querySelectorAll<HTMLElement>(".msg.own[data-seq] .ticks")) {
      const seq = Number(span.closest<HTMLElement>(".msg")!.dataset.seq);
      span.replaceWith(this.ticksElement(seq, c.agg));
    }
  }

  /** A short-lived URL for a media id (asked for once per id and page load). */
  private mediaUrl(media: string): Promise<string> {
    let p = this.pendingUrls.get(media);
    if (!p) {
      p = this.client.mediaUrl(media).then((r) => r.url);
      p.catch(() => this.pendingUrls.delete(media));
      this.pendingUrls.set(media, p);
    }
    return p;
  }

  /** The thumbnail when it is made, else the image itself (scaled by CSS); a click opens the original. */
  private fillImage(c: Conv, m: WireMessage, img: HTMLImageElement): void {
    const thumb = c.thumbs.get(m.seq);
    img.alt = "image";
    img.dataset.kind = thumb ? "thumb" : "original";
    this.mediaUrl(thumb ?? m.media!).then((u) => (img.src = u), (e) => this.error(e));
    img.onclick = () => void this.mediaUrl(m.media!).then((u) => window.open(u, "_blank", "noopener"));
  }

  private renderImage(c: Conv, seq: number): void {
    const img = document.querySelector<HTMLImageElement>(`.msg[data-seq="${seq}"] img`);
    const m = c.messages.get(seq);
    if (img && m) this.fillImage(c, m, img);
  }

  // ---- header: presence, last seen, typing ------------------------------------------------------

  private async watchPeers(): Promise<void> {
    const c = this.current ? this.convs.get(this.current) : undefined;
    if (!c) return;
    try {
      for (const p of await this.client.watchPresence(peersOf(c.info, this.me))) this.presence.set(p.user, p);
      this.renderHeader();
    } catch (e) {
      this.error(e);
    }
  }

  private renderHeader(): void {
    const c = this.current ? this.convs.get(this.current) : undefined;
    if (!c) return;
    $("title").textContent = this.label(c);
    const peers = peersOf(c.info, this.me);
    const now = Date.now();
    const state = (u: string) => {
      const p = this.presence.get(u);
      if (!p) return "";
      if (p.online) return "online";
      return p.lastSeen > 0 ? `last seen ${formatClock(p.lastSeen, now)}` : "offline";
    };
    $("status").textContent =
      c.info.type === ConvType.Direct
        ? state(peers[0] ?? "")
        : `${[this.me, ...peers].join(", ")} · ${peers.filter((u) => this.presence.get(u)?.online).length} online`;
  }

  private dropTyper(user: string): void {
    if (!this.typers.has(user)) return;
    clearTimeout(this.typers.get(user));
    this.typers.delete(user);
    this.renderTyping();
  }

  private clearTypers(): void {
    for (const t of this.typers.values()) clearTimeout(t);
    this.typers.clear();
    this.renderTyping();
  }

  private renderTyping(): void {
    $("typing").textContent = formatTyping([...this.typers.keys()]);
  }

  // ---- composing --------------------------------------------------------------------------------

  onInput(text: string): void {
    if (!this.current || !this.client.connected) return;
    const now = Date.now();
    if (text === "") {
      if (this.typingSentAt) this.client.typing(this.current, false);
      this.typingSentAt = 0;
    } else if (now - this.typingSentAt > TYPING_THROTTLE_MS) {
      this.typingSentAt = now;
      this.client.typing(this.current, true);
    }
  }

  async send(text: string): Promise<void> {
    const conv = this.current;
    if (!conv || !text) return;
    if (this.typingSentAt) this.client.typing(conv, false);
    this.typingSentAt = 0;
    const cid = crypto.randomUUID();
    // Shown at once with "…"; the stored message replaces it when the server acknowledges.
    const pending = el("div", "msg own pending");
    pending.dataset.cid = cid;
    pending.append(el("span", "text", text), el("span", "meta"));
    pending.querySelector(".meta")!.append(el("span", "ticks pending", "…"));
    $("messages").append(pending);
    $("messages").scrollTop = $("messages").scrollHeight;
    await this.client.send(conv, text, { cid });
  }

  async sendImage(file: File): Promise<void> {
    const conv = this.current;
    if (!conv) return;
    const media = await this.client.uploadMedia(new Uint8Array(await file.arrayBuffer()), file.type || "application/octet-stream");
    await this.client.send(conv, "", { media });
  }

  error(e: unknown): void {
    const text = e instanceof ProtocolError ? `${e.message} (code ${e.code})` : e instanceof Error ? e.message : String(e);
    $("chat-error").textContent = text;
  }
}

// ---- start --------------------------------------------------------------------------------------

async function start(cfg: AppConfig, token: () => Promise<string>): Promise<App> {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${cfg.wsPath}`;
  let cursors: Record<string, number> = {};
  try {
    cursors = JSON.parse(store.getItem("msgr.cursors") ?? "{}") as Record<string, number>;
  } catch {
    // Unreadable: start over (the server sends the backlog again).
  }
  const client = new Client({ url, token, cursors, clientName: "msgr-web" });
  const app = new App(client);
  window.addEventListener("pagehide", () => app.saveCursors());
  await client.connect();
  $("signin").hidden = true;
  $("app").hidden = false;

  $<HTMLFormElement>("new-chat").onsubmit = (ev) => {
    ev.preventDefault();
    const f = ev.target as HTMLFormElement;
    const user = (f.elements.namedItem("user") as HTMLInputElement).value.trim();
    app.openDirect(user).then(() => f.reset(), (e) => app.error(e));
  };
  $<HTMLFormElement>("new-group").onsubmit = (ev) => {
    ev.preventDefault();
    const f = ev.target as HTMLFormElement;
    const title = (f.elements.namedItem("title") as HTMLInputElement).value.trim();
    const members = (f.elements.namedItem("members") as HTMLInputElement).value.split(",").map((s) => s.trim()).filter(Boolean);
    app.createGroup(title, members).then(() => f.reset(), (e) => app.error(e));
  };
  const text = $<HTMLInputElement>("text");
  text.oninput = () => app.onInput(text.value);
  $<HTMLFormElement>("composer").onsubmit = (ev) => {
    ev.preventDefault();
    const value = text.value;
    text.value = "";
    app.send(value).catch((e) => app.error(e));
  };
  const file = $<HTMLInputElement>("file");
  file.onchange = () => {
    const f = file.files?.[0];
    file.value = "";
    if (f) app.sendImage(f).catch((e) => app.error(e));
  };
  $("messages").onscroll = () => void app.onScroll().catch((e) => app.error(e));
  $("signout").onclick = () => {
    client.close();
    store.removeItem("msgr.user");
    store.removeItem("msgr.token");
    store.removeItem("msgr.cursors");
    location.reload();
  };
  return app;
}

async function main(): Promise<void> {
  const cfg = (await (await fetch("config.json")).json()) as AppConfig;
  const device = tabDevice();
  const showError = (e: unknown) => ($("signin-error").textContent = e instanceof Error ? e.message : String(e));
  const savedUser = store.getItem("msgr.user");
  const savedToken = store.getItem("msgr.token");
  if (cfg.devSignIn && savedUser) return void start(cfg, () => devToken(cfg, savedUser, device)).catch(showError);
  if (!cfg.devSignIn && savedToken) return void start(cfg, async () => savedToken).catch(showError);

  $("signin").hidden = false;
  const form = $<HTMLFormElement>(cfg.devSignIn ? "dev-form" : "token-form");
  form.hidden = false;
  form.onsubmit = (ev) => {
    ev.preventDefault();
    $("signin-error").textContent = "";
    if (cfg.devSignIn) {
      const user = (form.elements.namedItem("user") as HTMLInputElement).value.trim();
      start(cfg, () => devToken(cfg, user, device)).then(() => store.setItem("msgr.user", user), showError);
    } else {
      const token = (form.elements.namedItem("token") as HTMLTextAreaElement).value.trim();
      start(cfg, async () => token).then(() => store.setItem("msgr.token", token), showError);
    }
  };
}

void main();
