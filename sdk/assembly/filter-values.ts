// The values of a Filter's keys, and one config parser per value kind of sdk/filters.json
// ("kinds": family, protocol, cidr, port, uints, mark, state, status, label bits, seconds).
// The generated filter-keys.ts calls a key's kind parser with the key's number and the kind's
// range from the table; the matchers in filter.ts read what the parsers stored. A parser logs the
// first bad value (and init fails); it never traps on any JSON.
import { Cidr, PortRange } from "./addr";
import { JsonValue, JsonKind } from "./json";
import { fail } from "./log";
import { statusBit, stateFromName, protoFromName, IPS_SEEN_REPLY } from "./status";
import { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_SCTP, IPPROTO_DCCP } from "./ctnetlink";

/** Per key (its number from filter-keys.ts): which keys are set, and their values by kind. */
export class FilterValues {
  /** Bit k: key k is configured. */
  protected set: u64 = 0;
  /**
   * Integer values per key: a list (protocols, zones, ids, TCP states, label bits, ...), or
   * fixed slots: a mark is [value, mask], status bits [set, clear], a timeout bound [seconds].
   */
  protected ints: StaticArray<Array<i64>>;
  protected cidrs: StaticArray<Array<Cidr>>;
  protected ranges: StaticArray<Array<PortRange>>;
  /** The configured address family (AF_*), 0 for any: addresses given later must be of it. */
  family: i32 = 0;
  /** The configured protocols (the protocol kind's parser, which runs first): state names are read in their tables. */
  protocols: Array<i32> = new Array<i32>();
  /** First configuration error (also logged, and init fails). */
  error: string = "";

  constructor(keys: i32) {
    this.ints = new StaticArray<Array<i64>>(keys);
    this.cidrs = new StaticArray<Array<Cidr>>(keys);
    this.ranges = new StaticArray<Array<PortRange>>(keys);
    for (let k = 0; k < keys; k++) {
      unchecked(this.ints[k] = new Array<i64>());
      unchecked(this.cidrs[k] = new Array<Cidr>());
      unchecked(this.ranges[k] = new Array<PortRange>());
    }
  }

  /** Is key k configured? */
  @inline has(k: i32): bool { return (this.set & (<u64>1 << <u64>k)) != 0; }
  @inline protected flag(k: i32): void { this.set |= <u64>1 << <u64>k; }

  addInt(k: i32, v: i64): void { unchecked(this.ints[k]).push(v); this.flag(k); }
  addCidr(k: i32, c: Cidr): void { unchecked(this.cidrs[k]).push(c); this.flag(k); }
  addRange(k: i32, r: PortRange): void { unchecked(this.ranges[k]).push(r); this.flag(k); }
  setFamilyOf(k: i32, af: i32): void { this.family = af; this.flag(k); }
  /** Key k's values become exactly [a, b] (a mark and its mask). */
  putPair(k: i32, a: i64, b: i64): void {
    const v = unchecked(this.ints[k]);
    v.length = 0; v.push(a); v.push(b);
    this.flag(k);
  }
  /** ORs a and b into key k's two slots (status bits that must be set / clear). */
  orPair(k: i32, a: i64, b: i64): void {
    const v = unchecked(this.ints[k]);
    if (v.length == 0) { v.push(0); v.push(0); }
    unchecked(v[0] = v[0] | a); unchecked(v[1] = v[1] | b);
    this.flag(k);
  }
  /** Key k's value becomes exactly [a] (a timeout bound). */
  putOne(k: i32, a: i64): void {
    const v = unchecked(this.ints[k]);
    v.length = 0; v.push(a);
    this.flag(k);
  }

  err(msg: string): void {
    if (this.error.length == 0) { this.error = msg; fail("config: " + msg); }
  }
}

// ---- list handling shared by the kind parsers ----

/** How many values `v` holds (a list, or one); 0 and an error for an empty list. */
function count(f: FilterValues, key: string, v: JsonValue): i32 {
  if (!v.isArray) return 1;
  if (v.length == 0) f.err(key + " must not be an empty list");
  return v.length;
}
@inline function item(v: JsonValue, i: i32): JsonValue { return v.isArray ? v.at(i)! : v; }

/** The items of a list, or the comma-separated parts of a string ("ASSURED,SEEN_REPLY"), or the one value. */
function splitItems(v: JsonValue): Array<JsonValue> {
  if (v.isArray) return v.items;
  if (!v.isString) return [v];
  const parts = v.s.split(",");
  const out = new Array<JsonValue>(parts.length);
  for (let i = 0; i < parts.length; i++) { const p = new JsonValue(); p.kind = JsonKind.String; p.s = parts[i].trim(); unchecked(out[i] = p); }
  return out;
}

/** A JSON integer or integer text (decimal or 0x hex) within 0..max; -1 otherwise. */
function uintOf(v: JsonValue, max: i64): i64 {
  const n = v.isNumber ? v.n : (v.isString ? <f64>parseU32Text(v.s) : -1);
  return n >= 0 && n <= <f64>max && Math.floor(n) == n ? <i64>n : -1;
}

// ---- one parser per kind (sdk/filters.json "kinds": "sdk") ----

export function parseFamily(f: FilterValues, k: i32, key: string, v: JsonValue): void {
  const s = v.isString ? v.s.toLowerCase() : "";
  if (s == "ipv4" || s == "inet") f.setFamilyOf(k, AF_INET);
  else if (s == "ipv6" || s == "inet6") f.setFamilyOf(k, AF_INET6);
  else f.err(key + " must be \"ipv4\" or \"ipv6\"");
}

/** Names (tcp, udp, ...) or numbers 0..max. */
export function parseProtocols(f: FilterValues, k: i32, key: string, v: JsonValue, max: i64): void {
  for (let i = 0, n = count(f, key, v); i < n; i++) {
    const x = item(v, i);
    const p = x.isString ? <i64>protoFromName(x.s) : uintOf(x, max);
    if (p < 0) f.err(key + ": unknown protocol " + x.toString()); else { f.addInt(k, p); f.protocols.push(<i32>p); }
  }
}

/** Addresses or prefixes, of the configured family when one is. */
export function parseCidrs(f: FilterValues, k: i32, key: string, v: JsonValue): void {
  for (let i = 0, n = count(f, key, v); i < n; i++) {
    const x = item(v, i);
    const c = x.isString ? Cidr.parse(x.s) : null;
    if (c === null) { f.err(key + ": not an address or CIDR: " + x.toString()); continue; }
    if (f.family != 0 && c.family != f.family) { f.err(key + ": " + x.s + " does not match family"); continue; }
    f.addCidr(k, c);
  }
}

export function parsePortRanges(f: FilterValues, k: i32, key: string, v: JsonValue, max: i64): void {
  for (let i = 0, n = count(f, key, v); i < n; i++) {
    const x = item(v, i);
    let r: PortRange | null = null;
    if (x.isNumber) { const p = uintOf(x, max); if (p >= 0) r = new PortRange(<i32>p, <i32>p); }
    else if (x.isString) r = PortRange.parse(x.s, <i32>max);
    if (r === null) f.err(key + ": not a port or lo-hi range: " + x.toString()); else f.addRange(k, r);
  }
}

/** Integers in 0..max (zones, ids, ICMP fields, ...). */
export function parseUints(f: FilterValues, k: i32, key: string, v: JsonValue, max: i64): void {
  for (let i = 0, n = count(f, key, v); i < n; i++) {
    const x = item(v, i);
    const u = uintOf(x, max);
    if (u >= 0) f.addInt(k, u);
    else if (max == 0xffffffff) f.err(key + " must be a u32");
    else f.err(key + " must be 0.." + max.toString() + ", got " + x.toString());
  }
}

/** A u32, or "value/mask" text; a numeric mark takes its mask from the companion key (mark_mask). */
export function parseMark(f: FilterValues, k: i32, key: string, v: JsonValue, maskValue: JsonValue | null, maskKey: string): void {
  let mask: i64 = 0xffffffff;
  if (maskValue) { const m = u32Of(maskValue); if (m < 0) f.err(maskKey + " must be a u32"); else mask = m; }
  let a: i64 = -1, b: i64 = mask;
  if (v.isString) {
    const s = v.s;
    const slash = s.indexOf("/");
    a = parseU32Text(slash >= 0 ? s.substring(0, slash) : s);
    if (slash >= 0) b = parseU32Text(s.substring(slash + 1));
  } else a = u32Of(v);
  if (a < 0 || b < 0) f.err(key + " must be a u32 or \"value/mask\""); else f.putPair(k, a, b);
}

/** A protocol and one of its states, as a state filter holds them (and Entry.protoState gives them). */
export function protoState(proto: i32, state: i32): i64 { return (<i64>proto << 8) | <i64>state; }

const STATEFUL: StaticArray<i32> = [IPPROTO_TCP, IPPROTO_SCTP, IPPROTO_DCCP];

/**
 * State names, read in the tables of the configured protocols that have states (TCP, SCTP, DCCP),
 * TCP's when no protocol is configured: "ESTABLISHED" with proto sctp is SCTP's ESTABLISHED. Each
 * name must be a state of at least one of them.
 */
export function parseStates(f: FilterValues, k: i32, key: string, v: JsonValue): void {
  const protos = new Array<i32>();
  for (let i = 0; i < f.protocols.length; i++) {
    const p = unchecked(f.protocols[i]);
    if (STATEFUL.includes(p)) protos.push(p);
  }
  if (f.protocols.length == 0) protos.push(IPPROTO_TCP);
  else if (protos.length == 0) { f.err(key + ": the configured protocols have no states (only tcp, sctp and dccp do)"); return; }
  for (let i = 0, n = count(f, key, v); i < n; i++) {
    const x = item(v, i);
    let found = false;
    for (let j = 0; j < protos.length && x.isString; j++) {
      const s = stateFromName(unchecked(protos[j]), x.s);
      if (s >= 0) { f.addInt(k, protoState(unchecked(protos[j]), s)); found = true; }
    }
    if (!found) f.err(key + ": unknown state " + x.toString());
  }
}

/** Status flag names that must all be set; UNREPLIED means SEEN_REPLY clear, !NAME that bit clear. */
export function parseStatusBits(f: FilterValues, k: i32, key: string, v: JsonValue): void {
  if (v.isArray && v.length == 0) { f.err(key + " must not be an empty list"); return; }
  const items = splitItems(v);
  for (let i = 0; i < items.length; i++) {
    const x = unchecked(items[i]);
    if (!x.isString) { f.err(key + ": expected flag names"); continue; }
    let name = x.s.toUpperCase();
    const clear = name.length > 1 && name.charCodeAt(0) == 33; // "!NAME": that bit clear
    if (clear) name = name.substring(1);
    if (name == "UNREPLIED" && !clear) { f.orPair(k, 0, IPS_SEEN_REPLY); continue; }
    const b = statusBit(name);
    if (b < 0) f.err(key + ": unknown flag " + x.s); else if (clear) f.orPair(k, 0, b); else f.orPair(k, b, 0);
  }
}

/** Label bit numbers 0..max that must all be set: a list, or "3,64". */
export function parseLabelBits(f: FilterValues, k: i32, key: string, v: JsonValue, max: i64): void {
  if (v.isArray && v.length == 0) { f.err(key + " must not be an empty list"); return; }
  const items = splitItems(v);
  for (let i = 0; i < items.length; i++) {
    const x = unchecked(items[i]);
    const b = uintOf(x, max);
    if (b < 0) f.err(key + " must be a bit number 0.." + max.toString() + ", got " + x.toString()); else f.addInt(k, b);
  }
}

/**
 * A NAT filter: true (any NAT of its kind), false (none given), or the address NAT rewrote to,
 * "IP", "IP:PORT", "[IPV6]" or "[IPV6]:PORT": kept as the address (cidrs) and the port (ints, -1 for none).
 */
export function parseNatFilter(f: FilterValues, k: i32, key: string, v: JsonValue): void {
  if (v.kind == JsonKind.Bool) { if (v.b) f.addInt(k, -1); return; }
  if (!v.isString) { f.err(key + " must be true or an address[:port]"); return; }
  let host = v.s.trim(), port: i64 = -1;
  const close = host.indexOf("]");
  let colon = -1;
  if (host.startsWith("[") && close > 0) {
    if (close + 1 < host.length) colon = host.charCodeAt(close + 1) == 58 ? close + 1 : -2;
    const rest = colon > 0 ? host.substring(colon + 1) : "";
    host = host.substring(1, close);
    if (colon > 0) port = parseU32Text(rest);
  } else if (host.indexOf(":") >= 0 && host.indexOf(":") == host.lastIndexOf(":")) {
    colon = host.indexOf(":");
    port = parseU32Text(host.substring(colon + 1));
    host = host.substring(0, colon);
  }
  const c = host.indexOf("/") < 0 ? Cidr.parse(host) : null;
  if (c === null || colon == -2 || (colon > 0 && (port < 1 || port > 65535))) { f.err(key + ": not an address, address:port or [IPv6]:port: " + v.s); return; }
  f.addCidr(k, c);
  f.addInt(k, port);
}

/** One bound in seconds. */
export function parseSeconds(f: FilterValues, k: i32, key: string, v: JsonValue, max: i64): void {
  const t = uintOf(v, max);
  if (t < 0) f.err(key + " must be seconds (u32)"); else f.putOne(k, t);
}

/** Decimal or 0x-hex u32 text; -1 on error. */
export function parseU32Text(s: string): i64 {
  s = s.trim();
  if (s.length == 0) return -1;
  let v: i64 = 0;
  if (s.length > 2 && s.charCodeAt(0) == 48 && (s.charCodeAt(1) | 32) == 120) {
    if (s.length > 10) return -1;
    for (let i = 2; i < s.length; i++) {
      const c = s.charCodeAt(i) | 0;
      let d = -1;
      if (c >= 48 && c <= 57) d = c - 48; else if ((c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    return v;
  }
  if (s.length > 10) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v <= 0xffffffff ? v : -1;
}

/** A JSON number or numeric string as u32; -1 when not one. */
export function u32Of(v: JsonValue): i64 {
  if (v.isNumber) return v.n >= 0 && v.n <= 4294967295 && Math.floor(v.n) == v.n ? <i64>v.n : -1;
  if (v.isString) return parseU32Text(v.s);
  return -1;
}
