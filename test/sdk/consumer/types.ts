// Type-checked by test/sdk/package.test.ts in the fresh project: the package's `exports` lead
// TypeScript to its declarations, and the browser's WebSocket class fits the injectable option.
import { Client, MessageKind, type SendResult, type WireMessage, type WebSocketConstructor } from "@msgr/sdk";
import { E2eeClient, MemoryMlsStorage, type SecureMessage } from "@msgr/sdk/e2ee";

const ws: WebSocketConstructor = WebSocket;
const c = new Client({ url: "ws://127.0.0.1:8787/v1/ws", token: () => "t", WebSocket: ws });
c.on("message", (m: WireMessage) => m.kind === MessageKind.Text && m.body.byteLength);
export const sent: Promise<SendResult> = c.send("conv", "text");
// @ts-expect-error: the url is required
new Client({ token: "t" });
// End-to-end encryption is a second entry point: apps that do not encrypt load none of ts-mls.
export const secure: Promise<E2eeClient> = E2eeClient.create({ url: "ws://127.0.0.1:8787/v1/ws", token: "t", WebSocket: ws }, { storage: new MemoryMlsStorage() });
void secure.then((e) => e.on("message", (m: SecureMessage) => m.encrypted));
