// The v1 frame codec: bytes <-> envelopes. Pure (no I/O, no clock), so it can be fuzzed and
// benchmarked alone. Both the server and the SDK use it.
//
//   Command  [1, id, method, params]   client -> server; id 0 asks for no reply on success
//   Reply    [2, id, code, body]       server -> client; code 0: body is the result, else {message, retryAfterMs?}
//   Push     [3, kind, body]           server -> client

import { Packr, Unpackr } from "msgpackr";
import { ErrorCode, FrameType, PushKind, type ErrorCodeId, type MethodId, type PushKindId } from "./codes.ts";
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from "./limits.ts";
import { packFlatFrame } from "./flat-frame.ts";
import { NOT_READ, readFrame, readMessagePush } from "./frame-reader.ts";
import { scanMsgpack } from "./scan.ts";
import { isMethod, ParamError, validateParams, type ParamsOf } from "./schema.ts";

// Records, structured clone, bundled strings and extra types are msgpackr extensions other
// clients cannot read and a hostile peer could abuse: all off. 64-bit integers decode as bigint.
export const MSGPACK_OPTIONS = {
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  mapsAsObjects: true,
  int64AsType: "bigint",
} as const;

const packr = new Packr(MSGPACK_OPTIONS);
const unpackr = new Unpackr(MSGPACK_OPTIONS);

/** One decoded command; `params` has the shape its method's schema declares. */
export type CommandFrame = { [M in MethodId]: { id: number; method: M; params: ParamsOf<M> } }[MethodId];

export interface ErrorBody {
  message: string;
  retryAfterMs?: number;
}

export type ServerFrame =
  | { type: typeof FrameType.Reply; id: number; code: number; body: unknown }
  | { type: typeof FrameType.Push; kind: number; body: unknown };

/** A frame the server could not accept. `id` is the command id when it could be read, else 0. */
export class FrameError extends Error {
  constructor(
    readonly code: ErrorCodeId,
    message: string,
    readonly id = 0,
  ) {
    super(message);
  }
}

const MAX_ID = 0xffff_ffff;

/** A small non-negative integer from a decoded value, or null. 64-bit encodings decode to bigint. */
function smallUint(v: unknown, max: number): number | null {
  // `+ 0` turns -0 (a float encoding) into 0.
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 && v <= max ? v + 0 : null;
  if (typeof v === "bigint") return v >= 0n && v <= BigInt(max) ? Number(v) : null;
  return null;
}

/** Names a client's value for an error message without calling anything on it. */
function describe(v: unknown): string {
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return `${v}`;
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "string" ? "a string" : typeof v === "object" ? "a map" : typeof v;
}

/**
 * Decodes and validates one client frame. Throws FrameError and nothing else, whatever the bytes:
 * untrusted values are only inspected with `typeof` and comparisons, never coerced.
 */
export function decodeCommand(buf: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): CommandFrame {
  if (buf.length > limits.maxFrameBytes) {
    throw new FrameError(ErrorCode.FrameTooLarge, `frame of ${buf.length} bytes exceeds ${limits.maxFrameBytes}`);
  }
  const bad = scanMsgpack(buf, limits);
  if (bad) throw new FrameError(ErrorCode.BadFrame, `malformed frame: ${bad}`);
  let v: unknown;
  try {
    // The scan refused every extension type, so nothing here is left to msgpackr.
    v = readFrame(buf, "copy");
  } catch {
    v = NOT_READ;
  }
  if (v === NOT_READ) throw new FrameError(ErrorCode.BadFrame, "malformed frame: undecodable");
  if (!Array.isArray(v) || v.length !== 4 || smallUint(v[0], 255) !== FrameType.Command) {
    throw new FrameError(ErrorCode.BadFrame, "expected a command [1, id, method, params]");
  }
  const id = smallUint(v[1], MAX_ID);
  if (id === null) throw new FrameError(ErrorCode.BadFrame, "command id must be an integer in 0..2^32-1");
  const method = smallUint(v[2], 255);
  if (method === null || !isMethod(method)) {
    throw new FrameError(ErrorCode.UnknownMethod, `unknown method ${describe(v[2])}`, id);
  }
  try {
    // The schema of `method` validated the params, which is what CommandFrame says of them.
    return { id, method, params: validateParams(method, v[3]) } as CommandFrame;
  } catch (e) {
    if (e instanceof ParamError) throw new FrameError(ErrorCode.InvalidParams, e.message, id);
    // A validator fault is still this frame's fault as far as the caller can tell; say so
    // without letting anything but a FrameError out.
    throw new FrameError(ErrorCode.InvalidParams, "params: not valid", id);
  }
}

export function encodeCommand(id: number, method: MethodId, params: object): Uint8Array {
  return packFlatFrame([FrameType.Command, id, method], params) ?? packr.pack([FrameType.Command, id, method, params]);
}

export function encodeReply(id: number, result: object): Uint8Array {
  return packFlatFrame([FrameType.Reply, id, ErrorCode.Ok], result) ?? packr.pack([FrameType.Reply, id, ErrorCode.Ok, result]);
}

export function encodeError(id: number, code: ErrorCodeId, message: string, retryAfterMs?: number): Uint8Array {
  const body: ErrorBody = retryAfterMs === undefined ? { message } : { message, retryAfterMs };
  return packr.pack([FrameType.Reply, id, code, body]);
}

export function encodePush(kind: PushKindId, body: object): Uint8Array {
  return packFlatFrame([FrameType.Push, kind], body) ?? packr.pack([FrameType.Push, kind, body]);
}

/**
 * Client side: decodes a server frame, all of `buf` or the bytes from `start` to `end` (a frame
 * of a batch: frame-batch.ts). The server is trusted to be well-formed, but the shape is still checked.
 */
export function decodeServerFrame(buf: Uint8Array, start = 0, end = buf.length): ServerFrame {
  const message = readMessagePush(buf, FrameType.Push, PushKind.Message, start, end);
  if (message !== NOT_READ) return { type: FrameType.Push, kind: PushKind.Message, body: message };
  const frame = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
  const read = readFrame(frame, "view");
  const v = read === NOT_READ ? unpackr.unpack(frame) : read;
  if (Array.isArray(v)) {
    if (v[0] === FrameType.Reply && v.length === 4 && typeof v[1] === "number" && typeof v[2] === "number") {
      return { type: FrameType.Reply, id: v[1], code: v[2], body: v[3] };
    }
    if (v[0] === FrameType.Push && v.length === 3 && typeof v[1] === "number") {
      return { type: FrameType.Push, kind: v[1], body: v[2] };
    }
  }
  throw new Error("unexpected server frame");
}

/** Encodes any value with the protocol's MessagePack settings (used for System message bodies and the bus). */
export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function unpack(buf: Uint8Array): unknown {
  return unpackr.unpack(buf);
}
