// One entry's identity across the sandbox boundary: what the match plugin printed as JSON and the
// kernel's bytes for the same entry give the same key. The id alone is not enough: conntrack ids
// are 32-bit hashes, and in a table of 100k entries two share an id about once, so a selection by
// id would sometimes take an entry that was not selected. Id, zone and original tuple do not collide.
import { CTA_IP, CTA_PROTO, CTA_TUPLE } from '../conntrack/constants.js';
import { entryZone } from '../conntrack/scope.js';
import { parseAddress } from '../conntrack/validate.js';
import { AttrDecoder } from '../netlink/attr.js';
import { NLA_HDRLEN } from '../netlink/constants.js';

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const key = (id: number, zone: number, src: string, dst: string, l4: (number | undefined)[]) => `${id}/${zone}/${src}/${dst}/${l4.join(',')}`;

/** Where each CTA_PROTO_* value goes in a key (GRE keys travel as the ports). */
const SLOT: Record<number, number> = {
  [CTA_PROTO.NUM]: 0, [CTA_PROTO.SRC_PORT]: 1, [CTA_PROTO.DST_PORT]: 2, [CTA_PROTO.ICMP_ID]: 3, [CTA_PROTO.ICMPV6_ID]: 3,
  [CTA_PROTO.ICMP_TYPE]: 4, [CTA_PROTO.ICMPV6_TYPE]: 4, [CTA_PROTO.ICMP_CODE]: 5, [CTA_PROTO.ICMPV6_CODE]: 5,
};

/**
 * The key of an entry the match plugin printed as JSON (addresses parsed back to bytes; GRE's
 * srckey/dstkey are its ports). Its zone by the scanner's zone rule: "zone" is CTA_ZONE (0 when
 * absent, which the kernel never sends), a tuple's "zone" its CTA_TUPLE_ZONE.
 */
export function jsonKey(j: { id: number; zone?: number; protonum: number; orig: Record<string, unknown>; reply?: Record<string, unknown> }): string {
  const o = j.orig;
  const n = (v: unknown) => (v === undefined ? undefined : Number(v));
  const zone = entryZone(j.zone ? j.zone : -1, n(o.zone) ?? -1, n(j.reply?.zone) ?? -1);
  return key(j.id, zone, hex(parseAddress(o.src).bytes), hex(parseAddress(o.dst).bytes), [j.protonum, n(o.sport ?? o.srckey), n(o.dport ?? o.dstkey), n(o.id), n(o.type), n(o.code)]);
}

/** The same key from the kernel's bytes: `origTuple` is CTA_TUPLE_ORIG, header included (scanEntry). */
export function entryKey(id: number, zone: number, origTuple: Uint8Array): string {
  let src = '', dst = '';
  const l4: (number | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  for (const t = new AttrDecoder(origTuple, NLA_HDRLEN, origTuple.length); t.next();) {
    if (t.type === CTA_TUPLE.IP) {
      for (const a = t.children(); a.next();) {
        if (a.type === CTA_IP.V4_SRC || a.type === CTA_IP.V6_SRC) src = hex(a.buf.subarray(a.start, a.end));
        else if (a.type === CTA_IP.V4_DST || a.type === CTA_IP.V6_DST) dst = hex(a.buf.subarray(a.start, a.end));
      }
    } else if (t.type === CTA_TUPLE.PROTO) {
      for (const a = t.children(); a.next();) {
        const i = SLOT[a.type];
        if (i !== undefined) l4[i] = a.length === 1 ? a.u8() : a.u16be();
      }
    }
  }
  return key(id, zone, src, dst, l4);
}
