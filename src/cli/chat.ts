// The terminal client: a readline front end over the public SDK. One current conversation
// receives plain lines; slash commands manage conversations. Formatting lives in chat-view.ts.
//
// Screen layout (on a TTY): output lines scroll above a one-line status area (who is typing)
// and the prompt. Every write goes through `Screen`, which erases the status area and the
// prompt, prints, and redraws them with the user's unfinished input intact.

import { homedir } from "node:os";
import { basename } from "node:path";
import * as readline from "node:readline";
import { E2eeClient } from "../sdk/e2ee.ts";
import {
  ConversationMessages,
  ConvType,
  Method,
  MessageKind,
  ProtocolError,
  SystemOp,
  type ChatSettings,
  type ConvInfo,
  type ShownMessage,
  type MlsGroupInfo,
  type Invitation,
  type PresenceInfo,
  type ReceiptPush,
  type TypingPush,
  type WireMessage,
} from "../sdk/index.ts";
import {
  aggregatesFromInfo,
  ansi,
  contentTypeFor,
  convLabel,
  decodeSystem,
  expandHome,
  formatChatSettings,
  formatDuration,
  formatError,
  formatInvitation,
  formatListEntry,
  formatMember,
  formatMessage,
  formatNewMessageNotice,
  formatPresenceChange,
  formatPrivacy,
  formatPrompt,
  formatSafetyNumber,
  formatTyping,
  formatUserList,
  HELP,
  parseCommand,
  parseDuration,
  parseGroupArgs,
  parsePrivacyArgs,
  parseSeqArgs,
  parseUserList,
  peersOf,
  tickRank,
  tickState,
  type Aggregates,
  type ParsedCommand,
  type TickState,
} from "./chat-view.ts";
import { diagnoseConnection } from "./diagnose.ts";
import { FileMlsStorage } from "./mls-file-storage.ts";
import { rowsOf, Transcript } from "./transcript.ts";

export interface ChatOptions {
  url: string;
  user: string;
  device: string;
  token: () => Promise<string>;
  /** The key file tokens are signed with (named when the server refuses them). */
  keyFile?: string;
  /** Where this device keeps its end-to-end encryption state (its MLS keys and groups): private to it. */
  mlsDir: string;
}

/** Send `typing on` at most this often while the user keeps typing. */
const TYPING_THROTTLE_MS = 3_000;
/** Forget someone's typing indicator after this long without a refresh. */
const TYPING_EXPIRY_MS = 5_000;
/** Messages shown when switching to a conversation. */
const SWITCH_BACKLOG = 10;
const HISTORY_PAGE = 20;

interface ConvState {
  id: string;
  info: ConvInfo | undefined;
  /** Every message this run has seen, with edits, reactions and deletions applied. */
  view: ConversationMessages;
  /** The view's messages by seq (edits and reactions are applied to them, not kept). */
  messages: Map<number, ShownMessage>;
  /** When the next disappearing message is due to go from the screen. */
  expiryTimer: ReturnType<typeof setTimeout> | null;
  /** My read marker. */
  read: number;
  agg: Aggregates;
  /** Latest own message. */
  lastOwnSeq: number;
  /** Own messages printed since switching here, with the ticks their line shows. */
  shownTicks: Map<number, TickState>;
  /** Lowest seq printed since switching here (for /history). */
  oldestShown: number;
}

/** An output line that can be rewritten later (a message whose ticks change). */
interface KeyedLine {
  key: string;
  text: string;
}

/** Output above a readline prompt, with a one-line status area between them. */
class Screen {
  private statusShown = "";
  status = "";
  private readonly transcript = new Transcript();

  constructor(
    private readonly rl: readline.Interface,
    private readonly out: NodeJS.WriteStream,
    readonly tty: boolean,
    readonly color: boolean,
  ) {}

  /** Moves to the first row of what is drawn below the scrollback and erases it. */
  private erase(): void {
    let rows = 0;
    try {
      rows = this.rl.getCursorPos().rows;
    } catch {
      rows = 0;
    }
    if (rows > 0) readline.moveCursor(this.out, 0, -rows);
    readline.cursorTo(this.out, 0);
    if (this.statusShown) readline.moveCursor(this.out, 0, -1);
    readline.clearScreenDown(this.out);
    this.statusShown = "";
  }

  private drawStatusAndPrompt(): void {
    if (this.status) {
      this.out.write(`${this.color ? ansi.dim(this.status) : this.status}\n`);
      this.statusShown = this.status;
    }
    this.rl.prompt(true);
  }

  /** Prints lines above the status area and the prompt; keyed ones can be rewritten later. */
  print(...lines: (string | KeyedLine)[]): void {
    if (this.tty) this.erase();
    for (const l of lines) {
      const text = typeof l === "string" ? l : l.text;
      this.transcript.add(text, typeof l === "string" ? undefined : l.key);
      this.out.write(`${text}\n`);
    }
    if (this.tty) this.drawStatusAndPrompt();
  }

  /**
   * Rewrites the line printed for `key` in place (its ticks changed). False when it cannot be:
   * not a terminal, scrolled off the screen, or never printed.
   */
  rewrite(key: string, text: string): boolean {
    if (!this.tty) return false;
    const cols = this.out.columns || 80;
    const below = (this.status ? 1 : 0) + rowsOf(this.rl.getPrompt() + this.rl.line, cols);
    const place = this.transcript.placeFor(key, text, cols, this.out.rows || 24, below);
    if (!place) return false;
    this.erase();
    readline.moveCursor(this.out, 0, -place.up);
    readline.cursorTo(this.out, 0);
    // Same number of rows as before: overwrite, and clear what a longer old text left.
    this.out.write(`${text}\x1b[K`);
    readline.moveCursor(this.out, 0, place.up - place.rows + 1);
    readline.cursorTo(this.out, 0);
    this.drawStatusAndPrompt();
    this.transcript.replace(key, text);
    return true;
  }

  /** Replaces the status line (empty hides it). */
  setStatus(text: string): void {
    if (text === this.status) return;
    this.status = text;
    if (!this.tty) {
      if (text) this.out.write(`${text}\n`);
      return;
    }
    this.erase();
    this.drawStatusAndPrompt();
  }

  setPrompt(prompt: string): void {
    this.rl.setPrompt(prompt);
    if (this.tty) {
      this.erase();
      this.drawStatusAndPrompt();
    }
  }

  /**
   * Called when the user pressed Enter: readline left the finished input on screen with the cursor
   * below it. Erases it (and the status above it); `keep` reprints it as an ordinary output line.
   */
  lineEntered(prompt: string, line: string, keep: boolean): void {
    if (!this.tty) return;
    const cols = this.out.columns || 80;
    const rows = Math.floor((prompt.length + line.length) / cols) + 1;
    readline.moveCursor(this.out, 0, -rows);
    readline.cursorTo(this.out, 0);
    if (this.statusShown) readline.moveCursor(this.out, 0, -1);
    readline.clearScreenDown(this.out);
    this.statusShown = "";
    if (keep) {
      this.transcript.add(`${prompt}${line}`);
      this.out.write(`${prompt}${line}\n`);
    }
    this.drawStatusAndPrompt();
  }
}

export async function runChat(opts: ChatOptions): Promise<void> {
  const me = opts.user;
  const input = process.stdin;
  const output = process.stdout;
  const tty = Boolean(input.isTTY && output.isTTY);
  const color = Boolean(output.isTTY) && !process.env.NO_COLOR;

  readline.emitKeypressEvents(input);
  const rl = readline.createInterface({ input, output, terminal: tty, prompt: formatPrompt(null), historySize: 200 });
  const screen = new Screen(rl, output, tty, color);
  // End-to-end encryption (MLS) wraps the client: messages of encrypted conversations arrive
  // decrypted, and sends to them go encrypted; plain conversations pass through.
  const e2ee = await E2eeClient.create({ url: opts.url, token: opts.token, clientName: "msgr-cli" }, { storage: new FileMlsStorage(opts.mlsDir) });
  const client = e2ee.client;

  const convs = new Map<string, ConvState>();
  let current: string | null = null;
  const presence = new Map<string, PresenceInfo>();
  let watched: string[] = [];
  const typers = new Map<string, ReturnType<typeof setTimeout>>();
  let typingSentAt = 0;
  let typingConv: string | null = null;
  let online = false;
  let initialSyncDone = false;
  let convListLoad: Promise<void> = Promise.resolve();
  let quitting = false;
  /** /dm or /group commands in flight (their conversation push is not news). */
  let creating = 0;
  /** Pending group invitations, in the order /invites numbers them. */
  let invitations: Invitation[] = [];

  const say = (...lines: (string | KeyedLine)[]) => screen.print(...lines);
  const note = (text: string) => say(color ? ansi.dim(text) : text);
  const report = (e: unknown) => say(color ? ansi.red(formatError(e)) : formatError(e));
  /** Runs a promise for its side effects; failures are printed, never thrown. */
  const guard = (p: Promise<unknown>, quiet = false) => {
    p.catch((e) => {
      if (!quiet && !quitting) report(e);
    });
  };

  // ---- conversation state ---------------------------------------------------------------------

  function state(id: string): ConvState {
    let c = convs.get(id);
    if (!c) {
      const view = new ConversationMessages();
      c = {
        id,
        info: undefined,
        view,
        messages: view.bySeq,
        expiryTimer: null,
        read: 0,
        agg: { allDelivered: 0, allRead: 0 },
        lastOwnSeq: 0,
        shownTicks: new Map(),
        oldestShown: Infinity,
      };
      convs.set(id, c);
    }
    return c;
  }

  function setInfo(info: ConvInfo): ConvState {
    const c = state(info.id);
    c.info = info;
    c.agg = aggregatesFromInfo(info, me);
    const mine = info.members.find((m) => m.user === me);
    if (mine) c.read = Math.max(c.read, mine.read);
    return c;
  }

  /** A conversation's name, with a lock when it is end-to-end encrypted on this device. */
  const label = (id: string) => convLabel(convs.get(id)?.info, me, id) + (e2ee.isEncrypted(id) ? " 🔒" : "");

  /**
   * New conversations are end-to-end encrypted when every other member has a device that can be
   * added (one with KeyPackages on the server, i.e. an encrypting client); otherwise they stay
   * plain, and the user is told whose client does not encrypt. `force`: encrypt anyway (/encrypt),
   * leaving those devices unable to read.
   */
  /** Conversations this client is encrypting now (encryptNew says so itself). */
  const founding = new Set<string>();
  async function encryptNew(info: ConvInfo, force = false): Promise<string | undefined> {
    if (e2ee.isEncrypted(info.id)) return undefined;
    const g = (await client.request(Method.MlsGroup, { conv: info.id })) as MlsGroupInfo;
    // Another device founded the group: this one is added to it by a Welcome.
    if (g.group) return "(end-to-end encrypted by another device: this one joins when it is added)";
    const able = new Set(g.missing.map((d) => d.user));
    const plain = peersOf(info, me).filter((u) => !able.has(u));
    if (plain.length > 0 && !force) return `(not end-to-end encrypted: ${plain.join(", ")} ${plain.length === 1 ? "uses a client that does" : "use clients that do"} not encrypt; /encrypt to encrypt anyway)`;
    founding.add(info.id);
    const founded = await e2ee.encrypt(info.id).finally(() => founding.delete(info.id));
    if (!founded) return "(end-to-end encrypted by another device: this one joins when it is added)";
    return "(🔒 end-to-end encrypted: only the members' devices can read it; /safety to verify them)";
  }

  function unread(c: ConvState): number {
    let n = 0;
    for (const m of c.messages.values()) if (m.seq > c.read && m.from !== me && m.kind !== MessageKind.System) n++;
    return n;
  }

  /** Conversations in a stable order (the order /list numbers them). */
  const ordered = () => [...convs.values()].filter((c) => c.info);

  async function loadConversations(): Promise<void> {
    const list = await client.conversations();
    const ids = new Set(list.map((i) => i.id));
    for (const info of list) setInfo(info);
    for (const [id, c] of convs) if (c.info && !ids.has(id)) forget(id);
  }

  function forget(id: string): void {
    const c = convs.get(id);
    if (c?.expiryTimer) clearTimeout(c.expiryTimer);
    convs.delete(id);
    if (current === id) {
      current = null;
      clearTypers();
      screen.setPrompt(formatPrompt(null));
    }
  }

  async function ensureInfo(id: string): Promise<void> {
    if (convs.get(id)?.info) return;
    setInfo(await client.conversation(id));
  }

  // ---- read markers and ticks -----------------------------------------------------------------

  let readDue = new Map<string, number>();
  let readScheduled = false;
  /** Marks `seq` read; one receipt per conversation per turn however many lines were shown. */
  function markRead(c: ConvState, seq: number): void {
    if (seq <= c.read) return;
    c.read = seq;
    readDue.set(c.id, seq);
    if (readScheduled) return;
    readScheduled = true;
    setTimeout(() => {
      readScheduled = false;
      const due = readDue;
      readDue = new Map();
      for (const [conv, s] of due) guard(client.markRead(conv, s), true);
    }, 0);
  }

  /** A message's line, keyed so its ticks can be updated in place; own messages are remembered for that. */
  function lineFor(c: ConvState, m: WireMessage): KeyedLine {
    if (m.from === me && m.kind !== MessageKind.System) c.shownTicks.set(m.seq, tickState(m.seq, c.agg));
    return { key: `${c.id}:${m.seq}`, text: formatMessage(m, { me, agg: c.agg, color }) };
  }

  /** Ticks belong on the message they are about: rewrite the lines whose state went up. */
  function refreshTicks(c: ConvState): void {
    for (const [seq, shown] of c.shownTicks) {
      const now = tickState(seq, c.agg);
      const m = c.messages.get(seq);
      if (!m || tickRank(now) <= tickRank(shown)) continue;
      const line = lineFor(c, m);
      // Scrolled away: the latest own message is printed again with its ticks; older ones are
      // right whenever they are shown next.
      if (!screen.rewrite(line.key, line.text) && seq === c.lastOwnSeq) say(line);
    }
  }

  function onReceipt(r: ReceiptPush): void {
    const c = state(r.conv);
    c.agg = { allDelivered: r.allDelivered, allRead: r.allRead };
    if (r.user === me) c.read = Math.max(c.read, r.read);
    if (c.id === current) refreshTicks(c);
  }

  // ---- presence and typing --------------------------------------------------------------------

  async function watchPeers(): Promise<void> {
    const info = current ? convs.get(current)?.info : undefined;
    const peers = info ? peersOf(info, me) : [];
    if (peers.join("\n") === watched.join("\n")) return;
    watched = peers;
    const res = await client.watchPresence(peers);
    for (const p of res) presence.set(p.user, p);
  }

  function onPresence(p: PresenceInfo): void {
    const before = presence.get(p.user);
    presence.set(p.user, p);
    if (!watched.includes(p.user)) return;
    if (before && before.online === p.online && (p.online || before.lastSeen === p.lastSeen)) return;
    note(formatPresenceChange(p, Date.now()));
  }

  function clearTypers(): void {
    for (const t of typers.values()) clearTimeout(t);
    typers.clear();
    screen.setStatus("");
  }

  function dropTyper(user: string): void {
    const t = typers.get(user);
    if (!t) return;
    clearTimeout(t);
    typers.delete(user);
    screen.setStatus(formatTyping([...typers.keys()]));
  }

  function onTyping(t: TypingPush): void {
    if (t.conv !== current || t.user === me) return;
    if (!t.on) return dropTyper(t.user);
    const old = typers.get(t.user);
    if (old) clearTimeout(old);
    typers.set(
      t.user,
      setTimeout(() => dropTyper(t.user), TYPING_EXPIRY_MS),
    );
    screen.setStatus(formatTyping([...typers.keys()]));
  }

  /** Tells the current conversation I am typing (throttled), or that I stopped. */
  function localTyping(on: boolean): void {
    if (on) {
      if (!current || !client.connected) return;
      if (typingConv !== current) {
        if (typingConv) client.typing(typingConv, false);
        typingSentAt = 0;
      }
      const now = Date.now();
      if (now - typingSentAt < TYPING_THROTTLE_MS) return;
      typingSentAt = now;
      typingConv = current;
      client.typing(current, true);
    } else if (typingConv) {
      if (client.connected) client.typing(typingConv, false);
      typingConv = null;
      typingSentAt = 0;
    }
  }

  // ---- switching --------------------------------------------------------------------------------

  /** Makes `id` the current conversation and shows its latest messages. */
  function switchTo(id: string, headline?: string): void {
    if (current !== id) localTyping(false);
    clearTypers();
    current = id;
    const c = state(id);
    screen.setPrompt(formatPrompt(label(id)));
    const recent = [...c.messages.values()].sort((a, b) => a.seq - b.seq).slice(-SWITCH_BACKLOG);
    const lines: (string | KeyedLine)[] = [color ? ansi.bold(`── [${label(id)}] ──`) : `── [${label(id)}] ──`];
    if (headline) lines.push(headline);
    c.shownTicks.clear();
    for (const m of recent) lines.push(lineFor(c, m));
    c.oldestShown = recent[0]?.seq ?? (c.info?.lastSeq ?? 0) + 1;
    say(...lines);
    const last = recent[recent.length - 1];
    if (last) markRead(c, last.seq);
    // Nothing of it arrived in this run (a restarted client resumes where it stopped): show the latest.
    if (recent.length === 0 && (c.info?.lastSeq ?? 0) > 0) guard(backfill(c));
    guard(
      watchPeers().then(() => {
        if (current !== id || !c.info || c.info.type !== ConvType.Direct) return;
        const peer = peersOf(c.info, me)[0];
        if (peer) note(formatPresenceChange(presence.get(peer) ?? { user: peer, online: false, lastSeen: 0 }, Date.now()));
      }),
    );
  }

  /** Fills a conversation with its latest messages: kept decrypted on this device when encrypted, from HISTORY when plain. */
  async function backfill(c: ConvState): Promise<void> {
    const latest = e2ee.isEncrypted(c.id)
      ? e2ee.recent(c.id).slice(-SWITCH_BACKLOG)
      : (await client.history(c.id, (c.info?.lastSeq ?? 0) + 1, SWITCH_BACKLOG)).messages.filter((m) => m.kind !== MessageKind.MlsCommit);
    if (current !== c.id || c.messages.size > 0 || latest.length === 0) return;
    for (const m of [...latest].sort((a, b) => a.seq - b.seq)) c.view.apply(m);
    const shown = [...c.messages.values()].sort((a, b) => a.seq - b.seq);
    if (shown.length === 0) return;
    c.oldestShown = shown[0]!.seq;
    say(...shown.map((m) => lineFor(c, m)));
    markRead(c, latest.reduce((n, m) => Math.max(n, m.seq), 0));
  }

  function currentConv(): ConvState {
    const c = current ? convs.get(current) : undefined;
    if (!c) throw new Error("no current conversation: use /dm USER, /group TITLE USERS or /switch");
    return c;
  }

  function findConv(key: string): ConvState | undefined {
    const list = ordered();
    if (/^\d+$/.test(key)) {
      const byIndex = list[Number(key) - 1];
      if (byIndex) return byIndex;
    }
    const byId = convs.get(key);
    if (byId?.info) return byId;
    const direct = list.find((c) => c.info!.type === ConvType.Direct && peersOf(c.info!, me)[0] === key);
    if (direct) return direct;
    return list.find((c) => c.info!.type === ConvType.Group && c.info!.title === key);
  }

  // ---- incoming -----------------------------------------------------------------------------

  /** Shows what became of message `seq` on its own line, or prints it again when that line is gone from the screen. */
  function refreshLine(c: ConvState, seq: number): void {
    const m = c.messages.get(seq);
    if (!m || c.id !== current) return;
    const line = lineFor(c, m);
    if (!screen.rewrite(line.key, line.text)) say(line);
  }

  /** Disappearing messages leave the screen when their time comes. */
  function scheduleExpiry(c: ConvState): void {
    if (c.expiryTimer) clearTimeout(c.expiryTimer);
    c.expiryTimer = null;
    const next = c.view.nextExpiry();
    if (next === undefined) return;
    c.expiryTimer = setTimeout(() => {
      c.expiryTimer = null;
      for (const seq of c.view.expire(Date.now())) refreshLine(c, seq);
      scheduleExpiry(c);
    }, Math.max(0, next - Date.now()));
  }

  function onMessage(m: WireMessage): void {
    const c = state(m.conv);
    // An edit, a reaction or a deletion changes an earlier message rather than adding one.
    const changed = c.view.apply(m);
    if (m.exp !== undefined) scheduleExpiry(c);
    const about = m.kind === MessageKind.Edit || m.kind === MessageKind.Reaction;
    if (m.from === me && m.kind !== MessageKind.System && !about && m.seq > c.lastOwnSeq) c.lastOwnSeq = m.seq;
    // The first backlog after start is history, not news: it is shown on switching.
    if (!initialSyncDone) return;
    if (m.conv === current) {
      if (m.from !== me) dropTyper(m.from);
      for (const seq of changed) {
        if (seq === m.seq) say(lineFor(c, c.messages.get(seq)!));
        else refreshLine(c, seq);
      }
      showThumbnailLink(m);
      if (m.from !== me) markRead(c, m.seq);
      return;
    }
    if (m.from === me || m.kind === MessageKind.System || about) return;
    guard(
      ensureInfo(m.conv).then(() => {
        if (current === null) switchTo(m.conv);
        else if (current !== m.conv) {
          note(formatNewMessageNotice(label(m.conv), c.info?.type === ConvType.Group ? m.from : null, unread(c)));
        }
      }),
    );
  }

  /** Messages this user hid (delete for me), here or on another device. */
  function onHidden(conv: string, seqs: number[]): void {
    const c = convs.get(conv);
    if (!c) return;
    for (const seq of c.view.remove(seqs)) refreshLine(c, seq);
  }

  /** This user's own settings of each conversation, as the server has them. */
  const chatSettings = new Map<string, ChatSettings>();

  /** The message `seq` of `c`: from what this run has seen, else from the server. */
  async function messageAt(c: ConvState, seq: number): Promise<WireMessage> {
    const known = c.messages.get(seq);
    if (known) return known;
    const [m] = (await client.history(c.id, seq + 1, 1)).messages;
    if (!m || m.seq !== seq) throw new Error(`no message #${seq} here`);
    return m;
  }

  /** `N|ID|USER` of another conversation, as /switch takes it. */
  async function conversationNamed(key: string): Promise<ConvState> {
    let c = findConv(key);
    if (!c && !/^\d+$/.test(key)) {
      await loadConversations();
      c = findConv(key);
    }
    if (!c) throw new Error(`no conversation ${JSON.stringify(key)} (see /list)`);
    return c;
  }

  const seqUsage = (name: string, what: string) => new Error(`usage: /${name} N ${what}  (N: the #number of a message)`);

  /** Users invited instead of added (their privacy settings ask for it), as a note; undefined when none. */
  function invitedNote(invited: string[]): string | undefined {
    return invited.length > 0 ? `(${invited.join(", ")} ${invited.length === 1 ? "was" : "were"} sent an invitation: their settings ask for one)` : undefined;
  }

  /** An invitation by its /invites number or conversation id. */
  async function findInvitation(key: string | undefined): Promise<Invitation> {
    if (!key) throw new Error("usage: /accept N|ID  (see /invites)");
    if (invitations.length === 0) invitations = await client.invitations();
    const inv = /^\d+$/.test(key) ? invitations[Number(key) - 1] : invitations.find((i) => i.conv === key);
    if (!inv) throw new Error(`no invitation ${JSON.stringify(key)} (see /invites)`);
    return inv;
  }

  /** `/report USER REASON` names a member of the current conversation; `/report REASON`, the direct peer. */
  function reportTarget(args: string[]): { user: string; reason: string } {
    const info = currentConv().info;
    if (args.length >= 2 && info?.members.some((m) => m.user === args[0] && m.user !== me)) return { user: args[0]!, reason: args.slice(1).join(" ") };
    const peer = info?.type === ConvType.Direct ? peersOf(info, me)[0] : undefined;
    if (!peer || args.length === 0) throw new Error("usage: /report [USER] REASON  (USER: a member here; default: the direct peer)");
    return { user: peer, reason: args.join(" ") };
  }

  /** A thumbnail announcement comes with a link to open it. */
  function showThumbnailLink(m: WireMessage): void {
    if (m.kind !== MessageKind.System) return;
    const ev = decodeSystem(m.body);
    if (ev?.op !== SystemOp.ThumbnailReady || !ev.thumb) return;
    guard(client.mediaUrl(ev.thumb).then((u) => note(`  thumbnail: ${u.url}`)));
  }

  function onConversation(push: { conv: ConvInfo; removed: boolean }): void {
    const id = push.conv.id;
    const known = convs.get(id)?.info;
    if (push.removed) {
      if (known) note(`(you are no longer a member of [${label(id)}])`);
      forget(id);
      if (id === current) guard(watchPeers(), true);
      return;
    }
    const c = setInfo(push.conv);
    // A conversation this client is creating itself is opened by the command.
    if (!known && initialSyncDone && creating === 0) {
      if (current === null) switchTo(id);
      else note(`(new conversation [${label(id)}] – /switch ${ordered().indexOf(c) + 1})`);
    }
    if (id === current) {
      screen.setPrompt(formatPrompt(label(id)));
      guard(watchPeers());
    }
  }

  async function afterInitialSync(): Promise<void> {
    try {
      await convListLoad;
    } catch (e) {
      report(e);
    }
    initialSyncDone = true;
    const list = ordered();
    if (list.length === 0) {
      note("no conversations yet: /dm USER to start one, /help for commands");
      return;
    }
    const lines = [`${list.length} conversation${list.length === 1 ? "" : "s"}:`];
    list.forEach((c, i) => lines.push(formatListEntry(i + 1, c.info!, me, unread(c), false)));
    say(...lines);
    if (current) return;
    // Open the conversation with the latest activity.
    const lastTs = (c: ConvState) => Math.max(0, ...[...c.messages.values()].map((m) => m.ts));
    const latest = [...list].sort((a, b) => lastTs(b) - lastTs(a))[0]!;
    switchTo(latest.id);
  }

  // ---- commands -----------------------------------------------------------------------------

  async function command(cmd: ParsedCommand): Promise<void> {
    const { name, args, rest } = cmd;
    switch (name) {
      case "help":
      case "h":
      case "?":
        return say(HELP);
      case "quit":
      case "q":
      case "exit":
        return quit();
      case "dm": {
        const user = args[0];
        if (!user || args.length > 1) throw new Error("usage: /dm USER");
        creating++;
        const info = await client.openDirect(user).finally(() => creating--);
        setInfo(info);
        return switchTo(info.id, await encryptNew(info));
      }
      case "group": {
        const g = parseGroupArgs(args);
        if (!g) throw new Error("usage: /group TITLE USER1,USER2,...");
        creating++;
        const info = await client.createGroup(g.title, g.members).finally(() => creating--);
        setInfo(info);
        const notes = [invitedNote(info.invited), await encryptNew(info)].filter((n) => n !== undefined);
        return switchTo(info.id, notes.length > 0 ? notes.join("\n") : undefined);
      }
      case "add": {
        const users = parseUserList(args);
        if (users.length === 0) throw new Error("usage: /add USER[,USER...]");
        // The encrypting client also adds their devices to the MLS group.
        const { invited } = await e2ee.addMembers(currentConv().id, users);
        if (invited.length > 0) note(invitedNote(invited)!);
        return;
      }
      case "kick": {
        const user = args[0];
        if (!user) throw new Error("usage: /kick USER");
        await e2ee.removeMember(currentConv().id, user);
        return;
      }
      case "leave": {
        const c = currentConv();
        const name = label(c.id);
        await client.removeMember(c.id, me);
        // The conversation push may have closed it already.
        if (convs.has(c.id)) {
          note(`(you are no longer a member of [${name}])`);
          forget(c.id);
        }
        return;
      }
      case "rename": {
        if (!rest) throw new Error("usage: /rename TITLE");
        await client.renameGroup(currentConv().id, rest);
        return;
      }
      case "admin": {
        const user = args[0];
        if (!user) throw new Error("usage: /admin USER [off]");
        const off = ["off", "no", "false", "-"].includes((args[1] ?? "").toLowerCase());
        await client.setAdmin(currentConv().id, user, !off);
        return;
      }
      case "list":
      case "ls": {
        await loadConversations();
        const list = ordered();
        if (list.length === 0) return note("no conversations yet: /dm USER to start one");
        return say(...list.map((c, i) => formatListEntry(i + 1, c.info!, me, unread(c), c.id === current)));
      }
      case "switch":
      case "s": {
        const key = rest;
        if (!key) throw new Error("usage: /switch N|ID|USER");
        let c = findConv(key);
        if (!c && !/^\d+$/.test(key)) {
          await loadConversations();
          c = findConv(key);
        }
        if (!c) throw new Error(`no conversation ${JSON.stringify(key)} (see /list)`);
        return switchTo(c.id);
      }
      case "history": {
        const c = currentConv();
        const n = args[0] === undefined ? HISTORY_PAGE : Number(args[0]);
        if (!Number.isInteger(n) || n <= 0) throw new Error("usage: /history [N]");
        const before = Number.isFinite(c.oldestShown) ? c.oldestShown : (c.info?.lastSeq ?? 0) + 1;
        if (before <= 1) return note("(no earlier messages)");
        // An encrypted conversation's history is ciphertext on the server, and each message can
        // be decrypted once: what this device read is kept with its MLS state.
        const page = e2ee.isEncrypted(c.id)
          ? (() => {
              const older = e2ee.recent(c.id).filter((m) => m.seq < before);
              return { messages: older.slice(-Math.min(n, 200)), more: older.length > n };
            })()
          : await client.history(c.id, before, Math.min(n, 200));
        if (page.messages.length === 0) return note("(no earlier messages)");
        // Edits and reactions on the page are folded into the messages they are about.
        const folded = new ConversationMessages();
        for (const m of [...page.messages].sort((a, b) => a.seq - b.seq)) folded.apply(m);
        const msgs = [...folded.bySeq.values()].sort((a, b) => a.seq - b.seq);
        if (msgs.length === 0) return note("(no earlier messages)");
        c.oldestShown = Math.min(...page.messages.map((m) => m.seq));
        const head = `── ${msgs.length} earlier message${msgs.length === 1 ? "" : "s"} ──`;
        const tail = page.more ? "── /history for more ──" : "── beginning of the conversation ──";
        return say(color ? ansi.dim(head) : head, ...msgs.map((m) => lineFor(c, m)), color ? ansi.dim(tail) : tail);
      }
      case "image":
      case "file": {
        const c = currentConv();
        const [path, ...caption] = args;
        if (!path) throw new Error(`usage: /${name} PATH [CAPTION]`);
        const full = expandHome(path, homedir());
        const file = Bun.file(full);
        if (!(await file.exists())) throw new Error(`no file ${full}`);
        const type = contentTypeFor(full);
        note(`uploading ${full} (${file.size} bytes, ${type})…`);
        const data = new Uint8Array(await file.arrayBuffer());
        // Encrypted with a fresh key; the key travels inside the encrypted message.
        if (e2ee.isEncrypted(c.id)) await e2ee.sendFile(c.id, data, { contentType: type, name: basename(full), caption: caption.join(" ") });
        else await client.send(c.id, caption.join(" "), { media: await client.uploadMedia(data, type) });
        return;
      }
      case "media": {
        const id = args[0];
        if (!id) throw new Error("usage: /media ID");
        const u = await client.mediaUrl(id);
        return note(`${u.contentType}, ${u.size} bytes: ${u.url}${u.thumb ? `  (thumbnail: /media ${u.thumb})` : ""}`);
      }
      case "block":
      case "unblock": {
        const user = args[0];
        if (!user || args.length > 1) throw new Error(`usage: /${name} USER`);
        await (name === "block" ? client.block(user) : client.unblock(user));
        return note(name === "block" ? `(blocked ${user}: no direct messages, group adds, presence or typing between you)` : `(unblocked ${user})`);
      }
      case "blocked":
        return note(formatUserList("blocked", await client.blocked()));
      case "privacy": {
        if (args.length === 0) return say(...formatPrivacy(await client.privacy()));
        const change = parsePrivacyArgs(args);
        if (typeof change === "string") throw new Error(change);
        return say(...formatPrivacy(await client.setPrivacy(change)));
      }
      case "contacts": {
        const [verb, ...rest] = args;
        if (verb === "add" || verb === "remove") {
          const users = parseUserList(rest);
          if (users.length === 0) throw new Error(`usage: /contacts ${verb} USER[,USER...]`);
          await (verb === "add" ? client.addContacts(users) : client.removeContacts(users));
        } else if (verb !== undefined) throw new Error("usage: /contacts [add|remove USER...]");
        return note(formatUserList("contacts", await client.contacts()));
      }
      case "invites": {
        invitations = await client.invitations();
        if (invitations.length === 0) return note("(no invitations)");
        const now = Date.now();
        return say("invitations (/accept N, /decline N):", ...invitations.map((i, n) => formatInvitation(n + 1, i, now)));
      }
      case "accept": {
        const inv = await findInvitation(args[0]);
        creating++;
        await client.acceptInvitation(inv.conv).finally(() => creating--);
        invitations = invitations.filter((i) => i.conv !== inv.conv);
        await ensureInfo(inv.conv);
        return switchTo(inv.conv, `(you joined [${label(inv.conv)}])`);
      }
      case "decline": {
        const inv = await findInvitation(args[0]);
        await client.declineInvitation(inv.conv);
        invitations = invitations.filter((i) => i.conv !== inv.conv);
        return note(`(declined the invitation to [${inv.title}])`);
      }
      case "link": {
        const approval = args[0] === "approve";
        const link = await client.createInviteLink(currentConv().id, approval);
        return note(`invite link${approval ? " (joins wait for an admin: /requests)" : ""}: /join ${link.token}`);
      }
      case "links": {
        const links = await client.inviteLinks(currentConv().id);
        return note(links.length === 0 ? "(no invite links)" : links.map((l) => `/join ${l.token}${l.approval ? "  (approval)" : ""}`).join("\n"));
      }
      case "unlink": {
        if (!args[0]) throw new Error("usage: /unlink TOKEN");
        await client.revokeInviteLink(currentConv().id, args[0]);
        return note("(link revoked)");
      }
      case "join": {
        if (!args[0]) throw new Error("usage: /join TOKEN");
        creating++;
        const r = await client.joinByLink(args[0]).finally(() => creating--);
        if (r.pending) return note("(asked to join: an admin will decide)");
        await ensureInfo(r.conv);
        return switchTo(r.conv, `(you joined [${label(r.conv)}])`);
      }
      case "requests": {
        const requests = await client.joinRequests(currentConv().id);
        return note(requests.length === 0 ? "(no join requests)" : formatUserList("asking to join (/approve USER, /deny USER)", requests.map((r) => r.user)));
      }
      case "approve":
      case "deny": {
        if (!args[0]) throw new Error(`usage: /${name} USER`);
        await client.answerJoinRequest(currentConv().id, args[0], name === "approve");
        return;
      }
      case "report": {
        const c = currentConv();
        const { user, reason } = reportTarget(args);
        // Your own copies: the server may not be able to read its own (end-to-end encryption).
        const copies = [...c.messages.values()]
          .filter((m) => m.kind !== MessageKind.System)
          .sort((a, b) => a.seq - b.seq)
          .slice(-10)
          .map((m) => ({ conv: m.conv, seq: m.seq, from: m.from, ts: m.ts, kind: m.kind, body: m.body }));
        const id = await client.report({ user, reason, messages: copies });
        return note(`(reported ${user} with ${copies.length} message${copies.length === 1 ? "" : "s"}: report ${id})`);
      }
      case "encrypt": {
        const c = currentConv();
        if (e2ee.isEncrypted(c.id)) return note("(already end-to-end encrypted)");
        await ensureInfo(c.id);
        const n = await encryptNew(c.info!, true);
        screen.setPrompt(formatPrompt(label(c.id)));
        return note(n!);
      }
      case "safety": {
        const c = currentConv();
        if (!e2ee.isEncrypted(c.id)) throw new Error("this conversation is not end-to-end encrypted (/encrypt turns it on)");
        await ensureInfo(c.id);
        const users = args.length > 0 ? args : peersOf(c.info!, me);
        const lines: string[] = [];
        for (const u of users) {
          if (e2ee.fingerprint(c.id, u).length === 0) lines.push(`${u} has no device in this conversation's encryption yet`);
          else lines.push(formatSafetyNumber(u, (await e2ee.safetyNumber(c.id, u))!));
        }
        return say(...lines, color ? ansi.dim("compare them with each person, in person or on a call: a different number means a different device") : "compare them with each person, in person or on a call: a different number means a different device");
      }
      case "reply":
      case "edit": {
        const a = parseSeqArgs(rest);
        if (!a || !a.text) throw seqUsage(name, "TEXT");
        const c = currentConv();
        await (name === "reply" ? client.reply(c.id, a.seq, a.text) : client.edit(c.id, a.seq, a.text));
        return;
      }
      case "react": {
        const a = parseSeqArgs(rest);
        if (!a) throw seqUsage(name, "[EMOJI]");
        await client.react(currentConv().id, a.seq, a.text);
        return;
      }
      case "delete": {
        const a = parseSeqArgs(rest);
        if (!a || a.text) throw seqUsage(name, "");
        const removed = await client.deleteForEveryone(currentConv().id, a.seq);
        if (removed === 0) note(`(#${a.seq} was deleted already)`);
        return;
      }
      case "hide": {
        const seqs = parseUserList(args).map((x) => Number(x.replace(/^#/, "")));
        if (seqs.length === 0 || !seqs.every((n) => Number.isSafeInteger(n) && n >= 1)) throw seqUsage(name, "[,N...]");
        await client.hide(currentConv().id, seqs);
        return;
      }
      case "forward": {
        const a = parseSeqArgs(rest);
        if (!a || !a.text) throw seqUsage(name, "TO  (TO: a /list number, conversation id or user)");
        const c = currentConv();
        const to = await conversationNamed(a.text);
        const m = await messageAt(c, a.seq);
        await client.forward(m, to.id);
        return note(`(forwarded #${a.seq} to [${label(to.id)}])`);
      }
      case "timer": {
        const sec = args.length === 1 ? parseDuration(args[0]!) : null;
        if (sec === null) throw new Error("usage: /timer DURATION|off  (30s, 5m, 1h, 7d)");
        await client.setTimer(currentConv().id, sec);
        return;
      }
      case "mute": {
        const sec = args.length === 0 ? -1 : args.length === 1 ? parseDuration(args[0]!) : null;
        if (sec === null) throw new Error("usage: /mute [DURATION|off]  (no DURATION: until you unmute)");
        const muteUntil = sec < 0 ? Number.MAX_SAFE_INTEGER : sec === 0 ? 0 : Date.now() + sec * 1000;
        await client.setChatSettings(currentConv().id, { muteUntil });
        return;
      }
      case "pin":
      case "archive":
      case "unread": {
        const off = ["off", "no", "false", "-"].includes((args[0] ?? "").toLowerCase());
        const key = name === "pin" ? "pinned" : name === "archive" ? "archived" : "unread";
        await client.setChatSettings(currentConv().id, { [key]: !off });
        return;
      }
      case "settings": {
        const c = currentConv();
        return note(`(settings of [${label(c.id)}]: ${formatChatSettings(chatSettings.get(c.id) ?? { conv: c.id, muteUntil: 0, archived: false, pinned: false, unread: false }, Date.now())}${c.info?.timer ? `; disappearing messages: ${formatDuration(c.info.timer)}` : ""})`);
      }
      case "who": {
        const c = currentConv();
        const info = await client.conversation(c.id);
        setInfo(info);
        await watchPeers();
        const now = Date.now();
        return say(
          `members of [${label(c.id)}]:`,
          ...info.members.map((m) => formatMember(m.user, m.admin, me, presence.get(m.user), now)),
        );
      }
      default:
        throw new Error(`unknown command /${name} (try /help)`);
    }
  }

  function sendLine(text: string): void {
    const c = currentConv();
    localTyping(false);
    if (!client.connected) note("(not connected: the message is sent when the connection is back)");
    guard(e2ee.send(c.id, text));
  }

  // ---- wiring -------------------------------------------------------------------------------

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  function quit(): void {
    if (quitting) return;
    quitting = true;
    localTyping(false);
    clearTypers();
    for (const c of convs.values()) if (c.expiryTimer) clearTimeout(c.expiryTimer);
    e2ee.close();
    if (tty) {
      // Leave the screen without a dangling prompt.
      readline.cursorTo(output, 0);
      readline.clearScreenDown(output);
    }
    rl.close();
    resolveDone();
  }

  /** Event handlers must not throw into the SDK's socket callbacks: print instead. */
  const safe =
    <T>(fn: (payload: T) => void) =>
    (payload: T) => {
      try {
        fn(payload);
      } catch (e) {
        report(e);
      }
    };
  e2ee.on("message", safe(onMessage));
  e2ee.on("alert", safe((a) => say(color ? ansi.red(`(security) [${label(a.conv)}] ${a.message}`) : `(security) [${label(a.conv)}] ${a.message}`)));
  e2ee.on("error", safe((e) => note(`(encryption: ${e.message})`)));
  e2ee.on(
    "group",
    safe((g) => {
      if (g.conv === current) screen.setPrompt(formatPrompt(label(g.conv)));
      if (!initialSyncDone || founding.has(g.conv)) return;
      if (g.joined && !g.left) note(`(🔒 [${label(g.conv)}] is end-to-end encrypted on this device)`);
      const others = [...g.added, ...g.removed].map((d) => d.user).filter((u) => u !== me);
      // A device that joins or leaves changes its user's safety number.
      if (!g.joined && others.length > 0) note(`(🔒 [${label(g.conv)}]: devices of ${[...new Set(others)].join(", ")} changed: /safety to verify)`);
    }),
  );
  client.on("receipt", safe(onReceipt));
  client.on("presence", safe(onPresence));
  client.on("typing", safe(onTyping));
  client.on("conversation", safe(onConversation));
  client.on("blocks", safe((b) => note(formatUserList("(block list changed) blocked", b.users))));
  client.on("privacy", safe((p) => say(...formatPrivacy(p))));
  client.on("hidden", safe((x) => onHidden(x.conv, x.seqs)));
  client.on(
    "chatSettings",
    safe((x) => {
      chatSettings.set(x.conv, x);
      note(`(settings of [${label(x.conv)}]: ${formatChatSettings(x, Date.now())})`);
    }),
  );
  client.on(
    "invitation",
    safe((i) => {
      invitations = invitations.filter((x) => x.conv !== i.invitation.conv);
      if (i.removed) return;
      invitations.push(i.invitation);
      note(`(${i.invitation.by} invites you to [${i.invitation.title}] – /accept ${invitations.length} or /decline ${invitations.length})`);
    }),
  );
  client.on(
    "joinRequest",
    safe((r) => {
      if (!r.removed) note(`(${r.request.user} asks to join [${label(r.request.conv)}] – /switch there, then /approve ${r.request.user} or /deny ${r.request.user})`);
    }),
  );
  client.on(
    "reset",
    safe((s) => {
      const c = convs.get(s.conv);
      if (!c) return;
      c.messages.clear();
      c.lastOwnSeq = 0;
      c.oldestShown = Infinity;
    }),
  );
  client.on("connected", (s) => {
    const wasOnline = online;
    online = true;
    lastDiagnosis = "";
    if (!wasOnline) note(`connected as ${s.user} (device ${s.device})`);
    convListLoad = loadConversations();
    guard(convListLoad, true);
    // Settings and "delete for me" made on other devices while this one was away.
    guard(
      client.chatSettings().then((all) => {
        for (const x of all.settings) chatSettings.set(x.conv, x);
        for (const x of all.hidden) onHidden(x.conv, x.seqs);
      }),
      true,
    );
    // Presence subscriptions belong to the connection: renew them.
    watched = [];
    if (current) guard(watchPeers(), true);
  });
  client.on("synced", () => {
    if (!initialSyncDone) guard(afterInitialSync());
  });
  /** Says why attempts fail (once per reason); stops when retrying cannot help. */
  let lastDiagnosis = "";
  async function explainFailure(): Promise<void> {
    const d = await diagnoseConnection(opts.url, await opts.token(), opts.keyFile);
    if (!d || quitting || client.connected) return;
    if (d.message !== lastDiagnosis) say(color ? ansi.red(`error: ${d.message}`) : `error: ${d.message}`);
    lastDiagnosis = d.message;
    if (d.fatal) {
      process.exitCode = 1;
      quit();
    }
  }

  client.on("disconnected", (d) => {
    if (quitting) return;
    // An attempt that never got connected: the handshake was refused or nobody answered.
    if (!online && d.willReconnect) guard(explainFailure(), true);
    const was = online;
    online = false;
    typingConv = null;
    typingSentAt = 0;
    if (!d.willReconnect) {
      say(`connection closed (${d.code}${d.reason ? `: ${d.reason}` : ""}) – not reconnecting`);
      quit();
      return;
    }
    if (was) say(`connection lost (${d.code}) – reconnecting…`);
  });

  // ---- input queue --------------------------------------------------------------------------
  // Lines run one after another in the order typed. While the connection is down, commands wait
  // for it to come back (instead of failing with "not connected"); messages go to the SDK's
  // outbox, which sends them once connected, so `/dm bob` then `hi` still reaches bob.

  let inputQueue: Promise<void> = Promise.resolve();
  const whenConnected = () =>
    client.connected ? Promise.resolve() : new Promise<void>((resolve) => void client.once("connected", () => resolve()));

  function enqueue(job: () => Promise<void> | void, waitFor: string | null): void {
    if (waitFor && !client.connected) note(`(not connected: ${waitFor} runs when the connection is back)`);
    inputQueue = inputQueue
      .then(async () => {
        if (waitFor) await whenConnected();
        if (!quitting) await job();
      })
      .catch((e) => {
        if (!quitting) report(e);
      });
  }

  /** Commands that need no server run at once, even while others wait for the connection. */
  const LOCAL_COMMANDS = new Set(["help", "h", "?", "quit", "q", "exit"]);

  rl.on("line", (line) => {
    if (quitting) return;
    const cmd = parseCommand(line);
    const prompt = rl.getPrompt();
    screen.lineEntered(prompt, line, cmd !== null || line.trim() === "");
    if (cmd) {
      if (LOCAL_COMMANDS.has(cmd.name)) command(cmd).catch(report);
      else enqueue(() => command(cmd), `/${cmd.name}`);
      return;
    }
    if (line.trim() === "") return;
    const text = line.startsWith("//") ? line.slice(1) : line;
    enqueue(() => sendLine(text), null);
  });
  rl.on("close", quit);
  rl.on("SIGINT", quit);
  input.on("keypress", (_s: string | undefined, key: { name?: string; ctrl?: boolean } | undefined) => {
    if (quitting || key?.name === "return" || key?.name === "enter") return;
    const line = rl.line;
    if (line.length > 0 && !line.startsWith("/")) localTyping(true);
    else if (line.length === 0) localTyping(false);
  });

  note(`connecting to ${opts.url} as ${me}…  (/help for commands)`);
  rl.prompt();
  try {
    await e2ee.connect();
  } catch (e) {
    if (e instanceof ProtocolError) {
      // The client keeps retrying with backoff; `connected` reports success.
      say(`could not connect: ${e.message} – retrying…`);
    } else {
      // No connection attempt was made (e.g. no token could be minted): nothing will retry.
      report(e);
      quit();
    }
  }
  await done;
}
