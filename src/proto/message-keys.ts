// A message's keys as MESSAGE pushes carry them: in WireMessage's order, the nine every message
// has first, each a MessagePack fixstr (ASCII, under 32 characters). One list for the server's
// writer (flat-frame.ts: packMessageFrame) and a client's reader (frame-reader.ts:
// readMessagePush), which matches keys in the order the writer puts them.

export const MESSAGE_KEYS = ["conv", "seq", "id", "from", "dev", "cid", "kind", "body", "ts", "media", "ref", "edited", "exp"] as const;
export type MessageKey = (typeof MESSAGE_KEYS)[number];

/** How many of MESSAGE_KEYS, from the first, every message has. */
export const REQUIRED_MESSAGE_KEYS = 9;

/** Each key's bytes as MessagePack writes it, by position in MESSAGE_KEYS. */
export const MESSAGE_KEY_BYTES: readonly Uint8Array[] = MESSAGE_KEYS.map((k) => Uint8Array.of(0xa0 | k.length, ...new TextEncoder().encode(k)));
