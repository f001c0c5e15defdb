// Netlink attributes (TLV, 4-byte aligned): an encoder that appends into a growable buffer,
// and an iterator-style decoder that never reads outside the bytes it was given.
import { NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK } from './constants.js';

export const align4 = (n: number) => (n + 3) & ~3;

/** Appends netlink messages and attributes; one instance is reused for a whole batch. */
export class Encoder {
  buf: Uint8Array;
  view: DataView;
  len = 0;
  private nests: number[] = [];

  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.len = 0;
    this.nests.length = 0;
  }

  /** The bytes written so far (a view, valid until the next write). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len = need;
    return at;
  }

  private pad(): void {
    const p = align4(this.len) - this.len;
    if (p) {
      const at = this.reserve(p);
      this.buf.fill(0, at, this.len);
    }
  }

  /** Writes an attribute header and reserves its payload; returns the payload offset. */
  private header(type: number, payload: number): number {
    const at = this.reserve(NLA_HDRLEN + payload);
    this.view.setUint16(at, NLA_HDRLEN + payload, true);
    this.view.setUint16(at + 2, type, true);
    return at + NLA_HDRLEN;
  }

  // Each writer takes the offset first: header() may grow (replace) buf and view.
  u8(type: number, v: number): this {
    const at = this.header(type, 1);
    this.buf[at] = v;
    this.pad();
    return this;
  }
  /** ctnetlink multi-byte values are big-endian. */
  u16be(type: number, v: number): this {
    const at = this.header(type, 2);
    this.view.setUint16(at, v, false);
    this.pad();
    return this;
  }
  u32be(type: number, v: number): this {
    const at = this.header(type, 4);
    this.view.setUint32(at, v >>> 0, false);
    return this;
  }
  /** NLA_U32 in host order (netlink's own fields, e.g. CTA_FILTER's flags); little-endian hosts only, as the addon. */
  u32host(type: number, v: number): this {
    const at = this.header(type, 4);
    this.view.setUint32(at, v >>> 0, true);
    return this;
  }
  bytesAttr(type: number, data: Uint8Array): this {
    const at = this.header(type, data.length);
    this.buf.set(data, at);
    this.pad();
    return this;
  }
  /** Copies an already-encoded attribute (header included) verbatim. */
  raw(attr: Uint8Array): this {
    return this.rawRange(attr, 0, attr.length);
  }
  /** Copies `src[start, end)` verbatim; no subarray view (they are slow to create in V8). */
  rawRange(src: Uint8Array, start: number, end: number): this {
    const at = this.reserve(end - start);
    for (let i = start, j = at; i < end; ) this.buf[j++] = src[i++];
    this.pad();
    return this;
  }
  begin(type: number): this {
    this.nests.push(this.len);
    this.header(type | NLA_F_NESTED, 0); // length patched by end()
    return this;
  }
  end(): this {
    const at = this.nests.pop();
    if (at === undefined) throw new Error('Encoder.end() without begin()');
    this.view.setUint16(at, this.len - at, true);
    return this;
  }
}

/**
 * Iterates the attributes in `buf[start, end)`. `next()` returns false at the end or at the
 * first malformed header (length < 4 or past the end); `malformed` then tells which.
 * Usage: `for (const d = new AttrDecoder(b, s, e); d.next(); ) switch (d.type) { ... }`
 */
export class AttrDecoder {
  type = 0;
  nested = false;
  /** Payload bounds of the current attribute. */
  start = 0;
  end = 0;
  /** Header offset of the current attribute. */
  offset = 0;
  malformed = false;
  private pos: number;
  private readonly view: DataView;

  constructor(readonly buf: Uint8Array, from: number, private readonly limit: number) {
    this.pos = from;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (limit > buf.length || from > limit) {
      this.malformed = true;
      this.pos = this.limit = Math.min(limit, buf.length);
    }
  }

  next(): boolean {
    if (this.pos + NLA_HDRLEN > this.limit) {
      if (this.pos < this.limit) this.malformed = true; // trailing bytes too short for a header
      return false;
    }
    const len = this.view.getUint16(this.pos, true);
    const raw = this.view.getUint16(this.pos + 2, true);
    if (len < NLA_HDRLEN || this.pos + len > this.limit) {
      this.malformed = true;
      this.pos = this.limit;
      return false;
    }
    this.offset = this.pos;
    this.type = raw & NLA_TYPE_MASK;
    this.nested = (raw & NLA_F_NESTED) !== 0;
    this.start = this.pos + NLA_HDRLEN;
    this.end = this.pos + len;
    this.pos = Math.min(this.limit, this.pos + align4(len));
    return true;
  }

  get length(): number {
    return this.end - this.start;
  }
  /** The whole current attribute, header included (a view). */
  rawAttr(): Uint8Array {
    return this.buf.subarray(this.offset, this.end);
  }
  children(): AttrDecoder {
    return new AttrDecoder(this.buf, this.start, this.end);
  }
  u8(): number | undefined {
    return this.length >= 1 ? this.buf[this.start] : undefined;
  }
  u16be(): number | undefined {
    return this.length >= 2 ? this.view.getUint16(this.start, false) : undefined;
  }
  u32be(): number | undefined {
    return this.length >= 4 ? this.view.getUint32(this.start, false) : undefined;
  }
  u64be(): bigint | undefined {
    return this.length >= 8 ? this.view.getBigUint64(this.start, false) : undefined;
  }
  string(): string {
    let e = this.end;
    while (e > this.start && this.buf[e - 1] === 0) e--;
    return new TextDecoder().decode(this.buf.subarray(this.start, e));
  }
}
