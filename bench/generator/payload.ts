// The body of every bench message. It says which connection sent it, which message it is and
// when it was *meant* to be sent, so the receiving side measures latency from the intended
// time (no coordinated omission: a late send counts against the latency, as a user would see it).
// Times are this generator process's performance.now(): senders and receivers of a message
// always live in the same generator process.
//
//   [0, 8)   float64  intended send time, ms
//   [8, 12)  uint32   index of the sending connection
//   [12, 16) uint32   message id
//   [16, n)  filler up to the configured body size

const MIN_BODY_BYTES = 16;

export interface Stamp {
  intendedMs: number;
  sender: number;
  id: number;
}

export function stampBody(bytes: number, s: Stamp): Uint8Array {
  const body = new Uint8Array(Math.max(MIN_BODY_BYTES, bytes));
  const view = new DataView(body.buffer);
  view.setFloat64(0, s.intendedMs, true);
  view.setUint32(8, s.sender, true);
  view.setUint32(12, s.id, true);
  body.fill(0x61, MIN_BODY_BYTES);
  return body;
}

/** The stamp of a received body, or null when it is not a bench message. */
export function readStamp(body: Uint8Array): Stamp | null {
  if (body.length < MIN_BODY_BYTES) return null;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return { intendedMs: view.getFloat64(0, true), sender: view.getUint32(8, true), id: view.getUint32(12, true) };
}
