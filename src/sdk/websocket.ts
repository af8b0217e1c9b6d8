// The WebSocket the SDK needs, as an interface: the browser's, Bun's, Deno's and Node 22's
// global WebSocket satisfy it, and so does the `ws` package's for Node 20 (which has no global
// one). Only the members the client uses are listed, so any of them can be passed in.

/**
 * One open socket: the subset of the WHATWG WebSocket the client uses. The handlers' events are
 * `any` on purpose: each implementation has its own event classes, and a narrower parameter
 * type here would make theirs unassignable.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket class: `globalThis.WebSocket`, or `WebSocket` from the `ws` package. */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/** readyState of an open socket (the same in every implementation). */
export const WS_OPEN = 1;

/** The class passed in, else the runtime's global one; says what to do when there is none. */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  if (given) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return global;
  throw new Error(
    "this runtime has no global WebSocket (Node.js before 22): install the ws package and pass it, " +
      'e.g. import WebSocket from "ws"; new Client({ url, token, WebSocket })',
  );
}
