// Types of bare-frame.mjs, which stays plain JavaScript so that Node runs it as is.

export declare const Op: Readonly<{ DeliverUser: 1; DeliverGroup: 2; Join: 3; Ping: 4; Pong: 5 }>;
export declare function encodeHeader(op: number, name: string): Uint8Array;
export declare function frameName(frame: Uint8Array): string;
export declare function payloadOffset(frame: Uint8Array): number;
export declare const PONG: Uint8Array;
