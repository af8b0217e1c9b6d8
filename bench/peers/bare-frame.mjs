// Wire format shared by the two bare routers (bare-bun.ts, node-ws.mjs) and their bench
// adapter. It carries only what routing needs, so the routers measure routing and nothing else:
//
//   [op: u8][name length: u8][name: latin1][payload ...]
//
//   DELIVER_USER   the router forwards the frame, unchanged, to the socket of user <name>
//   DELIVER_GROUP  ... to every other socket that joined group <name>
//   JOIN           the sender joins group <name>; the router answers PONG once it has
//   PING           the router answers PONG (the heartbeat, like msgr's PING)

export const Op = Object.freeze({ DeliverUser: 1, DeliverGroup: 2, Join: 3, Ping: 4, Pong: 5 });

/** The header of a frame for `op` and `name`; the payload follows it. */
export function encodeHeader(op, name) {
  const out = new Uint8Array(2 + name.length);
  out[0] = op;
  out[1] = name.length;
  for (let i = 0; i < name.length; i++) out[2 + i] = name.charCodeAt(i);
  return out;
}

/** The <name> of a frame. */
export function frameName(frame) {
  return String.fromCharCode.apply(null, frame.subarray(2, 2 + frame[1]));
}

/** Where the payload of a frame starts. */
export function payloadOffset(frame) {
  return 2 + frame[1];
}

export const PONG = Uint8Array.of(Op.Pong, 0);
