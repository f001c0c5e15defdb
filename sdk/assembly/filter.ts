// Filter: conntrack-CLI style selection of entries, built in code or from a JSON config.
// Every configured key must match (AND); a key given several values matches any (OR), except
// status and label bits, which must all be set. Matching does not allocate per entry.
//
// The keys, their kinds, CLI flags and docs are defined once, in sdk/filters.json; the generated
// filter-keys.ts lists them and parses a config by kind (filter-values.ts). What is hand-written
// here is what each key means for an entry: one matcher per key, in Filter.matchKey.
import { Entry } from "./entry";
import { Cidr, PortRange } from "./addr";
import { JsonValue } from "./json";
import { fail } from "./log";
import { FilterValues, protoState } from "./filter-values";
import { IPPROTO_TCP } from "./ctnetlink";
import { FILTER_KEY_COUNT, FILTER_KEYS, parseFilterKeys } from "./filter-keys";
import * as K from "./filter-keys";

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

/**
 * Keys read from the entry's top-level attributes, checked before the keys that decode a tuple or
 * the protoinfo: most entries that fail, fail there, and cheaply (a dump of ten zones filtered by
 * zone and port decodes one tuple in ten).
 */
const TOP_LEVEL: u64 = (<u64>1 << K.FAMILY) | (<u64>1 << K.ZONE) | (<u64>1 << K.MARK) | (<u64>1 << K.ID) | (<u64>1 << K.SECMARK) | (<u64>1 << K.STATUS) |
  (<u64>1 << K.TIMEOUT_LT) | (<u64>1 << K.TIMEOUT_GT) | (<u64>1 << K.LABEL);

export class Filter extends FilterValues {
  // `update` hands the match plugin every id it changed (thousands) to print them: looked up in a set.
  private idSet: Set<u32> | null = null;

  constructor() { super(FILTER_KEY_COUNT); }

  // ---- builder API (each returns this) ----
  setFamily(f: i32): Filter { this.setFamilyOf(K.FAMILY, f); return this; }
  addProto(p: i32): Filter { this.addInt(K.PROTO, p); return this; }
  addSrc(c: Cidr): Filter { this.addCidr(K.SRC, c); return this; }
  addDst(c: Cidr): Filter { this.addCidr(K.DST, c); return this; }
  addReplySrc(c: Cidr): Filter { this.addCidr(K.REPLY_SRC, c); return this; }
  addReplyDst(c: Cidr): Filter { this.addCidr(K.REPLY_DST, c); return this; }
  addAnyAddr(c: Cidr): Filter { this.addCidr(K.ADDR, c); return this; }
  addSport(r: PortRange): Filter { this.addRange(K.SPORT, r); return this; }
  addDport(r: PortRange): Filter { this.addRange(K.DPORT, r); return this; }
  addReplySport(r: PortRange): Filter { this.addRange(K.REPLY_SPORT, r); return this; }
  addReplyDport(r: PortRange): Filter { this.addRange(K.REPLY_DPORT, r); return this; }
  addZone(z: i32): Filter { this.addInt(K.ZONE, z); return this; }
  addOrigZone(z: i32): Filter { this.addInt(K.ORIG_ZONE, z); return this; }
  addReplyZone(z: i32): Filter { this.addInt(K.REPLY_ZONE, z); return this; }
  addId(id: u32): Filter { this.addInt(K.ID, id); this.idSet = null; return this; }
  /** Require connlabel bit `bit` (0..127) to be set. */
  addLabel(bit: i32): Filter { this.addInt(K.LABEL, bit); return this; }
  setMark(mark: u32, mask: u32 = 0xffffffff): Filter { this.putPair(K.MARK, mark, mask); return this; }
  /** A TCP state (the entry must be in one of those added). */
  addState(s: i32): Filter { this.addInt(K.STATE, protoState(IPPROTO_TCP, s)); return this; }
  /** A state of `proto` (tcp, sctp or dccp). */
  addProtoState(proto: i32, s: i32): Filter { this.addInt(K.STATE, protoState(proto, s)); return this; }
  /** Require these status bits set (`set`) and these clear (`clear`). */
  requireStatus(set: u32, clear: u32 = 0): Filter { this.orPair(K.STATUS, set, clear); return this; }
  /** Remaining timeout strictly below `s` seconds. */
  timeoutBelow(s: u32): Filter { this.putOne(K.TIMEOUT_LT, s); return this; }
  /** Remaining timeout strictly above `s` seconds. */
  timeoutAbove(s: u32): Filter { this.putOne(K.TIMEOUT_GT, s); return this; }

  /** True when nothing is configured (matches everything). */
  get empty(): bool { return this.set == 0; }
  get zoneList(): Array<i64> { return this.intsOf(K.ZONE); }

  @inline private intsOf(k: i32): Array<i64> { return unchecked(this.ints[k]); }

  /** Does the entry match every configured key? The top-level attributes are checked first. */
  matches(e: Entry): bool {
    const set = this.set;
    for (let s = set & TOP_LEVEL; s != 0; s &= s - 1) if (!this.matchKey(<i32>ctz(s), e)) return false;
    for (let s = set & ~TOP_LEVEL; s != 0; s &= s - 1) if (!this.matchKey(<i32>ctz(s), e)) return false;
    return true;
  }

  /**
   * What each filter key of sdk/filters.json means for an entry: one case per key (the build
   * checks every key has one). A key without a matcher matches nothing, never everything.
   */
  private matchKey(k: i32, e: Entry): bool {
    switch (k) {
      case K.FAMILY: return e.family == this.family;
      case K.PROTO: return anyInt(this.intsOf(k), e.orig.proto);
      case K.SRC: { const o = e.orig; return anyCidr(unchecked(this.cidrs[k]), o.src, o.addrLen); }
      case K.DST: { const o = e.orig; return anyCidr(unchecked(this.cidrs[k]), o.dst, o.addrLen); }
      case K.REPLY_SRC: { const r = e.reply; return anyCidr(unchecked(this.cidrs[k]), r.src, r.addrLen); }
      case K.REPLY_DST: { const r = e.reply; return anyCidr(unchecked(this.cidrs[k]), r.dst, r.addrLen); }
      case K.ADDR: {
        const a = unchecked(this.cidrs[k]), o = e.orig, r = e.reply;
        return anyCidr(a, o.src, o.addrLen) || anyCidr(a, o.dst, o.addrLen) || anyCidr(a, r.src, r.addrLen) || anyCidr(a, r.dst, r.addrLen);
      }
      case K.SPORT: { const o = e.orig; return o.hasPorts && anyPort(unchecked(this.ranges[k]), o.sport); }
      case K.DPORT: { const o = e.orig; return o.hasPorts && anyPort(unchecked(this.ranges[k]), o.dport); }
      case K.REPLY_SPORT: { const r = e.reply; return r.hasPorts && anyPort(unchecked(this.ranges[k]), r.sport); }
      case K.REPLY_DPORT: { const r = e.reply; return r.hasPorts && anyPort(unchecked(this.ranges[k]), r.dport); }
      case K.ICMP_TYPE: { const o = e.orig; return o.hasIcmp && anyInt(this.intsOf(k), o.icmpType); }
      case K.ICMP_CODE: { const o = e.orig; return o.hasIcmp && anyInt(this.intsOf(k), o.icmpCode); }
      case K.ICMP_ID: { const o = e.orig; return o.hasIcmp && anyInt(this.intsOf(k), o.icmpId); }
      case K.ZONE: return anyInt(this.intsOf(k), e.zoneId);
      case K.ORIG_ZONE: return anyInt(this.intsOf(k), e.orig.zone);
      case K.REPLY_ZONE: return anyInt(this.intsOf(k), e.reply.zone);
      case K.MARK: {
        const m = this.intsOf(k), mask = <u32>unchecked(m[1]);
        return (e.mark & mask) == (<u32>unchecked(m[0]) & mask);
      }
      case K.STATE: { const ps = e.protoState; return ps >= 0 && anyInt(this.intsOf(k), ps); }
      case K.STATUS: {
        const b = this.intsOf(k), st = e.status, set = <u32>unchecked(b[0]);
        return (st & set) == set && (st & <u32>unchecked(b[1])) == 0;
      }
      case K.LABEL: {
        const bits = this.intsOf(k);
        for (let i = 0, n = bits.length; i < n; i++) if (!e.hasLabel(<i32>unchecked(bits[i]))) return false;
        return true;
      }
      case K.TIMEOUT_LT: return e.hasTimeout && <i64>e.timeout < unchecked(this.intsOf(k)[0]);
      case K.TIMEOUT_GT: return e.hasTimeout && <i64>e.timeout > unchecked(this.intsOf(k)[0]);
      case K.ID: return this.ids().has(e.id);
      case K.SECMARK: return anyInt(this.intsOf(k), e.hasSecmark ? e.secmark : 0);
      case K.SRC_NAT: return this.natMatches(k, e, true);
      case K.DST_NAT: return this.natMatches(k, e, false);
      case K.ANY_NAT: return this.natMatches(k, e, true) || this.natMatches(k, e, false);
    }
    return false;
  }

  /**
   * conntrack's NAT filter (filter_nat, with libnetfilter_conntrack's IS_SNAT/IS_SPAT): source NAT
   * is done (SRC_NAT_DONE, when the entry has a status) and the reply's destination address or
   * port differs from the original's source (destination NAT: the reply's source and the
   * original's destination). With an address (and port), NAT must have rewritten to exactly that;
   * an IPv6 address is compared too (conntrack compares only IPv4 ones).
   */
  private natMatches(k: i32, e: Entry, source: bool): bool {
    const addrs = unchecked(this.cidrs[k]);
    const port = <i32>unchecked(this.intsOf(k)[0]);
    if (addrs.length == 0 && port < 0) return e.natAddress(source) || e.natPort(source);
    if (addrs.length > 0) {
      const r = e.reply;
      if (!(e.natAddress(source) && unchecked(addrs[0]).matches(source ? r.dst : r.src, r.addrLen))) return false;
    }
    return port < 0 || (e.natPort(source) && e.natToPort(source) == port);
  }

  private ids(): Set<u32> {
    let s = this.idSet;
    if (s === null) {
      s = new Set<u32>();
      const v = this.intsOf(K.ID);
      for (let i = 0, n = v.length; i < n; i++) s.add(<u32>unchecked(v[i]));
      this.idSet = s;
    }
    return s;
  }

  /** A dump request with what the kernel can filter on: family, a single protocol, the mark. */
  private request(): DumpRequest {
    const r = new DumpRequest();
    r.family = this.has(K.FAMILY) ? this.family : 0;
    const protos = this.intsOf(K.PROTO);
    if (protos.length == 1) r.protocol = <i32>unchecked(protos[0]);
    if (this.has(K.MARK)) {
      const m = this.intsOf(K.MARK);
      r.hasMark = true; r.mark = <u32>unchecked(m[0]); r.markMask = <u32>unchecked(m[1]);
    }
    return r;
  }

  /**
   * Kernel-side requests that cover this filter: one per configured zone (so the kernel
   * filters by CTA_ZONE), or one for all zones; family, a single protocol and the mark are
   * pushed down too. The host narrows each to the grant.
   */
  kernelRequests(): Array<DumpRequest> {
    const out = new Array<DumpRequest>();
    const zones = this.intsOf(K.ZONE);
    const nz = zones.length;
    for (let i = 0; i < (nz > 0 ? nz : 1); i++) {
      const r = this.request();
      if (nz > 0) { r.hasZone = true; r.zone = <i32>unchecked(zones[i]); }
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
    const r = this.request();
    const zones = this.intsOf(K.ZONE);
    if (zones.length == 1) { r.hasZone = true; r.zone = <i32>unchecked(zones[0]); }
    return r;
  }

  /** Build from a JSON object of filter keys (sdk/filters.json). Errors are logged and fail init. */
  static fromConfig(cfg: JsonValue | null): Filter {
    const f = new Filter();
    if (cfg === null || cfg.isNull) return f;
    if (!cfg.isObject) { f.err("config must be a JSON object"); return f; }
    parseFilterKeys(f, cfg);
    return f;
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
