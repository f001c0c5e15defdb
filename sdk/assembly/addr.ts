// Address text parsing and CIDR / port-range matching (IPv4 and IPv6).

function digit(c: i32): i32 { return c >= 48 && c <= 57 ? c - 48 : -1; }
function hexDigit(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Parse dotted-quad s[from, to) into out[at..at+4). */
function parseV4(s: string, from: i32, to: i32, out: StaticArray<u8>, at: i32): bool {
  let part = 0, val = -1, ndig = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? s.charCodeAt(i) : 46;
    if (c == 46) {
      if (val < 0 || part > 3) return false;
      unchecked(out[at + part] = <u8>val);
      part++; val = -1; ndig = 0;
      continue;
    }
    const d = digit(c);
    if (d < 0) return false;
    if (ndig > 0 && val == 0) return false; // no leading zeros (inet_pton rejects them)
    val = (val < 0 ? 0 : val) * 10 + d; ndig++;
    if (val > 255) return false;
  }
  return part == 4;
}

/**
 * Parse an IPv4 or IPv6 address (no prefix) into `out` (16 bytes, network order; IPv4 uses
 * the first 4). Returns 4, 16, or 0 when it is not an address.
 */
export function parseAddr(s: string, out: StaticArray<u8>): i32 {
  for (let i = 0; i < 16; i++) unchecked(out[i] = 0);
  const n = s.length;
  if (n == 0) return 0;
  let colon = false;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) == 58) { colon = true; break; }
  if (!colon) return parseV4(s, 0, n, out, 0) ? 4 : 0;
  // IPv6
  const words = new StaticArray<i32>(8);
  let nw = 0, gap = -1, i = 0;
  if (n >= 2 && s.charCodeAt(0) == 58) {
    if (s.charCodeAt(1) != 58) return 0;
    gap = 0; i = 2;
    if (i == n) { return 16; } // "::"
  }
  while (i < n) {
    // find the end of this group
    let j = i;
    let dot = false;
    while (j < n && s.charCodeAt(j) != 58) { if (s.charCodeAt(j) == 46) dot = true; j++; }
    if (dot) {
      // embedded IPv4: must be last and leave room for two words
      if (j != n || nw > 6) return 0;
      const tmp = new StaticArray<u8>(16);
      if (!parseV4(s, i, j, tmp, 0)) return 0;
      unchecked(words[nw++] = (<i32>tmp[0] << 8) | <i32>tmp[1]);
      unchecked(words[nw++] = (<i32>tmp[2] << 8) | <i32>tmp[3]);
      i = j;
      break;
    }
    const len = j - i;
    if (len < 1 || len > 4 || nw >= 8) return 0;
    let w = 0;
    for (let k = i; k < j; k++) { const d = hexDigit(s.charCodeAt(k)); if (d < 0) return 0; w = (w << 4) | d; }
    unchecked(words[nw++] = w);
    if (j == n) { i = j; break; }
    // at a colon
    if (j + 1 < n && s.charCodeAt(j + 1) == 58) {
      if (gap >= 0) return 0; // second "::"
      gap = nw; i = j + 2;
      if (i == n) break;
    } else {
      i = j + 1;
      if (i == n) return 0; // trailing single colon
    }
  }
  if (gap < 0 && nw != 8) return 0;
  if (gap >= 0 && nw > 7) return 0;
  // expand
  const full = new StaticArray<i32>(8);
  if (gap < 0) { for (let k = 0; k < 8; k++) unchecked(full[k] = words[k]); }
  else {
    const tail = nw - gap;
    for (let k = 0; k < gap; k++) unchecked(full[k] = words[k]);
    for (let k = 0; k < tail; k++) unchecked(full[8 - tail + k] = words[gap + k]);
  }
  for (let k = 0; k < 8; k++) {
    unchecked(out[2 * k] = <u8>(full[k] >> 8));
    unchecked(out[2 * k + 1] = <u8>(full[k] & 0xff));
  }
  return 16;
}

/** An address prefix: "10.0.0.0/8", "2001:db8::/32", or a single address (full-length prefix). */
export class Cidr {
  bytes: StaticArray<u8> = new StaticArray<u8>(16);
  /** 4 or 16. */
  len: i32 = 0;
  prefix: i32 = 0;

  /** Parse; returns null when `s` is not an address or prefix. */
  static parse(s: string): Cidr | null {
    const c = new Cidr();
    let a = s, pfx = -1;
    const slash = s.indexOf("/");
    if (slash >= 0) {
      a = s.substring(0, slash);
      const p = s.substring(slash + 1);
      if (p.length == 0 || p.length > 3) return null;
      pfx = 0;
      for (let i = 0; i < p.length; i++) { const d = digit(p.charCodeAt(i)); if (d < 0) return null; pfx = pfx * 10 + d; }
    }
    const n = parseAddr(a, c.bytes);
    if (n == 0) return null;
    c.len = n;
    if (pfx < 0) pfx = n * 8;
    if (pfx > n * 8) return null;
    c.prefix = pfx;
    return c;
  }

  /** Does the address of `len` bytes at `p` fall in this prefix? (Other family: false.) */
  matches(p: usize, len: i32): bool {
    if (len != this.len || p == 0) return false;
    const full = this.prefix >> 3;
    const b = this.bytes;
    for (let i = 0; i < full; i++) if (load<u8>(p + <usize>i) != unchecked(b[i])) return false;
    const rem = this.prefix & 7;
    if (rem == 0) return true;
    const mask = <u8>(<u32>0xff << <u32>(8 - rem));
    return (load<u8>(p + <usize>full) & mask) == (unchecked(b[full]) & mask);
  }

  /** Family of the prefix: 2 or 10. */
  get family(): i32 { return this.len == 4 ? 2 : 10; }
}

/** An inclusive port range ("443", "1024-65535"). */
export class PortRange {
  lo: i32 = 0;
  hi: i32 = <i32>u16.MAX_VALUE;
  constructor(lo: i32 = 0, hi: i32 = <i32>u16.MAX_VALUE) { this.lo = lo; this.hi = hi; }
  /** "443" or "lo-hi", ports up to `max` (filter keys pass the range of sdk/filters.json). */
  static parse(s: string, max: i32 = <i32>u16.MAX_VALUE): PortRange | null {
    const dash = s.indexOf("-");
    const a = dash >= 0 ? s.substring(0, dash) : s;
    const b = dash >= 0 ? s.substring(dash + 1) : s;
    const lo = parsePort(a, max), hi = parsePort(b, max);
    if (lo < 0 || hi < 0 || lo > hi) return null;
    return new PortRange(lo, hi);
  }
  @inline contains(port: i32): bool { return port >= this.lo && port <= this.hi; }
}

function parsePort(s: string, max: i32): i32 {
  if (s.length == 0 || s.length > 5) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) { const d = digit(s.charCodeAt(i)); if (d < 0) return -1; v = v * 10 + d; }
  return v <= max ? v : -1;
}
