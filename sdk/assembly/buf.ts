// ByteBuf: an append-only byte buffer allocated once and reused. With a sink it flushes
// itself through the `emit` hostcall when full (and when you call flush()); without one it
// stops writing at capacity and sets `overflow`. Writers never allocate.
import { ctplug_emit, STATUS_OK } from "./abi";

const DIGITS = memory.data(24);
// "00".."99" (two ASCII digits per value) and, for 0..255, [length, d0, d1, d2] (IPv4 octets).
const DEC2 = memory.data(200);
const OCT = memory.data(1024);
for (let i = 0; i < 100; i++) {
  store<u8>(DEC2 + <usize>(2 * i), <u8>(48 + i / 10));
  store<u8>(DEC2 + <usize>(2 * i + 1), <u8>(48 + i % 10));
}
for (let i = 0; i < 256; i++) {
  const o = OCT + <usize>(4 * i);
  if (i >= 100) { store<u8>(o, 3); store<u8>(o, <u8>(48 + i / 100), 1); store<u8>(o, <u8>(48 + (i / 10) % 10), 2); store<u8>(o, <u8>(48 + i % 10), 3); }
  else if (i >= 10) { store<u8>(o, 2); store<u8>(o, <u8>(48 + i / 10), 1); store<u8>(o, <u8>(48 + i % 10), 2); }
  else { store<u8>(o, 1); store<u8>(o, <u8>(48 + i), 1); }
}

export class ByteBuf {
  ptr: usize;
  cap: i32;
  pos: i32 = 0;
  /** Flush through ctplug_emit when full. */
  emitting: bool;
  /** Set when bytes were dropped (no sink) or the host refused more output (E_LIMIT). */
  overflow: bool = false;
  /** Last non-OK status returned by emit. */
  lastStatus: i32 = 0;
  /** Total bytes handed to the host. */
  emitted: u64 = 0;

  constructor(cap: i32, emitting: bool = false) {
    this.cap = cap;
    this.ptr = heap.alloc(<usize>cap);
    this.emitting = emitting;
  }

  reset(): void { this.pos = 0; this.overflow = false; }
  get length(): i32 { return this.pos; }
  get free(): i32 { return this.cap - this.pos; }

  /** Hand the buffered bytes to the host (emitting buffers only). Returns false once output is refused. */
  flush(): bool {
    if (!this.emitting) return !this.overflow;
    if (this.pos > 0) {
      if (!this.overflow) {
        const st = ctplug_emit(<i32>this.ptr, this.pos);
        if (st != STATUS_OK) { this.overflow = true; this.lastStatus = st; }
        else this.emitted += <u64>this.pos;
      }
      this.pos = 0;
    }
    return !this.overflow;
  }

  /** Make room for n bytes; false when they cannot be written. */
  @inline ensure(n: i32): bool {
    if (this.pos + n <= this.cap) return true;
    return this.grow(n);
  }
  private grow(n: i32): bool {
    if (this.emitting) { this.flush(); if (n <= this.cap) return true; }
    this.overflow = true;
    return false;
  }

  byte(c: i32): ByteBuf {
    if (this.ensure(1)) { store<u8>(this.ptr + <usize>this.pos, <u8>c); this.pos++; }
    return this;
  }

  /** Append an ASCII / Latin-1 string (one byte per UTF-16 unit; use utf8() for anything else). */
  ascii(s: string): ByteBuf {
    const n = s.length;
    if (!this.ensure(n)) return this;
    const d = this.ptr + <usize>this.pos;
    const p = changetype<usize>(s);
    for (let i = 0; i < n; i++) store<u8>(d + <usize>i, <u8>load<u16>(p + (<usize>i << 1)));
    this.pos += n;
    return this;
  }

  /** Append a string as UTF-8. */
  utf8(s: string): ByteBuf {
    const n = String.UTF8.byteLength(s, false);
    if (!this.ensure(n)) return this;
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.ptr + <usize>this.pos, false);
    this.pos += n;
    return this;
  }

  /** Append raw bytes; chunked through the sink when larger than the buffer. */
  bytes(p: usize, n: i32): ByteBuf {
    while (n > 0) {
      let room = this.cap - this.pos;
      if (room <= 0) { if (!this.ensure(1)) return this; room = this.cap - this.pos; }
      const k = n < room ? n : room;
      memory.copy(this.ptr + <usize>this.pos, p, <usize>k);
      this.pos += k; p += <usize>k; n -= k;
    }
    return this;
  }

  u32(v: u32): ByteBuf {
    // count the digits, then write them backwards in place, two at a time from a table
    const n = v < 100000
      ? (v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : 5)
      : (v < 1000000 ? 6 : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10);
    if (!this.ensure(n)) return this;
    let d = this.ptr + <usize>(this.pos + n);
    while (v >= 100) {
      const r = v % 100;
      v /= 100;
      d -= 2;
      store<u16>(d, load<u16>(DEC2 + <usize>(r << 1)));
    }
    if (v >= 10) { d -= 2; store<u16>(d, load<u16>(DEC2 + <usize>(v << 1))); }
    else { d--; store<u8>(d, <u8>(48 + v)); }
    this.pos += n;
    return this;
  }

  i64(v: i64): ByteBuf {
    if (v < 0) { this.byte(45); return this.u64(<u64>(-v)); }
    return this.u64(<u64>v);
  }

  u64(v: u64): ByteBuf {
    if (v <= <u64>u32.MAX_VALUE) return this.u32(<u32>v);
    let n = 0;
    do { store<u8>(DIGITS + <usize>n, <u8>(48 + <i32>(v % 10))); v /= 10; n++; } while (v != 0);
    if (!this.ensure(n)) return this;
    const d = this.ptr + <usize>this.pos;
    for (let i = 0; i < n; i++) store<u8>(d + <usize>i, load<u8>(DIGITS + <usize>(n - 1 - i)));
    this.pos += n;
    return this;
  }

  /** Lower-case hex without leading zeros ("%x"). */
  hex(v: u64): ByteBuf {
    let n = 0;
    do { const x = <i32>(v & 15); store<u8>(DIGITS + <usize>n, <u8>(x < 10 ? 48 + x : 87 + x)); v >>= 4; n++; } while (v != 0);
    if (!this.ensure(n)) return this;
    const d = this.ptr + <usize>this.pos;
    for (let i = 0; i < n; i++) store<u8>(d + <usize>i, load<u8>(DIGITS + <usize>(n - 1 - i)));
    this.pos += n;
    return this;
  }

  /** `s` left-aligned in a field of `width` ("%-8s"). */
  padded(s: string, width: i32): ByteBuf {
    this.ascii(s);
    for (let i = s.length; i < width; i++) this.byte(32);
    return this;
  }

  /** Dotted quad from 4 bytes in network order. */
  ipv4(p: usize): ByteBuf {
    if (!this.ensure(16)) return this; // 15 chars + the spare byte of the last 4-byte store
    let d = this.ptr + <usize>this.pos;
    for (let i = 0; i < 4; i++) {
      if (i) { store<u8>(d, 46); d++; }
      const o = OCT + (<usize>load<u8>(p + <usize>i) << 2);
      const n = <usize>load<u8>(o);
      store<u32>(d, load<u32>(o + 1)); // copies up to 3 digits (+1 spare byte, overwritten or unused)
      d += n;
    }
    this.pos = <i32>(d - this.ptr);
    return this;
  }

  /** IPv6 text as inet_ntop(3) writes it (RFC 5952 zero compression, embedded IPv4 forms). */
  ipv6(p: usize): ByteBuf {
    // longest run (>= 2) of zero 16-bit words, first one on ties
    let bestBase = -1, bestLen = 0, curBase = -1, curLen = 0;
    for (let i = 0; i < 8; i++) {
      const w = (<u32>load<u8>(p + <usize>(2 * i)) << 8) | <u32>load<u8>(p + <usize>(2 * i + 1));
      if (w == 0) {
        if (curBase < 0) { curBase = i; curLen = 1; } else curLen++;
      } else if (curBase >= 0) {
        if (curLen > bestLen) { bestBase = curBase; bestLen = curLen; }
        curBase = -1;
      }
    }
    if (curBase >= 0 && curLen > bestLen) { bestBase = curBase; bestLen = curLen; }
    if (bestLen < 2) bestBase = -1;
    for (let i = 0; i < 8; i++) {
      if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
        if (i == bestBase) this.byte(58);
        continue;
      }
      if (i != 0) this.byte(58);
      const w5 = (<u32>load<u8>(p + 10) << 8) | <u32>load<u8>(p + 11);
      if (i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w5 == 0xffff))) {
        this.ipv4(p + 12);
        return this;
      }
      this.hex((<u64>load<u8>(p + <usize>(2 * i)) << 8) | <u64>load<u8>(p + <usize>(2 * i + 1)));
    }
    if (bestBase >= 0 && bestBase + bestLen == 8) this.byte(58);
    return this;
  }

  /** Address of `len` 4 or 16 bytes; nothing for other lengths. */
  addr(p: usize, len: i32): ByteBuf {
    if (p == 0) return this;
    if (len == 4) return this.ipv4(p);
    if (len == 16) return this.ipv6(p);
    return this;
  }

  /** Bytes as the body of a JSON string (quotes not included): escapes ", \ and controls; bytes outside printable ASCII become \\u00XX. */
  jsonBytes(p: usize, n: i32): ByteBuf {
    for (let i = 0; i < n; i++) {
      const c = <i32>load<u8>(p + <usize>i);
      if (c == 34 || c == 92) { this.byte(92); this.byte(c); }
      else if (c < 32 || c >= 127) { // non-ASCII as \u00XX keeps the JSON valid
        this.ascii("\\u00");
        this.byte(c >> 4 < 10 ? 48 + (c >> 4) : 87 + (c >> 4));
        this.byte((c & 15) < 10 ? 48 + (c & 15) : 87 + (c & 15));
      } else this.byte(c);
    }
    return this;
  }

  /** Copy out as a string (allocates; for tests and conveniences). */
  toString(): string { return String.UTF8.decodeUnsafe(this.ptr, <usize>this.pos); }
}
