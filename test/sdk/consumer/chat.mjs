// Run by test/sdk/package.test.ts inside a fresh project outside the repository, where the
// packed @msgr/sdk was installed with npm: one user writes to another through the server the
// test started, and the reader's read receipt comes back. Prints one JSON line with what
// happened. Runs under Node.js 20+ and Deno.
//   chat.mjs WS_URL WRITER_TOKEN READER_TOKEN READER_USER
import { Client } from "@msgr/sdk";

const args = globalThis.Deno ? globalThis.Deno.args : process.argv.slice(2);
const [url, writerToken, readerToken, readerUser] = args;
const runtime = globalThis.Deno ? `deno ${globalThis.Deno.version.deno}` : `node ${process.versions.node}`;
const text = `hello from ${runtime.split(" ")[0]}`;

// Node.js before 22 has no global WebSocket: the SDK says so, and takes the ws package's.
let missingWebSocket = null;
let WebSocket = globalThis.WebSocket;
if (!WebSocket) {
  try {
    new Client({ url, token: writerToken });
  } catch (e) {
    missingWebSocket = e.message;
  }
  WebSocket = (await import("ws")).default;
}

const writer = new Client({ url, token: writerToken, WebSocket });
const reader = new Client({ url, token: readerToken, WebSocket });
let ackSeq = Infinity;
const received = new Promise((resolve) => reader.on("message", (m) => new TextDecoder().decode(m.body) === text && resolve(m)));
const read = new Promise((resolve) => writer.on("receipt", (r) => r.allRead >= ackSeq && resolve(r)));
await writer.connect();
await reader.connect();
const conv = await writer.openDirect(readerUser);
ackSeq = (await writer.send(conv.id, text)).seq;
const m = await received;
await reader.markRead(m.conv, m.seq);
const receipt = await read;
console.log(JSON.stringify({ runtime, missingWebSocket, ackSeq, text: new TextDecoder().decode(m.body), from: m.from, allRead: receipt.allRead }));
writer.close();
reader.close();
