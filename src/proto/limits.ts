// Decoder limits. The server sends the values it enforces in the CONNECT reply.

export interface DecodeLimits {
  /** Frames longer than this are answered with FrameTooLarge without being decoded. */
  maxFrameBytes: number;
  /** Arrays and maps nested deeper than this are refused (the envelope counts as depth 1). */
  maxDepth: number;
  /** Entries in any one array or map. */
  maxContainerItems: number;
  /** Bytes in any one string. */
  maxStringBytes: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxFrameBytes: 128 * 1024,
  maxDepth: 6,
  maxContainerItems: 10_000,
  maxStringBytes: 4096,
};
