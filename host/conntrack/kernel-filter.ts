// THE kernel-filter planner: which nfgenmsg family, CTA_ZONE, CTA_MARK(+mask) and CTA_FILTER a
// dump or a filtered delete carries, given what the caller wants and what the running kernel
// honours. Every dump and filtered delete is planned here (Conntrack calls it; nothing else decides).
//
// A kernel filter only narrows: whoever asked re-checks every entry it gets (the capability gate
// against the grant, the plugin against its own filter), so a filter the kernel ignores costs
// time, never correctness. Two exceptions are planned around here, because there the kernel
// would return or delete the WRONG entries instead of too many:
//   - a filtered delete before Linux 6.8 ignores CTA_ZONE and flushes every zone: that flush is
//     planned as a dump + a delete of the entries judged here (planFlush);
//   - CTA_FILTER matches IPv6 addresses inverted on 6.18 (ctnetlink_filter_match_tuple tests
//     `!ipv6_addr_cmp`, measured: `-s 2001:db8::1` returned every entry but that one), which no
//     re-check can repair: IPv6 addresses are never pushed down (protocol and ports are).
// CTA_FILTER (Linux 5.9+) is used only where probed (probeRequest below), and needs a family in
// nfgenmsg (AF_UNSPEC + CTA_FILTER is EOPNOTSUPP): without one, the plan is one dump per family.
import type { Encoder } from '../netlink/attr.js';
import { AF_INET, AF_INET6, AF_UNSPEC, CTA, CTA_IP, CTA_PROTO, CTA_TUPLE, IPPROTO } from './constants.js';
import { familyNumber, type Family } from './validate.js';

/** Exact fields of the ORIGINAL tuple an entry must have (conntrack's -p, -s/-d ADDR, --sport/--dport). */
export interface TupleMatch {
  protocol?: number;
  /** 4 bytes (IPv4) or 16 (IPv6), network order. */
  src?: Uint8Array;
  dst?: Uint8Array;
  /** Ports are compared for tcp and udp only, and only with `protocol`. */
  sport?: number;
  dport?: number;
}

/** What a dump or a filtered delete should select (a superset is fine for dumps: callers re-check). */
export interface KernelFilter {
  family?: Family;
  zone?: number;
  mark?: number;
  markMask?: number;
  /** Exact original-tuple fields, pushed down with CTA_FILTER where the kernel has it. */
  tuple?: TupleMatch;
}

/** What the running kernel honours. */
export interface KernelAbilities {
  /** CTA_ZONE in a filtered delete, and zone 0 in a dump (Linux >= 6.8; before, zone 0 meant "any"). */
  zoneFilter: boolean;
  /** CTA_FILTER in dump requests (probed once per connection). */
  ctaFilter: boolean;
}

/** <linux/netfilter/nfnetlink_conntrack.h>: CTA_FILTER's attributes and its ORIG/REPLY flag bits. */
export const CTA_FILTER = { ORIG_FLAGS: 1, REPLY_FLAGS: 2 } as const;
export const CTA_FILTER_FLAG = { IP_SRC: 1 << 0, IP_DST: 1 << 1, TUPLE_ZONE: 1 << 2, PROTO_NUM: 1 << 3, SRC_PORT: 1 << 4, DST_PORT: 1 << 5 } as const;
/** A flag bit no kernel defines: the probe's. */
const UNDEFINED_FLAG = 0x80000000;
/** The protocols whose ports the kernel's CTA_FILTER compares. */
const PORT_PROTOCOLS: ReadonlySet<number> = new Set([IPPROTO.tcp, IPPROTO.udp]);

/** One request's filter attributes, as planned: encode with encodeFilter. */
export interface PlannedFilter {
  /** nfgenmsg family (AF_UNSPEC: all). */
  family: number;
  zone?: number;
  mark?: number;
  markMask?: number;
  /** CTA_TUPLE_ORIG + CTA_FILTER { ORIG_FLAGS }: only the fields `flags` names are compared. */
  tuple?: { match: TupleMatch; flags: number };
}

/**
 * The dumps that together return (a superset of) what `want` selects: usually one; one per
 * family when CTA_FILTER is used without a family; none when `want` cannot match anything
 * (an IPv4 address asked of IPv6 entries).
 */
export function planDumps(want: KernelFilter, k: KernelAbilities): PlannedFilter[] {
  let family = want.family ? familyNumber(want.family) : AF_UNSPEC;
  const base: PlannedFilter = { family };
  if (want.zone !== undefined) base.zone = want.zone;
  if (want.mark !== undefined) {
    base.mark = want.mark >>> 0;
    base.markMask = (want.markMask ?? 0xffffffff) >>> 0;
  }
  const t = want.tuple;
  if (!t || !k.ctaFilter) return [base];
  // An address names its family: IPv4 entries only, whatever else asked.
  for (const a of [t.src, t.dst]) {
    if (!a) continue;
    const f = a.length === 4 ? AF_INET : AF_INET6;
    if (family !== AF_UNSPEC && family !== f) return [];
    family = f;
  }
  const match: TupleMatch = {};
  let flags = 0;
  // IPv4 addresses only (IPv6 ones match inverted on 6.18, see the top of this file).
  if (t.src?.length === 4) (match.src = t.src), (flags |= CTA_FILTER_FLAG.IP_SRC);
  if (t.dst?.length === 4) (match.dst = t.dst), (flags |= CTA_FILTER_FLAG.IP_DST);
  if (t.protocol !== undefined) {
    match.protocol = t.protocol;
    flags |= CTA_FILTER_FLAG.PROTO_NUM;
    if (PORT_PROTOCOLS.has(t.protocol)) {
      if (t.sport !== undefined) (match.sport = t.sport), (flags |= CTA_FILTER_FLAG.SRC_PORT);
      if (t.dport !== undefined) (match.dport = t.dport), (flags |= CTA_FILTER_FLAG.DST_PORT);
    }
  }
  if (flags === 0) return [{ ...base, family }];
  const tuple = { match, flags };
  // CTA_FILTER needs a family: without one, one dump per family (each walks the table once, in
  // the kernel: cheaper than handing every entry to userspace when the filter is selective).
  const families = family === AF_UNSPEC ? [AF_INET, AF_INET6] : [family];
  return families.map((f) => ({ ...base, family: f, tuple }));
}

/** How a filtered delete (a flush of what `want` selects) is done on this kernel. */
export type FlushPlan =
  | { kind: 'kernel'; filter: PlannedFilter }
  /** The kernel would not honour the filter (it would flush too much): dump `dump`, judge `zone` here (the zone rule), delete those. */
  | { kind: 'dump-and-delete'; dump: PlannedFilter[]; zone: number };

export function planFlush(want: KernelFilter, k: KernelAbilities): FlushPlan {
  // A delete carrying CTA_FILTER on a kernel that ignores it would flush everything: deletes by
  // tuple are decided entry by entry (a plugin), never planned as a flush.
  if (want.tuple) throw new Error('kernel-filter: a flush is planned by family, zone and mark only');
  if (want.zone !== undefined && !k.zoneFilter) return { kind: 'dump-and-delete', dump: planDumps(want, k), zone: want.zone };
  return { kind: 'kernel', filter: planDumps(want, k)[0] };
}

/** The filter attributes of a planned request (after the nfgenmsg header, which carries `family`). */
export function encodeFilter(enc: Encoder, f: PlannedFilter): void {
  if (f.tuple) {
    const { match: m, flags } = f.tuple;
    enc.begin(CTA.TUPLE_ORIG);
    if (m.src || m.dst) {
      enc.begin(CTA_TUPLE.IP);
      if (m.src) enc.bytesAttr(CTA_IP.V4_SRC, m.src);
      if (m.dst) enc.bytesAttr(CTA_IP.V4_DST, m.dst);
      enc.end();
    }
    if (m.protocol !== undefined) {
      enc.begin(CTA_TUPLE.PROTO).u8(CTA_PROTO.NUM, m.protocol);
      if (m.sport !== undefined) enc.u16be(CTA_PROTO.SRC_PORT, m.sport);
      if (m.dport !== undefined) enc.u16be(CTA_PROTO.DST_PORT, m.dport);
      enc.end();
    }
    enc.end();
    enc.begin(CTA.FILTER).u32host(CTA_FILTER.ORIG_FLAGS, flags).end();
  }
  if (f.zone !== undefined) enc.u16be(CTA.ZONE, f.zone);
  if (f.mark !== undefined) enc.u32be(CTA.MARK, f.mark).u32be(CTA.MARK_MASK, f.markMask ?? 0xffffffff);
}

/**
 * The CTA_FILTER probe: an IPv4 dump whose CTA_FILTER sets a flag bit no kernel defines, and
 * whose mark filter (value 1 under mask 0) matches nothing. A kernel that knows CTA_FILTER
 * refuses it before walking the table (EINVAL from the flag policy on 6.18, EOPNOTSUPP from
 * 5.9's own check); one that predates it ignores the attribute and answers an empty dump.
 * Either misreading costs speed only (see the top of this file).
 */
export function probeFilter(): PlannedFilter {
  return { family: AF_INET, mark: 1, markMask: 0, tuple: { match: { protocol: IPPROTO.tcp }, flags: CTA_FILTER_FLAG.PROTO_NUM | UNDEFINED_FLAG } };
}

/** The probe's answer: an error naming the filter (understood) or a dump (ignored). */
export function probeAnswer(errno: string | undefined): boolean {
  return errno === 'EINVAL' || errno === 'EOPNOTSUPP';
}
