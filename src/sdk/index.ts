// Public client SDK. Applications, the terminal client and the bench import from here only;
// nothing under src/actors, src/edge or src/storage is part of the public surface.

export { Client, ProtocolError, type ClientEvents, type ClientOptions, type SendOptions } from "./client.ts";
export { ConversationMessages, type ShownMessage } from "./lifecycle.ts";
export {
  ConvType,
  DisconnectCode,
  ErrorCode,
  MessageKind,
  Method,
  PROTOCOL_VERSION,
  PushKind,
  ReceiptType,
  SystemOp,
  isRetryableError,
  shouldReconnect,
  type MethodId,
} from "../proto/codes.ts";
export { unpack as decodeSystemEvent } from "../proto/codec.ts";
export type * from "../proto/types.ts";
export type { ParamsOf } from "../proto/schema.ts";
export type { WebSocketConstructor, WebSocketLike } from "./websocket.ts";
