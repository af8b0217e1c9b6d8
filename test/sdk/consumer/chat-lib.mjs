// What the fresh project's scripts do with the packed @msgr/sdk, in any runtime: one user writes
// to another through a msgr server, and the reader's read receipt comes back. Used by chat.mjs
// (Node.js, Deno) and page.html (a browser, through an import map), from test/sdk/package.test.ts.
import { Client } from "@msgr/sdk";

/** Resolves with what happened; `WebSocket` is the runtime's (or the ws package's on Node 20). */
export async function chat({ url, writerToken, readerToken, readerUser, runtime, WebSocket }) {
  const text = `hello from ${runtime.split(" ")[0]}`;
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
  writer.close();
  reader.close();
  return { runtime, ackSeq, text: new TextDecoder().decode(m.body), from: m.from, allRead: receipt.allRead };
}
