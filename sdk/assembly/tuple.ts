// One conntrack tuple (CTA_TUPLE_ORIG / CTA_TUPLE_REPLY / CTA_TUPLE_MASTER): addresses,
// L4 protocol, ports or ICMP type/code/id, and the optional per-direction zone.
// Zero-copy: addresses are pointers into the message and are valid only while the
// entry is (inside the onEntry callback). Copy what you need to keep.
import { AttrIter } from "./attr";
import { be16 } from "./bytes";
import {
  CTA_TUPLE_IP, CTA_TUPLE_PROTO, CTA_TUPLE_ZONE, CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC,
  CTA_IP_V6_DST, CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT, CTA_PROTO_ICMP_ID,
  CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE, CTA_PROTO_ICMPV6_ID, CTA_PROTO_ICMPV6_TYPE,
  CTA_PROTO_ICMPV6_CODE, AF_INET, AF_INET6,
} from "./ctnetlink";
import { formatAddr } from "./addr-format";

// Scratch iterators shared by every tuple parse (parsing is not re-entrant and never nests
// deeper than two levels: tuple -> ip|proto).
const outer = new AttrIter();
const inner = new AttrIter();

export class Tuple {
  /** The tuple attribute was present and well formed. */
  present: bool = false;
  /** A malformed nested attribute was seen (fields parsed before it are kept). */
  malformed: bool = false;
  /** AF_INET (2), AF_INET6 (10) or 0 when no address attribute was found. */
  family: i32 = 0;
  /** Address length in bytes: 4, 16 or 0. */
  addrLen: i32 = 0;
  /** Pointers to the source / destination address bytes (network order) inside the message; 0 when absent. */
  src: usize = 0;
  dst: usize = 0;
  /** L4 protocol number (CTA_PROTO_NUM), 0 when absent. */
  proto: i32 = 0;
  hasPorts: bool = false;
  sport: i32 = 0;
  dport: i32 = 0;
  hasIcmp: bool = false;
  icmpType: i32 = 0;
  icmpCode: i32 = 0;
  icmpId: i32 = 0;
  /** CTA_TUPLE_ZONE (per-direction zone), when present. */
  hasZone: bool = false;
  zone: i32 = 0;

  clear(): void {
    this.present = false; this.malformed = false; this.family = 0; this.addrLen = 0;
    this.src = 0; this.dst = 0; this.proto = 0; this.hasPorts = false; this.sport = 0;
    this.dport = 0; this.hasIcmp = false; this.icmpType = 0; this.icmpCode = 0; this.icmpId = 0;
    this.hasZone = false; this.zone = 0;
  }

  /** Parse the payload of a CTA_TUPLE_* attribute. Missing pieces stay 0 / false. */
  parse(ptr: usize, len: i32): void {
    this.clear();
    this.present = true;
    const o = outer.reset(ptr, len);
    while (o.next()) {
      const t = o.type;
      if (t == CTA_TUPLE_IP) this.parseIp(o.ptr, o.len);
      else if (t == CTA_TUPLE_PROTO) this.parseProto(o.ptr, o.len);
      else if (t == CTA_TUPLE_ZONE) {
        if (o.len >= 2) { this.hasZone = true; this.zone = <i32>be16(o.ptr); }
      }
    }
    if (o.malformed) this.malformed = true;
  }

  private parseIp(ptr: usize, len: i32): void {
    const it = inner.reset(ptr, len);
    while (it.next()) {
      const t = it.type;
      if (t == CTA_IP_V4_SRC || t == CTA_IP_V4_DST) {
        if (it.len < 4 || this.family == AF_INET6) continue;
        this.family = AF_INET; this.addrLen = 4;
        if (t == CTA_IP_V4_SRC) this.src = it.ptr; else this.dst = it.ptr;
      } else if (t == CTA_IP_V6_SRC || t == CTA_IP_V6_DST) {
        if (it.len < 16 || this.family == AF_INET) continue;
        this.family = AF_INET6; this.addrLen = 16;
        if (t == CTA_IP_V6_SRC) this.src = it.ptr; else this.dst = it.ptr;
      }
    }
    if (it.malformed) this.malformed = true;
  }

  private parseProto(ptr: usize, len: i32): void {
    const it = inner.reset(ptr, len);
    while (it.next()) {
      switch (it.type) {
        case CTA_PROTO_NUM: if (it.len >= 1) this.proto = <i32>load<u8>(it.ptr); break;
        case CTA_PROTO_SRC_PORT: if (it.len >= 2) { this.sport = <i32>be16(it.ptr); this.hasPorts = true; } break;
        case CTA_PROTO_DST_PORT: if (it.len >= 2) { this.dport = <i32>be16(it.ptr); this.hasPorts = true; } break;
        case CTA_PROTO_ICMP_ID:
        case CTA_PROTO_ICMPV6_ID: if (it.len >= 2) { this.icmpId = <i32>be16(it.ptr); this.hasIcmp = true; } break;
        case CTA_PROTO_ICMP_TYPE:
        case CTA_PROTO_ICMPV6_TYPE: if (it.len >= 1) { this.icmpType = <i32>load<u8>(it.ptr); this.hasIcmp = true; } break;
        case CTA_PROTO_ICMP_CODE:
        case CTA_PROTO_ICMPV6_CODE: if (it.len >= 1) { this.icmpCode = <i32>load<u8>(it.ptr); this.hasIcmp = true; } break;
        default: break;
      }
    }
    if (it.malformed) this.malformed = true;
  }

  /** IPv4 source as a host-order u32 (0 when not IPv4). */
  get srcV4(): u32 { return this.addrLen == 4 && this.src ? bswap<u32>(load<u32>(this.src)) : 0; }
  get dstV4(): u32 { return this.addrLen == 4 && this.dst ? bswap<u32>(load<u32>(this.dst)) : 0; }

  /** Allocating conveniences (avoid in hot paths; use the renderer instead). */
  srcString(): string { return formatAddr(this.src, this.addrLen); }
  dstString(): string { return formatAddr(this.dst, this.addrLen); }
}
