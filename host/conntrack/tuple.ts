// Tuples: encode a typed flow description as CTA_TUPLE_* attributes.
import type { Encoder } from '../netlink/attr.js';
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
