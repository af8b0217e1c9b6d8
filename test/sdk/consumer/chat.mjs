// Run by test/sdk/package.test.ts inside a fresh project outside the repository, where the
// packed @msgr/sdk was installed with npm. Prints one JSON line. Runs under Node.js 20+ and Deno.
//   chat.mjs WS_URL WRITER_TOKEN READER_TOKEN READER_USER
import { Client } from "@msgr/sdk";
import { chat } from "./chat-lib.mjs";

const args = globalThis.Deno ? globalThis.Deno.args : process.argv.slice(2);
const [url, writerToken, readerToken, readerUser] = args;
const runtime = globalThis.Deno ? `deno ${globalThis.Deno.version.deno}` : `node ${process.versions.node}`;

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

const result = await chat({ url, writerToken, readerToken, readerUser, runtime, WebSocket });
console.log(JSON.stringify({ ...result, missingWebSocket }));
