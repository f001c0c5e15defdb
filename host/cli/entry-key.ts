// One entry's identity across the sandbox boundary: what the match plugin printed as JSON and the
// kernel's bytes for the same entry give the same key. The id alone is not enough: conntrack ids
// are 32-bit hashes, and in a table of 100k entries two share an id about once, so a selection by
// id would sometimes take an entry that was not selected. Id, zone and original tuple do not collide.
// The kernel side reads the tuple with the flow decoder; addresses are compared in their canonical
// text (the JSON's are parsed and printed again, so any spelling of an address matches).
import { formatAddress } from '../conntrack/address.js';
import { entryZone } from '../conntrack/scope.js';
import { decodeTuple } from '../conntrack/tuple.js';
import { parseAddress } from '../conntrack/validate.js';
import { AttrDecoder } from '../netlink/attr.js';
import { NLA_HDRLEN } from '../netlink/constants.js';

const key = (id: number, zone: number, src: string, dst: string, l4: (number | undefined)[]) => `${id}/${zone}/${src}/${dst}/${l4.join(',')}`;
const canonical = (address: unknown) => formatAddress(parseAddress(address).bytes);

/**
 * The key of an entry the match plugin printed as JSON (GRE's srckey/dstkey are its ports). Its zone
 * by the scanner's zone rule: "zone" is CTA_ZONE (absent: none), a tuple's "zone" its CTA_TUPLE_ZONE.
 */
export function jsonKey(j: { id: number; zone?: number; protonum: number; orig: Record<string, unknown>; reply?: Record<string, unknown> }): string {
  const o = j.orig;
  const n = (v: unknown) => (v === undefined ? undefined : Number(v));
  const zone = entryZone(j.zone ? j.zone : -1, n(o.zone) ?? -1, n(j.reply?.zone) ?? -1);
  return key(j.id, zone, canonical(o.src), canonical(o.dst), [j.protonum, n(o.sport ?? o.srckey), n(o.dport ?? o.dstkey), n(o.id), n(o.type), n(o.code)]);
}

/** The same key from the kernel's bytes: `origTuple` is CTA_TUPLE_ORIG, header included (scanEntry). */
export function entryKey(id: number, zone: number, origTuple: Uint8Array): string {
  const { tuple: t, protocol } = decodeTuple(new AttrDecoder(origTuple, NLA_HDRLEN, origTuple.length));
  return key(id, zone, t.src, t.dst, [protocol, t.sport, t.dport, t.icmp?.id, t.icmp?.type, t.icmp?.code]);
}
