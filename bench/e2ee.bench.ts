// End-to-end encryption costs (MLS, docs/protocol.md §16), in one run, medians of several rounds:
//  1. client CPU per encrypt and per decrypt, in an encrypted 1:1 and in a group of 64 (ts-mls
//     with msgr's ciphersuite and client configuration, in this process);
//  2. the server's CPU per message, encrypted against plain, side by side on the same server
//     process (`msgr start`, embedded SQLite, storage.synchronous = normal, rate limits lifted):
//     the same users and devices send the same text in a plain and an encrypted conversation of
//     each size, and the server's CPU time is read from /proc (target: encrypted within 10%);
//     the receivers send no delivered receipts (they cost the same either way) and count what
//     arrives without decrypting; the server's idle CPU over each burst's time is subtracted;
//  3. adding one member to a group of 256: the committer's commit, an existing member processing
//     it, the new member joining from the Welcome, and the bytes each travels in.
// Run: bun bench/e2ee.bench.ts [--rounds 3] [--messages 200]

import { parseArgs } from "node:util";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  joinGroup,
  processMessage,
  processPrivateMessage,
  acceptAll,
  type ClientState,
  type KeyPackage,
  type PrivateKeyPackage,
} from "ts-mls";
import { encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { credentialIdentity } from "../src/proto/mls.ts";
import { E2eeClient, MemoryMlsStorage } from "../src/sdk/e2ee.ts";
import { Client } from "../src/sdk/index.ts";
import { ciphersuite, clientConfig } from "../src/sdk/mls/suite.ts";
import { childToken, startChild, type ChildServer } from "../test/helpers/child-server.ts";
import { unlimitedEnv } from "../test/helpers/limits.ts";
import { cpuMs } from "./lib/proc-stats.ts";

const { values: args } = parseArgs({ options: { rounds: { type: "string" }, messages: { type: "string" } } });
const ROUNDS = Number(args.rounds ?? 3);
const MESSAGES = Number(args.messages ?? 200);
const TEXT = new TextEncoder().encode("hello, this is a typical short chat message body");

const cs = await ciphersuite();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const ms = (t0: number) => (Bun.nanoseconds() - t0) / 1e6;

// ---- 1 and 3: the client's MLS work ---------------------------------------------------------------

async function keyPackage(i: number): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return generateKeyPackage({ credentialType: "basic", identity: credentialIdentity(`user${i}`, "d1") }, defaultCapabilities(), { notBefore: now - 60n, notAfter: now + 86_400n }, [], cs);
}

/** A group of `n`: its founder's state and one other member's (joined from the Welcome). */
async function group(n: number): Promise<{ founder: ClientState; member: ClientState }> {
  const kps = await Promise.all(Array.from({ length: n }, (_, i) => keyPackage(i)));
  const founder0 = await createGroup(crypto.getRandomValues(new Uint8Array(16)), kps[0]!.publicPackage, kps[0]!.privatePackage, [], cs, clientConfig);
  const add = await createCommit(
    { state: founder0, cipherSuite: cs },
    { extraProposals: kps.slice(1).map((k) => ({ proposalType: "add" as const, add: { keyPackage: k.publicPackage } })), wireAsPublicMessage: true, ratchetTreeExtension: false },
  );
  const member = await joinGroup(add.welcome!, kps[1]!.publicPackage, kps[1]!.privatePackage, emptyPskIndex, cs, add.newState.ratchetTree, undefined, clientConfig);
  return { founder: add.newState, member };
}

/** Per message: the sender encrypting, a member decrypting (each message once, as a device does). */
async function encryptDecrypt(n: number): Promise<{ encryptMs: number; decryptMs: number; bytes: number }> {
  let { founder, member } = await group(n);
  const enc: number[] = [];
  const dec: number[] = [];
  let bytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const sealed = [];
    let t = Bun.nanoseconds();
    for (let i = 0; i < MESSAGES; i++) {
      const m = await createApplicationMessage(founder, TEXT, cs);
      founder = m.newState;
      sealed.push(m.privateMessage);
    }
    enc.push(ms(t) / MESSAGES);
    bytes = encodeMlsMessage({ privateMessage: sealed[0]!, wireformat: "mls_private_message", version: "mls10" }).length;
    t = Bun.nanoseconds();
    for (const pm of sealed) member = (await processPrivateMessage(member, pm, emptyPskIndex, cs)).newState;
    dec.push(ms(t) / MESSAGES);
  }
  return { encryptMs: median(enc), decryptMs: median(dec), bytes };
}

async function addOne(n: number) {
  const { founder, member } = await group(n);
  const newcomer = await keyPackage(n);
  const commitMs: number[] = [];
  const processMs: number[] = [];
  const joinMs: number[] = [];
  let sizes = { commit: 0, welcome: 0, tree: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    // The states are values: every round starts from the same group.
    let t = Bun.nanoseconds();
    const c = await createCommit({ state: founder, cipherSuite: cs }, { extraProposals: [{ proposalType: "add", add: { keyPackage: newcomer.publicPackage } }], wireAsPublicMessage: true, ratchetTreeExtension: false });
    commitMs.push(ms(t));
    t = Bun.nanoseconds();
    if (c.commit.wireformat !== "mls_public_message") throw new Error("expected a PublicMessage commit");
    await processMessage(c.commit, member, emptyPskIndex, acceptAll, cs);
    processMs.push(ms(t));
    t = Bun.nanoseconds();
    await joinGroup(c.welcome!, newcomer.publicPackage, newcomer.privatePackage, emptyPskIndex, cs, c.newState.ratchetTree, undefined, clientConfig);
    joinMs.push(ms(t));
    sizes = {
      commit: encodeMlsMessage(c.commit).length,
      welcome: encodeMlsMessage({ welcome: c.welcome!, wireformat: "mls_welcome", version: "mls10" }).length,
      tree: encodeRatchetTree(c.newState.ratchetTree).length,
    };
  }
  return { commitMs: median(commitMs), processMs: median(processMs), joinMs: median(joinMs), ...sizes };
}

// ---- 2: the server's CPU per message, plain and encrypted ---------------------------------------

interface Party {
  conv: string;
  /** Messages per burst: a 1:1 costs the server little per message, so it takes more of them to rise above the clock's 10 ms ticks. */
  count: number;
  sender: E2eeClient;
  /** The other members' devices, as plain Clients: they count what arrives and decrypt nothing. */
  receivers: Client[];
  got: () => number;
}

async function connect(server: ChildServer, dataDir: string, user: string): Promise<E2eeClient> {
  const e = await E2eeClient.create({ url: server.wsUrl, token: () => childToken(dataDir, user, "d1"), autoAck: false }, { storage: new MemoryMlsStorage(), keyPackages: 4 });
  await e.connect();
  await e.ready();
  return e;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 120_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/**
 * `n` users, one device each, in a conversation; `encrypted`: with an MLS group of all their
 * devices. Then the receiving devices reconnect as plain Clients, from where they stopped: what
 * the server does per message does not depend on whether they decrypt, and decrypting 63 copies
 * in this process would only stretch each burst (and the server's idle time charged to it).
 */
async function party(server: ChildServer, dataDir: string, prefix: string, n: number, encrypted: boolean): Promise<Party> {
  const clients = await Promise.all(Array.from({ length: n }, (_, i) => connect(server, dataDir, `${prefix}${i}`)));
  const [sender, ...members] = clients as [E2eeClient, ...E2eeClient[]];
  const conv = n === 2 ? (await sender.client.openDirect(`${prefix}1`)).id : (await sender.client.createGroup(prefix, members.map((_, i) => `${prefix}${i + 1}`))).id;
  if (encrypted) {
    if (!(await sender.encrypt(conv))) throw new Error("the group was not founded");
    await until(() => members.every((r) => r.isEncrypted(conv)), "every device to join the MLS group");
  }
  const receivers: Client[] = [];
  for (const [i, m] of members.entries()) {
    const cursors = m.cursors();
    m.close();
    // No delivered receipts: they cost the same either way, and their pace would be the bench's.
    const c = new Client({ url: server.wsUrl, token: () => childToken(dataDir, `${prefix}${i + 1}`, "d1"), autoAck: false, cursors });
    await c.connect();
    receivers.push(c);
  }
  let got = 0;
  for (const r of receivers)
    r.on("message", (m) => {
      if (m.conv === conv && m.from === `${prefix}0`) got++;
    });
  return { conv, count: n === 2 ? MESSAGES * 10 : MESSAGES, sender, receivers, got: () => got };
}

/** Server CPU (ms) per message for one burst (SEND, storing, fan-out), until every receiver has it all and the server is idle again, less its idle CPU over that time. */
async function burst(server: ChildServer, p: Party, idlePerMs: number): Promise<number> {
  const pid = server.proc.pid!;
  const start = p.got();
  const t0 = performance.now();
  const before = cpuMs(pid);
  // One at a time, each after the last one's ack: the server sees the same pace either way
  // (all at once, plain sends would arrive in one burst and share group commits, while encrypted
  // ones leave one by one as the sender encrypts them).
  for (let i = 0; i < p.count; i++) await p.sender.send(p.conv, TEXT);
  await until(() => p.got() - start >= p.count * p.receivers.length, "every receiver to get the burst");
  let last = cpuMs(pid);
  for (;;) {
    await Bun.sleep(300);
    const now = cpuMs(pid);
    if (now === last) break;
    last = now;
  }
  return (last - before - idlePerMs * (performance.now() - t0)) / p.count;
}

/** The server's CPU per ms of wall time while nothing happens (heartbeats, sweeps, timers). */
async function idleRate(server: ChildServer): Promise<number> {
  const t0 = performance.now();
  const pid = server.proc.pid!;
  const c0 = cpuMs(pid);
  await Bun.sleep(5_000);
  return (cpuMs(pid) - c0) / (performance.now() - t0);
}

async function serverCost(): Promise<{ size: number; plainMs: number; encryptedMs: number; idlePerS: number }[]> {
  const dataDir = mkdtempSync(join(tmpdir(), "msgr-e2ee-bench-"));
  const server = await startChild({ ...unlimitedEnv(), MSGR_SERVER_DATA_DIR: dataDir, MSGR_STORAGE_SYNCHRONOUS: "normal" });
  try {
    const out = [];
    for (const n of [2, 64]) {
      const plain = await party(server, dataDir, `p${n}u`, n, false);
      const secret = await party(server, dataDir, `e${n}u`, n, true);
      // With these devices connected: sweeps and heartbeats cost by the second, not by the message.
      const idle = await idleRate(server);
      // A warm-up burst each (JIT, caches, statements), then rounds interleaved.
      await burst(server, plain, idle);
      await burst(server, secret, idle);
      const p: number[] = [];
      const e: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        p.push(await burst(server, plain, idle));
        e.push(await burst(server, secret, idle));
      }
      out.push({ size: n, plainMs: median(p), encryptedMs: median(e), idlePerS: idle * 1000 });
      for (const c of [plain.sender, ...plain.receivers, secret.sender, ...secret.receivers]) c.close();
    }
    return out;
  } finally {
    server.proc.kill("SIGTERM");
    await server.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---- the run --------------------------------------------------------------------------------------

const f = (x: number, d = 3) => x.toFixed(d);
console.log(`e2ee bench, bun ${Bun.version}, ${ROUNDS} rounds (medians), ${MESSAGES} messages per round (server 1:1: ${MESSAGES * 10}), a ${TEXT.length}-byte text`);
console.log("\nclient CPU per message (ts-mls, MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519):");
for (const n of [2, 64]) {
  const r = await encryptDecrypt(n);
  console.log(`  ${n === 2 ? "1:1        " : `group of ${n}`}  encrypt ${f(r.encryptMs)} ms   decrypt ${f(r.decryptMs)} ms   ciphertext ${r.bytes} B`);
}
console.log("\nserver CPU per message (one `msgr start`, embedded; SEND, storing and fan-out; no receipts; less its idle CPU):");
for (const r of await serverCost()) {
  console.log(`  ${r.size === 2 ? "1:1        " : `group of ${r.size}`}  plain ${f(r.plainMs)} ms   encrypted ${f(r.encryptedMs)} ms   ratio ${f(r.encryptedMs / r.plainMs, 2)}x (target <= 1.10x)   idle ${f(r.idlePerS, 1)} ms/s`);
}
const a = await addOne(256);
console.log("\nadding one member to a group of 256:");
console.log(`  commit ${f(a.commitMs, 1)} ms   a member processes it ${f(a.processMs, 1)} ms   the new member joins ${f(a.joinMs, 1)} ms`);
console.log(`  commit ${a.commit} B, Welcome ${a.welcome} B, ratchet tree ${a.tree} B (sent inline or as media, by size)`);
process.exit(0);
