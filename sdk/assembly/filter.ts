// Filter: conntrack-CLI style selection of entries, built in code or from a JSON config.
// Every configured field must match (AND); a field given several values matches any (OR).
// Matching never allocates.
//
// Config keys (Filter.fromConfig), with their conntrack flags:
//   family      "ipv4" | "ipv6"                                 -f
//   proto       "tcp" | "udp" | "icmp" | "icmpv6" | ... | number  -p
//   src, dst    address or CIDR (or a list), original tuple      -s, -d
//   reply_src, reply_dst   address or CIDR (or a list)           -r, -q
//   addr        address/CIDR matched against any of the four addresses (ctplug extension)
//   sport, dport           port, "lo-hi" range, or a list        --sport, --dport (orig)
//   reply_sport, reply_dport                                     --reply-port-src/dst
//   zone        number or list of numbers: the entry's zone (Entry.zoneId) -w
//   orig_zone, reply_zone  per-direction tuple zone              --orig-zone, --reply-zone
//   mark        number, or "value/mask" string                   -m
//   mark_mask   number (mask for a numeric mark)
//   state       TCP state name or list ("ESTABLISHED")           --state
//   status      flag names all of which must be set, "A,B" or a list; UNREPLIED = SEEN_REPLY
//               not set (ctplug extension)                       -u
//   timeout_lt, timeout_gt   remaining timeout bounds in seconds (ctplug extension)
//   id          conntrack id (number or list)
//   label       connlabel bit(s) 0..127 that must all be set        -l
import { Entry } from "./entry";
import { Tuple } from "./tuple";
import { Cidr, PortRange } from "./addr";
import { JsonValue, JsonKind } from "./json";
import { fail } from "./log";
import { statusBit, tcpStateFromName, protoFromName, IPS_SEEN_REPLY } from "./status";
import { AF_INET, AF_INET6 } from "./ctnetlink";

/** What the host should dump (DumpRequest). Zero fields mean "any" unless the flag is set. */
export class DumpRequest {
  family: i32 = 0;
  protocol: i32 = 0;
  hasZone: bool = false;
  zone: i32 = 0;
  hasMark: bool = false;
  mark: u32 = 0;
  markMask: u32 = 0xffffffff;
}

const F_FAMILY: u32 = 1, F_PROTO: u32 = 2, F_SRC: u32 = 4, F_DST: u32 = 8, F_RSRC: u32 = 16, F_RDST: u32 = 32,
  F_SPORT: u32 = 64, F_DPORT: u32 = 128, F_RSPORT: u32 = 256, F_RDPORT: u32 = 512, F_ZONE: u32 = 1024,
  F_MARK: u32 = 2048, F_STATE: u32 = 4096, F_STATUS: u32 = 8192, F_TLT: u32 = 16384, F_TGT: u32 = 32768,
  F_ADDR: u32 = 65536, F_OZONE: u32 = 131072, F_RZONE: u32 = 262144, F_ID: u32 = 524288, F_LABEL: u32 = 1048576;

/** Keys Filter.fromConfig understands (plugins may use others for themselves). */
export const FILTER_KEYS: StaticArray<string> = [
  "family", "proto", "src", "dst", "reply_src", "reply_dst", "addr", "sport", "dport", "reply_sport",
  "reply_dport", "zone", "orig_zone", "reply_zone", "mark", "mark_mask", "state", "status",
  "timeout_lt", "timeout_gt", "id", "label",
];

function anyCidr(list: Array<Cidr>, p: usize, len: i32): bool {
  for (let i = 0, n = list.length; i < n; i++) if (unchecked(list[i]).matches(p, len)) return true;
  return false;
}
function anyPort(list: Array<PortRange>, port: i32): bool {
  for (let i = 0, n = list.length; i < n; i++) if (unchecked(list[i]).contains(port)) return true;
  return false;
}
function anyInt(list: Array<i64>, v: i64): bool {
  for (let i = 0, n = list.length; i < n; i++) if (unchecked(list[i]) == v) return true;
  return false;
}

export class Filter {
  private set: u32 = 0;
  family: i32 = 0;
  protos: Array<i64> = [];
  src: Array<Cidr> = [];
  dst: Array<Cidr> = [];
  replySrc: Array<Cidr> = [];
  replyDst: Array<Cidr> = [];
  addrs: Array<Cidr> = [];
  sport: Array<PortRange> = [];
  dport: Array<PortRange> = [];
  replySport: Array<PortRange> = [];
  replyDport: Array<PortRange> = [];
  zones: Array<i64> = [];
  origZones: Array<i64> = [];
  replyZones: Array<i64> = [];
  // A set: `update` hands the match plugin every id it changed (thousands) to print them.
  private ids: Set<u32> = new Set<u32>();
  labels: Array<i64> = [];
  mark: u32 = 0;
  markMask: u32 = 0xffffffff;
  states: Array<i64> = [];
  statusSet: u32 = 0;
  statusClear: u32 = 0;
  timeoutLt: u32 = 0;
  timeoutGt: u32 = 0;
  /** First configuration error (also logged, and init fails). */
  error: string = "";

  // ---- builder API (each returns this) ----
  setFamily(f: i32): Filter { this.family = f; this.set |= F_FAMILY; return this; }
  addProto(p: i32): Filter { this.protos.push(p); this.set |= F_PROTO; return this; }
  addSrc(c: Cidr): Filter { this.src.push(c); this.set |= F_SRC; return this; }
  addDst(c: Cidr): Filter { this.dst.push(c); this.set |= F_DST; return this; }
  addReplySrc(c: Cidr): Filter { this.replySrc.push(c); this.set |= F_RSRC; return this; }
  addReplyDst(c: Cidr): Filter { this.replyDst.push(c); this.set |= F_RDST; return this; }
  addAnyAddr(c: Cidr): Filter { this.addrs.push(c); this.set |= F_ADDR; return this; }
  addSport(r: PortRange): Filter { this.sport.push(r); this.set |= F_SPORT; return this; }
  addDport(r: PortRange): Filter { this.dport.push(r); this.set |= F_DPORT; return this; }
  addReplySport(r: PortRange): Filter { this.replySport.push(r); this.set |= F_RSPORT; return this; }
  addReplyDport(r: PortRange): Filter { this.replyDport.push(r); this.set |= F_RDPORT; return this; }
  addZone(z: i32): Filter { this.zones.push(z); this.set |= F_ZONE; return this; }
  addOrigZone(z: i32): Filter { this.origZones.push(z); this.set |= F_OZONE; return this; }
  addReplyZone(z: i32): Filter { this.replyZones.push(z); this.set |= F_RZONE; return this; }
  addId(id: u32): Filter { this.ids.add(id); this.set |= F_ID; return this; }
  /** Require connlabel bit `bit` (0..127) to be set. */
  addLabel(bit: i32): Filter { this.labels.push(<i64>bit); this.set |= F_LABEL; return this; }
  setMark(mark: u32, mask: u32 = 0xffffffff): Filter { this.mark = mark; this.markMask = mask; this.set |= F_MARK; return this; }
  addState(s: i32): Filter { this.states.push(s); this.set |= F_STATE; return this; }
  /** Require these status bits set (`set`) and these clear (`clear`). */
  requireStatus(set: u32, clear: u32 = 0): Filter { this.statusSet |= set; this.statusClear |= clear; this.set |= F_STATUS; return this; }
  /** Remaining timeout strictly below `s` seconds. */
  timeoutBelow(s: u32): Filter { this.timeoutLt = s; this.set |= F_TLT; return this; }
  /** Remaining timeout strictly above `s` seconds. */
  timeoutAbove(s: u32): Filter { this.timeoutGt = s; this.set |= F_TGT; return this; }

  /** True when nothing is configured (matches everything). */
  get empty(): bool { return this.set == 0; }
  get zoneList(): Array<i64> { return this.zones; }

  /** Does the entry match every configured field? */
  matches(e: Entry): bool {
    const set = this.set;
    if (set == 0) return true;
    if ((set & F_FAMILY) && e.family != this.family) return false;
    if ((set & F_ZONE) && !anyInt(this.zones, <i64>e.zoneId)) return false;
    if ((set & F_MARK) && (e.mark & this.markMask) != (this.mark & this.markMask)) return false;
    if ((set & F_ID) && !this.ids.has(e.id)) return false;
    if (set & F_STATUS) {
      const st = e.status;
      if ((st & this.statusSet) != this.statusSet || (st & this.statusClear) != 0) return false;
    }
    if ((set & F_TLT) && !(e.hasTimeout && e.timeout < this.timeoutLt)) return false;
    if ((set & F_TGT) && !(e.hasTimeout && e.timeout > this.timeoutGt)) return false;
    if (set & F_LABEL) {
      for (let i = 0, n = this.labels.length; i < n; i++) if (!e.hasLabel(<i32>unchecked(this.labels[i]))) return false;
    }
    if (set & (F_PROTO | F_SRC | F_DST | F_SPORT | F_DPORT | F_ADDR | F_OZONE)) {
      const o = e.orig;
      if ((set & F_PROTO) && !anyInt(this.protos, <i64>o.proto)) return false;
      if ((set & F_SRC) && !anyCidr(this.src, o.src, o.addrLen)) return false;
      if ((set & F_DST) && !anyCidr(this.dst, o.dst, o.addrLen)) return false;
      if ((set & F_SPORT) && !(o.hasPorts && anyPort(this.sport, o.sport))) return false;
      if ((set & F_DPORT) && !(o.hasPorts && anyPort(this.dport, o.dport))) return false;
      if ((set & F_OZONE) && !anyInt(this.origZones, <i64>o.zone)) return false;
    }
    if (set & (F_RSRC | F_RDST | F_RSPORT | F_RDPORT | F_ADDR | F_RZONE)) {
      const r = e.reply;
      if ((set & F_RSRC) && !anyCidr(this.replySrc, r.src, r.addrLen)) return false;
      if ((set & F_RDST) && !anyCidr(this.replyDst, r.dst, r.addrLen)) return false;
      if ((set & F_RSPORT) && !(r.hasPorts && anyPort(this.replySport, r.sport))) return false;
      if ((set & F_RDPORT) && !(r.hasPorts && anyPort(this.replyDport, r.dport))) return false;
      if ((set & F_RZONE) && !anyInt(this.replyZones, <i64>r.zone)) return false;
      if (set & F_ADDR) {
        const o = e.orig;
        if (!(anyCidr(this.addrs, o.src, o.addrLen) || anyCidr(this.addrs, o.dst, o.addrLen) ||
              anyCidr(this.addrs, r.src, r.addrLen) || anyCidr(this.addrs, r.dst, r.addrLen))) return false;
      }
    }
    if (set & F_STATE) {
      const ts = e.tcpState;
      if (ts < 0 || !anyInt(this.states, <i64>ts)) return false;
    }
    return true;
  }

  /**
   * Kernel-side requests that cover this filter: one per configured zone (so the kernel
   * filters by CTA_ZONE), or one for all zones; family, a single protocol and the mark are
   * pushed down too. The host narrows each to the grant.
   */
  kernelRequests(): Array<DumpRequest> {
    const out = new Array<DumpRequest>();
    const nz = (this.set & F_ZONE) ? this.zones.length : 0;
    for (let i = 0; i < (nz > 0 ? nz : 1); i++) {
      const r = new DumpRequest();
      r.family = (this.set & F_FAMILY) ? this.family : 0;
      if ((this.set & F_PROTO) && this.protos.length == 1) r.protocol = <i32>this.protos[0];
      if (nz > 0) { r.hasZone = true; r.zone = <i32>this.zones[i]; }
      if (this.set & F_MARK) { r.hasMark = true; r.mark = this.mark; r.markMask = this.markMask; }
      out.push(r);
    }
    return out;
  }

  /** One request for Plugin.subscribe; same as kernelRequest(). */
  eventRequest(): DumpRequest { return this.kernelRequest(); }

  /**
   * A single request covering this filter (for Plugin.dump / Plugin.subscribe): family, a
   * single protocol, the zone when exactly one is configured, the mark. With several zones it
   * asks for all of them and matches() picks; kernelRequests() does one dump per zone instead.
   */
  kernelRequest(): DumpRequest {
    const r = new DumpRequest();
    r.family = (this.set & F_FAMILY) ? this.family : 0;
    if ((this.set & F_PROTO) && this.protos.length == 1) r.protocol = <i32>this.protos[0];
    if ((this.set & F_ZONE) && this.zones.length == 1) { r.hasZone = true; r.zone = <i32>this.zones[0]; }
    if (this.set & F_MARK) { r.hasMark = true; r.mark = this.mark; r.markMask = this.markMask; }
    return r;
  }

  // ---- config ----
  private err(msg: string): void {
    if (this.error.length == 0) { this.error = msg; fail("config: " + msg); }
  }

  /** Build from a JSON object with the keys listed at the top of this file. Errors are logged and fail init. */
  static fromConfig(cfg: JsonValue | null): Filter {
    const f = new Filter();
    if (cfg === null || cfg.isNull) return f;
    if (!cfg.isObject) { f.err("config must be a JSON object"); return f; }
    let v = cfg.get("family");
    if (v) {
      const s = v.isString ? v.s.toLowerCase() : "";
      if (s == "ipv4" || s == "inet") f.setFamily(AF_INET);
      else if (s == "ipv6" || s == "inet6") f.setFamily(AF_INET6);
      else f.err("family must be \"ipv4\" or \"ipv6\"");
    }
    v = cfg.get("proto");
    if (v) f.eachValue(v, "proto", 0);
    f.cidrs(cfg, "src", 1); f.cidrs(cfg, "dst", 2); f.cidrs(cfg, "reply_src", 3); f.cidrs(cfg, "reply_dst", 4);
    f.cidrs(cfg, "addr", 5);
    f.ports(cfg, "sport", 1); f.ports(cfg, "dport", 2); f.ports(cfg, "reply_sport", 3); f.ports(cfg, "reply_dport", 4);
    v = cfg.get("zone"); if (v) f.eachValue(v, "zone", 1);
    v = cfg.get("orig_zone"); if (v) f.eachValue(v, "orig_zone", 2);
    v = cfg.get("reply_zone"); if (v) f.eachValue(v, "reply_zone", 3);
    v = cfg.get("id"); if (v) f.eachValue(v, "id", 4);
    v = cfg.get("state"); if (v) f.eachValue(v, "state", 5);
    v = cfg.get("status"); if (v) f.eachValue(v, "status", 6);
    v = cfg.get("label"); if (v) f.eachValue(v, "label", 7);
    v = cfg.get("mark");
    if (v) {
      let mask: u32 = 0xffffffff;
      const mm = cfg.get("mark_mask");
      if (mm) { const m = u32Of(mm); if (m < 0) f.err("mark_mask must be a u32"); else mask = <u32>m; }
      if (v.isString) {
        const s = v.s;
        const slash = s.indexOf("/");
        const a = parseU32Text(slash >= 0 ? s.substring(0, slash) : s);
        const b = slash >= 0 ? parseU32Text(s.substring(slash + 1)) : <i64>mask;
        if (a < 0 || b < 0) f.err("mark must be a u32 or \"value/mask\"");
        else f.setMark(<u32>a, <u32>b);
      } else {
        const a = u32Of(v);
        if (a < 0) f.err("mark must be a u32 or \"value/mask\""); else f.setMark(<u32>a, mask);
      }
    }
    v = cfg.get("timeout_lt");
    if (v) { const t = u32Of(v); if (t < 0) f.err("timeout_lt must be seconds (u32)"); else f.timeoutBelow(<u32>t); }
    v = cfg.get("timeout_gt");
    if (v) { const t = u32Of(v); if (t < 0) f.err("timeout_gt must be seconds (u32)"); else f.timeoutAbove(<u32>t); }
    return f;
  }

  private eachValue(v: JsonValue, key: string, what: i32): void {
    if (v.isArray) {
      if (v.length == 0) { this.err(key + " must not be an empty list"); return; }
      for (let i = 0; i < v.length; i++) this.oneValue(v.at(i)!, key, what);
    } else if ((what == 6 || what == 7) && v.isString) {
      // "ASSURED,SEEN_REPLY"
      const parts = v.s.split(",");
      for (let i = 0; i < parts.length; i++) { const p = new JsonValue(); p.kind = JsonKind.String; p.s = parts[i].trim(); this.oneValue(p, key, what); }
    } else this.oneValue(v, key, what);
  }

  private oneValue(v: JsonValue, key: string, what: i32): void {
    if (what == 0) { // proto
      const p = v.isString ? protoFromName(v.s) : (v.isNumber && v.n >= 0 && v.n <= 255 && Math.floor(v.n) == v.n ? <i32>v.n : -1);
      if (p < 0) this.err("proto: unknown protocol " + v.toString()); else this.addProto(p);
    } else if (what >= 1 && what <= 3) { // zones
      const z = v.isNumber ? v.n : (v.isString ? <f64>parseU32Text(v.s) : -1);
      if (!(z >= 0 && z <= 65535 && Math.floor(z) == z)) { this.err(key + " must be 0..65535, got " + v.toString()); return; }
      if (what == 1) this.addZone(<i32>z); else if (what == 2) this.addOrigZone(<i32>z); else this.addReplyZone(<i32>z);
    } else if (what == 4) {
      const id = u32Of(v);
      if (id < 0) this.err("id must be a u32"); else this.addId(<u32>id);
    } else if (what == 5) {
      const s = v.isString ? tcpStateFromName(v.s) : -1;
      if (s < 0) this.err("state: unknown TCP state " + v.toString()); else this.addState(s);
    } else if (what == 6) {
      if (!v.isString) { this.err("status: expected flag names"); return; }
      const name = v.s.toUpperCase();
      if (name == "UNREPLIED") { this.requireStatus(0, IPS_SEEN_REPLY); return; }
      const b = statusBit(name);
      if (b < 0) this.err("status: unknown flag " + v.s); else this.requireStatus(<u32>b, 0);
    } else if (what == 7) {
      const b = v.isNumber ? v.n : (v.isString ? <f64>parseU32Text(v.s) : -1);
      if (!(b >= 0 && b <= 127 && Math.floor(b) == b)) this.err("label must be a bit number 0..127, got " + v.toString());
      else this.addLabel(<i32>b);
    }
  }

  private cidrs(cfg: JsonValue, key: string, which: i32): void {
    const v = cfg.get(key);
    if (!v) return;
    const n = v.isArray ? v.length : 1;
    if (v.isArray && n == 0) { this.err(key + " must not be an empty list"); return; }
    for (let i = 0; i < n; i++) {
      const item = v.isArray ? v.at(i)! : v;
      const c = item.isString ? Cidr.parse(item.s) : null;
      if (c === null) { this.err(key + ": not an address or CIDR: " + item.toString()); continue; }
      if ((this.set & F_FAMILY) && c.family != this.family) { this.err(key + ": " + item.s + " does not match family"); continue; }
      if (which == 1) this.addSrc(c); else if (which == 2) this.addDst(c); else if (which == 3) this.addReplySrc(c);
      else if (which == 4) this.addReplyDst(c); else this.addAnyAddr(c);
    }
  }

  private ports(cfg: JsonValue, key: string, which: i32): void {
    const v = cfg.get(key);
    if (!v) return;
    const n = v.isArray ? v.length : 1;
    if (v.isArray && n == 0) { this.err(key + " must not be an empty list"); return; }
    for (let i = 0; i < n; i++) {
      const item = v.isArray ? v.at(i)! : v;
      let r: PortRange | null = null;
      if (item.isNumber) { if (item.n >= 0 && item.n <= 65535 && Math.floor(item.n) == item.n) r = new PortRange(<i32>item.n, <i32>item.n); }
      else if (item.isString) r = PortRange.parse(item.s);
      if (r === null) { this.err(key + ": not a port or lo-hi range: " + item.toString()); continue; }
      if (which == 1) this.addSport(r); else if (which == 2) this.addDport(r); else if (which == 3) this.addReplySport(r); else this.addReplyDport(r);
    }
  }
}

/**
 * Fail (init returns E_INVAL) for every key of `cfg` that is neither a filter key nor in
 * `extra`: a typo such as "zon" must not silently widen a delete. Returns true when all known.
 */
export function checkConfigKeys(cfg: JsonValue, extra: Array<string>): bool {
  if (!cfg.isObject) return true;
  let ok = true;
  for (let i = 0; i < cfg.keys.length; i++) {
    const k = unchecked(cfg.keys[i]);
    let known = false;
    for (let j = 0; j < FILTER_KEYS.length; j++) if (unchecked(FILTER_KEYS[j]) == k) { known = true; break; }
    if (!known) for (let j = 0; j < extra.length; j++) if (unchecked(extra[j]) == k) { known = true; break; }
    if (!known) { fail("config: unknown key \"" + k + "\""); ok = false; }
  }
  return ok;
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
