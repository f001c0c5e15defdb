// ctnetlink request builders. Each writes exactly one message into an Encoder.
import { AttrDecoder, type Encoder } from '../netlink/attr.js';
import { NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST } from '../netlink/constants.js';
import { NFGENMSG_LEN, beginMessage, endMessage } from '../netlink/message.js';
import {
  AF_UNSPEC, CTA, CTA_NAT, CTA_TUPLE, CTA_PROTONAT, CTA_PROTOINFO, CTA_PROTOINFO_STATE, CTA_PROTOINFO_TCP, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_GET,
  IPCTNL_MSG_CT_GET_STATS, IPCTNL_MSG_CT_GET_STATS_CPU, IPCTNL_MSG_CT_NEW, IPPROTO, IPS, STATE_NAMES, msgType,
} from './constants.js';
import { encodeFilter, type PlannedFilter } from './kernel-filter.js';
import { encodeProtoExt, type ProtoExt } from './proto-ext.js';
import { type ScopeFields, ZONE_DIR } from './scope.js';
import { encodeTuple, invertTuple, type Tuple } from './tuple.js';
import { familyNumber } from './validate.js';

export type { KernelFilter } from './kernel-filter.js';

/**
 * The kernel's dump request (IPCTNL_MSG_CT_GET + NLM_F_DUMP) with filter attributes as planned
 * (kernel-filter.ts planDumps); not the ABI's DumpRequest record, which the gate narrows before planning.
 */
export function kernelDumpRequest(enc: Encoder, seq: number, f: PlannedFilter): void {
  const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_GET), NLM_F_REQUEST | NLM_F_DUMP, seq, f.family);
  encodeFilter(enc, f);
  endMessage(enc, at);
}

/**
 * Flush, in the kernel, as planned (kernel-filter.ts planFlush): with no filter everything (of
 * one family if given), else only the matching entries. nfgenmsg version 1 makes the kernel
 * honour the family.
 */
export function flushRequest(enc: Encoder, seq: number, f: PlannedFilter): void {
  const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_DELETE), NLM_F_REQUEST | NLM_F_ACK, seq, f.family, f.family ? 1 : 0);
  encodeFilter(enc, f);
  endMessage(enc, at);
}

/**
 * The kernel lookup key of an entry the host acts on (scanned into `e`): the tuple of the
 * direction its zone applies to, without its CTA_TUPLE_ZONE, plus CTA_ZONE for a non-zero zone,
 * plus its CTA_ID. A lookup in zone Z for both directions finds only entries of zone Z (the
 * kernel compares the zone id of the direction it found), so for Z != 0 the zone is pinned by
 * the kernel itself, whatever the bytes claimed. A zone-0 lookup also finds an entry whose zone
 * applies to the other direction only (measured on 6.18): attribute-limited grants confirm
 * those first (runtime/confirm-policy.ts). The kernel checks CTA_ID on delete, not on update.
 */
export function lookupAttrs(enc: Encoder, msg: Uint8Array, base: number, e: ScopeFields): void {
  const reply = e.zone !== 0 && e.zoneDir === ZONE_DIR.REPLY;
  const off = base + (reply ? e.replyTupleOffset : e.tupleOffset);
  const end = off + (reply ? e.replyTupleLength : e.tupleLength);
  enc.begin(reply ? CTA.TUPLE_REPLY : CTA.TUPLE_ORIG);
  // Not AttrDecoder: this runs once per deleted/updated entry, over a tuple the scanner (scope.ts) has
  // already bounds-checked, so a plain loop without a decoder object per entry is enough.
  for (let p = off + NLA_HDRLEN; p + NLA_HDRLEN <= end; ) {
    const len = msg[p] | (msg[p + 1] << 8);
    if (((msg[p + 2] | (msg[p + 3] << 8)) & NLA_TYPE_MASK) !== CTA_TUPLE.ZONE) enc.rawRange(msg, p, p + len);
    p += (len + 3) & ~3;
  }
  enc.end();
  if (e.zone !== 0) enc.u16be(CTA.ZONE, e.zone);
  if (e.idOffset >= 0) enc.rawRange(msg, base + e.idOffset, base + e.idOffset + 8);
}

/** Delete one entry as the kernel returned it (`msg[base...]`, scanned into `e`), by lookupAttrs. */
export function deleteRequest(enc: Encoder, seq: number, msg: Uint8Array, base: number, e: ScopeFields): void {
  const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_DELETE), NLM_F_REQUEST, seq, e.family);
  lookupAttrs(enc, msg, base, e);
  endMessage(enc, at);
}

/** GET of the entry a delete/update of `msg` would reach now (the same lookupAttrs). */
export function confirmRequest(enc: Encoder, seq: number, msg: Uint8Array, base: number, e: ScopeFields): void {
  const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_GET), NLM_F_REQUEST, seq, e.family);
  lookupAttrs(enc, msg, base, e);
  endMessage(enc, at);
}

export interface Change {
  /**
   * New mark bits. By default the masked bits replace: mark = (old & ~markMask) | (mark & markMask).
   * With markXor, conntrack -U's rule: mark = (old & ~markMask) ^ mark (bits outside the mask toggle).
   */
  mark?: number;
  markMask?: number;
  markXor?: boolean;
  timeout?: number;
  /**
   * Status bits to set (IPS_*). The kernel only ever sets bits through an update, never clears
   * them, and takes CTA_STATUS as the whole new status word: the entry's own status (from the
   * message the kernel sent) is ORed in here. Settable: SETTABLE_STATUS.
   */
  status?: number;
  /** Connection labels (bit n = label n, 128 bits, host-order u32 words as the kernel keeps them):
   *  labels = (old & ~labelsMask) | (labels & labelsMask); no mask replaces all labels. */
  labels?: Uint8Array;
  labelsMask?: Uint8Array;
  /** The entry's new protocol state (TCP, SCTP or DCCP, numbered as the kernel numbers them: STATE_NAMES). */
  state?: number;
}

/** Status bits an update may set (ctnetlink_change_status: EXPECTED/CONFIRMED/DYING may not change,
 *  SEEN_REPLY and ASSURED can only be set, NAT/helper/offload bits are ignored). */
export const SETTABLE_STATUS = IPS.SEEN_REPLY | IPS.ASSURED | IPS.FIXED_TIMEOUT;

/** The protocols whose state an update can set, with the CTA_PROTOINFO nest that carries it. */
const STATE_NEST = new Map<number, number>([[IPPROTO.tcp, CTA_PROTOINFO.TCP], [IPPROTO.sctp, CTA_PROTOINFO.SCTP], [IPPROTO.dccp, CTA_PROTOINFO.DCCP]]);

/** Why `state` cannot be set on an entry of `protocol`, or undefined. */
export function stateProblem(protocol: number, state: number): string | undefined {
  const names = STATE_NAMES.get(protocol);
  if (!names) return `protocol ${protocol} has no state to set (tcp, sctp and dccp have)`;
  return Number.isInteger(state) && state >= 0 && state < names.length ? undefined : `${state} is not a state of protocol ${protocol} (0..${names.length - 1})`;
}

/** The first top-level attribute `type` of the entry message at `msg[base...]`, as a decoder positioned on it, or undefined. */
function topLevelAttr(msg: Uint8Array, base: number, type: number): AttrDecoder | undefined {
  const end = Math.min(msg.length, base + ((msg[base] | (msg[base + 1] << 8) | (msg[base + 2] << 16) | (msg[base + 3] << 24)) >>> 0));
  for (const d = new AttrDecoder(msg, base + NLMSG_HDRLEN + NFGENMSG_LEN, end); d.next(); ) if (d.type === type) return d;
  return undefined;
}

/** The top-level CTA_STATUS of an entry message, 0 when absent. */
export function entryStatus(msg: Uint8Array, base = 0): number {
  const d = topLevelAttr(msg, base, CTA.STATUS);
  return d?.length === 4 ? d.u32be()! : 0;
}

/** The CTA_LABELS bitmap of an entry message (as the kernel keeps it), undefined when it has none. */
export function entryLabels(msg: Uint8Array, base = 0): Uint8Array | undefined {
  const d = topLevelAttr(msg, base, CTA.LABELS);
  return d && msg.slice(d.start, d.end);
}

/**
 * CTA_PROTOINFO setting the state of an entry of `protocol` (scanned into `e`). SCTP and DCCP
 * carry the entry's own other attributes of its nest, which the kernel requires with a state
 * (nlattr_to_sctp: both vtags; nlattr_to_dccp: the role); TCP sends the state alone, as conntrack -U does.
 */
function encodeState(enc: Encoder, msg: Uint8Array, base: number, protocol: number, state: number): void {
  const nest = STATE_NEST.get(protocol)!;
  enc.begin(CTA.PROTOINFO).begin(nest).u8(CTA_PROTOINFO_STATE, state);
  const info = protocol === IPPROTO.tcp ? undefined : topLevelAttr(msg, base, CTA.PROTOINFO);
  if (info) {
    for (const p = info.children(); p.next(); ) {
      if (p.type !== nest) continue;
      for (const a = p.children(); a.next(); ) if (a.type !== CTA_PROTOINFO_STATE) enc.raw(a.rawAttr());
    }
  }
  enc.end().end();
}

/** CT_NEW without CREATE: changes an existing entry, found by lookupAttrs. */
export function updateRequest(enc: Encoder, seq: number, msg: Uint8Array, base: number, e: ScopeFields, c: Change): void {
  const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_NEW), NLM_F_REQUEST, seq, e.family);
  lookupAttrs(enc, msg, base, e);
  if (c.mark !== undefined) {
    const mask = c.markMask ?? 0xffffffff;
    // The kernel computes (old & ~mask) ^ mark: masked, the given bits replace; unmasked (markXor), bits outside the mask toggle.
    enc.u32be(CTA.MARK, (c.markXor ? c.mark : c.mark & mask) >>> 0).u32be(CTA.MARK_MASK, mask);
  }
  if (c.timeout !== undefined) enc.u32be(CTA.TIMEOUT, c.timeout);
  if (c.status !== undefined) enc.u32be(CTA.STATUS, (entryStatus(msg, base) | c.status) >>> 0);
  if (c.labels !== undefined) {
    enc.bytesAttr(CTA.LABELS, c.labels);
    if (c.labelsMask !== undefined) enc.bytesAttr(CTA.LABELS_MASK, c.labelsMask);
  }
  if (c.state !== undefined) encodeState(enc, msg, base, e.protocol, c.state);
  endMessage(enc, at);
}

export interface Lookup {
  tuple: Tuple;
  /** Which direction `tuple` describes. */
  direction: 'original' | 'reply';
  zone?: number;
}

export function getRequest(enc: Encoder, seq: number, l: Lookup): void {
  const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_GET), NLM_F_REQUEST | NLM_F_ACK, seq, familyNumber(l.tuple.family));
  encodeTuple(enc, l.direction === 'original' ? CTA.TUPLE_ORIG : CTA.TUPLE_REPLY, l.tuple);
  if (l.zone !== undefined) enc.u16be(CTA.ZONE, l.zone);
  endMessage(enc, at);
}

/** One NAT target as `conntrack -I --src-nat/--dst-nat IP[:PORT]` gives it: a single address and optionally a single port. */
export interface NatTarget {
  /** 4 or 16 bytes, network order, the family of the tuple. */
  addr: Uint8Array;
  /** The port (the ICMP id for icmp/icmpv6); absent: the kernel keeps the port if it can. */
  port?: number;
}

export interface NewEntry extends ProtoExt {
  tuple: Tuple;
  /** Defaults to the original tuple inverted (no NAT). */
  reply?: Tuple;
  timeout: number;
  zone?: number;
  /** Directional zone (CTA_TUPLE_ZONE) of the original tuple; the kernel takes one zone per entry. */
  origZone?: number;
  /** Directional zone of the reply tuple. */
  replyZone?: number;
  mark?: number;
  tcpState?: number;
  status?: number;
  /**
   * NAT set up by the kernel's NAT core (CTA_NAT_SRC / CTA_NAT_DST, needs nf_nat): it rewrites
   * the reply tuple and sets the SRC_NAT/DST_NAT and *_NAT_DONE status bits, as for a NATed packet.
   */
  srcNat?: NatTarget;
  dstNat?: NatTarget;
  /** Connection labels (CTA_LABELS, a LABEL_BYTES bitmap). The kernel only keeps them where the
   *  namespace has connlabel room, and ignores them silently on create otherwise. */
  labels?: Uint8Array;
}

function encodeNat(enc: Encoder, type: number, n: NatTarget): void {
  enc.begin(type);
  // One address: MINIP only, the kernel takes MAXIP = MINIP (nf_nat_ipv4/6_nlattr_to_range).
  enc.bytesAttr(n.addr.length === 4 ? CTA_NAT.V4_MINIP : CTA_NAT.V6_MINIP, n.addr);
  if (n.port !== undefined) enc.begin(CTA_NAT.PROTO).u16be(CTA_PROTONAT.PORT_MIN, n.port).u16be(CTA_PROTONAT.PORT_MAX, n.port).end();
  enc.end();
}

/** CT_NEW that creates (CREATE|EXCL). The kernel insists on IPS_CONFIRMED here (EBUSY otherwise). */
export function createRequest(enc: Encoder, seq: number, n: NewEntry): void {
  const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_NEW), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, seq, familyNumber(n.tuple.family));
  const reply = n.reply ?? invertTuple(n.tuple);
  encodeTuple(enc, CTA.TUPLE_ORIG, n.origZone === undefined ? n.tuple : { ...n.tuple, zone: n.origZone });
  encodeTuple(enc, CTA.TUPLE_REPLY, n.replyZone === undefined ? reply : { ...reply, zone: n.replyZone });
  enc.u32be(CTA.STATUS, (n.status ?? 0) | IPS.CONFIRMED);
  enc.u32be(CTA.TIMEOUT, n.timeout);
  if (n.tuple.protocol === IPPROTO.tcp && n.tcpState !== undefined) {
    enc.begin(CTA.PROTOINFO).begin(CTA_PROTOINFO.TCP).u8(CTA_PROTOINFO_TCP.STATE, n.tcpState).end().end();
  }
  encodeProtoExt(enc, n); // SCTP state and vtags, DCCP state and role
  if (n.mark !== undefined) enc.u32be(CTA.MARK, n.mark);
  if (n.zone !== undefined) enc.u16be(CTA.ZONE, n.zone);
  if (n.dstNat) encodeNat(enc, CTA.NAT_DST, n.dstNat);
  if (n.srcNat) encodeNat(enc, CTA.NAT_SRC, n.srcNat);
  if (n.labels) enc.bytesAttr(CTA.LABELS, n.labels);
  endMessage(enc, at);
}

export function statsRequest(enc: Encoder, seq: number): void {
  endMessage(enc, beginMessage(enc, msgType(IPCTNL_MSG_CT_GET_STATS), NLM_F_REQUEST | NLM_F_ACK, seq, AF_UNSPEC));
}

export function cpuStatsRequest(enc: Encoder, seq: number): void {
  endMessage(enc, beginMessage(enc, msgType(IPCTNL_MSG_CT_GET_STATS_CPU), NLM_F_REQUEST | NLM_F_DUMP, seq, AF_UNSPEC));
}
