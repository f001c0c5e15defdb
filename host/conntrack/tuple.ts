// Tuples: a typed flow description encoded as CTA_TUPLE_* attributes, and CTA_TUPLE_* attributes
// decoded into the tuple of a Flow (addresses as text).
import type { AttrDecoder, Encoder } from '../netlink/attr.js';
import { formatAddress } from './address.js';
import { CTA_IP, CTA_PROTO, CTA_TUPLE, IPPROTO } from './constants.js';
import type { Family } from './validate.js';

export interface Tuple {
  family: Family;
  protocol: number;
  src: Uint8Array;
  dst: Uint8Array;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** Directional zone (CTA_TUPLE_ZONE), rarely used. */
  zone?: number;
}

export function encodeTuple(enc: Encoder, type: number, t: Tuple): void {
  enc.begin(type);
  enc.begin(CTA_TUPLE.IP);
  if (t.family === 'ipv4') enc.bytesAttr(CTA_IP.V4_SRC, t.src).bytesAttr(CTA_IP.V4_DST, t.dst);
  else enc.bytesAttr(CTA_IP.V6_SRC, t.src).bytesAttr(CTA_IP.V6_DST, t.dst);
  enc.end();
  enc.begin(CTA_TUPLE.PROTO);
  enc.u8(CTA_PROTO.NUM, t.protocol);
  if (t.protocol === IPPROTO.icmp || t.protocol === IPPROTO.icmpv6) {
    const v6 = t.protocol === IPPROTO.icmpv6;
    enc.u16be(v6 ? CTA_PROTO.ICMPV6_ID : CTA_PROTO.ICMP_ID, t.icmpId ?? 0);
    enc.u8(v6 ? CTA_PROTO.ICMPV6_TYPE : CTA_PROTO.ICMP_TYPE, t.icmpType ?? 0);
    enc.u8(v6 ? CTA_PROTO.ICMPV6_CODE : CTA_PROTO.ICMP_CODE, t.icmpCode ?? 0);
  } else if (t.sport !== undefined || t.dport !== undefined) {
    enc.u16be(CTA_PROTO.SRC_PORT, t.sport ?? 0).u16be(CTA_PROTO.DST_PORT, t.dport ?? 0);
  }
  enc.end();
  if (t.zone !== undefined) enc.u16be(CTA_TUPLE.ZONE, t.zone);
  enc.end();
}

// ICMP query types and their answers, both ways, as the kernel inverts them.
const ICMP_INVERSE: Record<number, number> = { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17 };
const ICMPV6_INVERSE: Record<number, number> = { 128: 129, 129: 128, 139: 140, 140: 139 };

/** The reply direction of a flow without NAT: addresses and ports swapped, ICMP type answered. */
export function invertTuple(t: Tuple): Tuple {
  const inv = t.protocol === IPPROTO.icmp ? ICMP_INVERSE : t.protocol === IPPROTO.icmpv6 ? ICMPV6_INVERSE : undefined;
  return {
    ...t,
    src: t.dst,
    dst: t.src,
    sport: t.dport,
    dport: t.sport,
    icmpType: inv && t.icmpType !== undefined ? (inv[t.icmpType] ?? t.icmpType) : t.icmpType,
  };
}

/** ICMP types that have an inverse (the kernel only tracks those as flows). */
export function icmpHasInverse(protocol: number, type: number): boolean {
  return (protocol === IPPROTO.icmp ? ICMP_INVERSE : ICMPV6_INVERSE)[type] !== undefined;
}

/** One direction of a flow as the kernel reports it. */
export interface FlowTuple {
  src: string;
  dst: string;
  /** TCP, UDP, UDP-Lite, SCTP, DCCP ports; for GRE, the keys (conntrack's srckey/dstkey). */
  sport?: number;
  dport?: number;
  /** ICMP and ICMPv6: type, code and id. */
  icmp?: { type: number; code: number; id: number };
  /** A directional zone (CTA_TUPLE_ZONE): the zone this direction is looked up in. */
  zone?: number;
}

/** Decodes the children of a CTA_TUPLE_* attribute (`d` iterates them). Also the protocol number. */
export function decodeTuple(d: AttrDecoder): { tuple: FlowTuple; protocol: number } {
  const tuple: FlowTuple = { src: '', dst: '' };
  let protocol = -1, type = -1, code = -1, id = -1;
  while (d.next()) {
    if (d.type === CTA_TUPLE.IP) {
      for (const a = d.children(); a.next(); ) {
        const text = () => formatAddress(a.buf.subarray(a.start, a.end));
        if ((a.type === CTA_IP.V4_SRC && a.length === 4) || (a.type === CTA_IP.V6_SRC && a.length === 16)) tuple.src = text();
        else if ((a.type === CTA_IP.V4_DST && a.length === 4) || (a.type === CTA_IP.V6_DST && a.length === 16)) tuple.dst = text();
      }
    } else if (d.type === CTA_TUPLE.PROTO) {
      for (const p = d.children(); p.next(); ) {
        switch (p.type) {
          case CTA_PROTO.NUM: protocol = p.u8() ?? -1; break;
          case CTA_PROTO.SRC_PORT: tuple.sport = p.u16be(); break;
          case CTA_PROTO.DST_PORT: tuple.dport = p.u16be(); break;
          case CTA_PROTO.ICMP_ID: case CTA_PROTO.ICMPV6_ID: id = p.u16be() ?? -1; break;
          case CTA_PROTO.ICMP_TYPE: case CTA_PROTO.ICMPV6_TYPE: type = p.u8() ?? -1; break;
          case CTA_PROTO.ICMP_CODE: case CTA_PROTO.ICMPV6_CODE: code = p.u8() ?? -1; break;
        }
      }
    } else if (d.type === CTA_TUPLE.ZONE) tuple.zone = d.u16be();
  }
  if (type >= 0) tuple.icmp = { type, code: Math.max(code, 0), id: Math.max(id, 0) };
  return { tuple, protocol };
}
