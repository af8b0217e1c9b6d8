// A MessagePack writer that can lie: it encodes a value tree exactly as described, including
// what no honest encoder produces (a map keyed `__proto__`, a length prefix larger than what
// follows, an integer in a wider encoding than needed, extension types, reserved bytes), so the
// fuzzer can hand the decoder every shape a hostile peer could send.

export type Raw =
  | { t: "nil" }
  | { t: "bool"; v: boolean }
  /** An integer in the given encoding: fixint, u8..u64, i8..i64 (bigint for 64-bit). */
  | { t: "int"; v: number | bigint; enc: "fix" | "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" }
  | { t: "f32" | "f64"; v: number }
  | { t: "str"; v: string; enc?: "fix" | "8" | "16" | "32" }
  | { t: "bin"; v: Uint8Array }
  | { t: "arr"; items: Raw[] }
  | { t: "map"; entries: [Raw, Raw][] }
  | { t: "ext"; type: number; data: Uint8Array }
  /** Bytes written as they are: a lying header, a reserved byte, truncation. */
  | { t: "bytes"; v: Uint8Array };

const te = new TextEncoder();

export class RawWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  private u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v & 0xff;
  }
  private u16(v: number): void {
    this.room(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
  }
  private u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
  }
  private raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  write(r: Raw): this {
    switch (r.t) {
      case "nil":
        this.u8(0xc0);
        break;
      case "bool":
        this.u8(r.v ? 0xc3 : 0xc2);
        break;
      case "int":
        this.int(r);
        break;
      case "f32":
        this.u8(0xca);
        this.room(4);
        this.view.setFloat32(this.pos, r.v);
        this.pos += 4;
        break;
      case "f64":
        this.u8(0xcb);
        this.room(8);
        this.view.setFloat64(this.pos, r.v);
        this.pos += 8;
        break;
      case "str": {
        const b = te.encode(r.v);
        const enc = r.enc ?? (b.length < 32 ? "fix" : b.length < 256 ? "8" : b.length < 65536 ? "16" : "32");
        if (enc === "fix") this.u8(0xa0 | (b.length & 0x1f));
        else if (enc === "8") (this.u8(0xd9), this.u8(b.length));
        else if (enc === "16") (this.u8(0xda), this.u16(b.length));
        else (this.u8(0xdb), this.u32(b.length));
        this.raw(b);
        break;
      }
      case "bin":
        if (r.v.length < 256) (this.u8(0xc4), this.u8(r.v.length));
        else if (r.v.length < 65536) (this.u8(0xc5), this.u16(r.v.length));
        else (this.u8(0xc6), this.u32(r.v.length));
        this.raw(r.v);
        break;
      case "arr":
        if (r.items.length < 16) this.u8(0x90 | r.items.length);
        else if (r.items.length < 65536) (this.u8(0xdc), this.u16(r.items.length));
        else (this.u8(0xdd), this.u32(r.items.length));
        for (const x of r.items) this.write(x);
        break;
      case "map":
        if (r.entries.length < 16) this.u8(0x80 | r.entries.length);
        else if (r.entries.length < 65536) (this.u8(0xde), this.u16(r.entries.length));
        else (this.u8(0xdf), this.u32(r.entries.length));
        for (const [k, v] of r.entries) this.write(k).write(v);
        break;
      case "ext":
        this.u8(0xc7);
        this.u8(r.data.length);
        this.u8(r.type);
        this.raw(r.data);
        break;
      case "bytes":
        this.raw(r.v);
        break;
    }
    return this;
  }

  private int(r: Extract<Raw, { t: "int" }>): void {
    const n = r.v;
    switch (r.enc) {
      case "fix":
        this.u8(Number(n) & 0xff);
        return;
      case "u8":
        return (this.u8(0xcc), this.u8(Number(n)));
      case "u16":
        return (this.u8(0xcd), this.u16(Number(n)));
      case "u32":
        return (this.u8(0xce), this.u32(Number(n)));
      case "i8":
        return (this.u8(0xd0), this.u8(Number(n)));
      case "i16":
        return (this.u8(0xd1), this.u16(Number(n) & 0xffff));
      case "i32":
        return (this.u8(0xd2), this.u32(Number(n)));
      case "u64":
      case "i64": {
        this.u8(r.enc === "u64" ? 0xcf : 0xd3);
        this.room(8);
        const b = BigInt.asUintN(64, BigInt(n));
        this.view.setBigUint64(this.pos, b);
        this.pos += 8;
        return;
      }
    }
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export function encodeRaw(r: Raw): Uint8Array {
  return new RawWriter().write(r).bytes();
}
