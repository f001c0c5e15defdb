// Bounds-checked netlink attribute decoder (iterator style, like mdlayher/netlink's
// AttributeDecoder). It never reads outside [start, end): an attribute whose header or
// declared length does not fit, or whose length is below the 4-byte header, ends the
// walk and sets `malformed`. NLA_F_NESTED and NLA_F_NET_BYTEORDER are masked off `type`.
import { NLA_HDRLEN, NLA_TYPE_MASK, NLA_F_NESTED } from "./ctnetlink";
import { be16, be32, be64, align4 } from "./bytes";

export class AttrIter {
  /** Current attribute: type with the flag bits masked off. */
  type: i32 = 0;
  /** Raw 16-bit type field, flag bits included. */
  rawType: i32 = 0;
  /** Payload address and length of the current attribute. */
  ptr: usize = 0;
  len: i32 = 0;
  /** Set once the walk stopped on a header or length that does not fit. */
  malformed: bool = false;
  private pos: usize = 0;
  private end: usize = 0;

  /** Start walking the attributes in [ptr, ptr + len). Returns this. */
  reset(ptr: usize, len: i32): AttrIter {
    this.pos = ptr;
    this.end = ptr + <usize>(len < 0 ? 0 : len);
    this.malformed = false;
    this.type = 0; this.rawType = 0; this.ptr = 0; this.len = 0;
    return this;
  }

  /** Advance to the next attribute; false at the end or on malformed input. */
  next(): bool {
    const pos = this.pos, end = this.end;
    if (pos >= end) return false;
    if (end - pos < <usize>NLA_HDRLEN) { this.malformed = true; this.pos = end; return false; }
    const nlaLen = <i32>load<u16>(pos);
    const avail = <i32>(end - pos);
    if (nlaLen < NLA_HDRLEN || nlaLen > avail) { this.malformed = true; this.pos = end; return false; }
    const raw = <i32>load<u16>(pos, 2);
    this.rawType = raw;
    this.type = raw & NLA_TYPE_MASK;
    this.ptr = pos + <usize>NLA_HDRLEN;
    this.len = nlaLen - NLA_HDRLEN;
    const step = align4(nlaLen);
    this.pos = step >= avail ? end : pos + <usize>step;
    return true;
  }

  get nested(): bool { return (this.rawType & NLA_F_NESTED) != 0; }

  // Typed payload readers: return `dflt` when the payload is shorter than the type.
  u8(dflt: u32 = 0): u32 { return this.len >= 1 ? <u32>load<u8>(this.ptr) : dflt; }
  u16be(dflt: u32 = 0): u32 { return this.len >= 2 ? be16(this.ptr) : dflt; }
  u32be(dflt: u32 = 0): u32 { return this.len >= 4 ? be32(this.ptr) : dflt; }
  u64be(dflt: u64 = 0): u64 { return this.len >= 8 ? be64(this.ptr) : dflt; }
}

/**
 * Find the first attribute of `type` in [ptr, ptr+len). Returns the payload as a packed
 * span (ptr << 32 | len), or -1 when absent or when the walk hit malformed bytes first.
 */
export function findAttr(it: AttrIter, ptr: usize, len: i32, type: i32): i64 {
  it.reset(ptr, len);
  while (it.next()) {
    if (it.type == type) return (<i64>it.ptr << 32) | <i64>it.len;
  }
  return -1;
}
