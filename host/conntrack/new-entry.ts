// A new entry as users describe it (CreateSpec: the CLI's flags, the test kit, NDJSON records,
// the gate's CreateRecord) validated into the request description the builders take (NewEntry).
import { FAMILIES, IPPROTO, IPS, TCP_STATES } from './constants.js';
import { invalid } from './errors.js';
import { labelsFromBits, parseLabels } from './labels.js';
import { protoExtOf } from './proto-ext.js';
import type { NewEntry } from './request.js';
import { entryZone } from './scope.js';
import { icmpHasInverse, invertTuple, type Tuple } from './tuple.js';
import {
  PROTOCOLS_WITH_PORTS, parseAddress, parseFamily, parseMark, parseNatTarget, parsePort, parseProtocol, parseTcpState,
  parseU32, parseU8, parseZone, type Family,
} from './validate.js';

/** Numbers as users give them: a number, or its text (`"53"`, `"0x10"`); toNewEntry checks both alike. */
type Num = number | string;

/** A flow to create, as users describe it. Validated by `toNewEntry`. */
export interface CreateSpec {
  family?: Family;
  protocol: Num;
  src: string;
  dst: string;
  sport?: Num;
  dport?: Num;
  icmpType?: Num;
  icmpCode?: Num;
  icmpId?: Num;
  /** The state (--state) of a tcp, sctp or dccp entry. */
  tcpState?: string;
  /** SCTP verification tags and the DCCP role (proto-ext.ts). */
  origVtag?: Num;
  replyVtag?: Num;
  role?: string;
  zone?: Num;
  /** A directional zone (of the original or the reply tuple) instead of -w's zone; at most one. */
  origZone?: Num;
  replyZone?: Num;
  mark?: Num;
  timeout: Num;
  status?: Num;
  /** `IP`, `IP:PORT` or `[IPV6]:PORT`, as conntrack -I --src-nat / --dst-nat take them. */
  srcNat?: string;
  dstNat?: string;
  /** Labels to set: `3,5` (or connlabel.conf names) or bit numbers. */
  labels?: string | number[];
  /**
   * The reply tuple where it is not the original swapped (conntrack -I -r/-q/--reply-port-*):
   * what is given replies the swapped original's field; same family and protocol.
   */
  reply?: { src?: string; dst?: string; sport?: Num; dport?: Num };
}

/** Every IPS_* bit the kernel defines (uapi nf_conntrack_common.h); a create may name no other. */
const KNOWN_STATUS = Object.values(IPS).reduce((a, b) => a | b, 0);

/** Validates a CreateSpec into a request description; throws CtError('create', ...) on bad input. */
export function toNewEntry(s: CreateSpec): NewEntry {
  const proto = parseProtocol(s.protocol);
  const src = parseAddress(s.src, s.family && parseFamily(s.family), 'source address');
  const dst = parseAddress(s.dst, src.family, 'destination address');
  const tuple: Tuple = { family: src.family, protocol: proto.number, src: src.bytes, dst: dst.bytes };
  if (PROTOCOLS_WITH_PORTS.has(proto.name)) {
    if (s.sport === undefined || s.dport === undefined) throw invalid('create', `${proto.name} needs a source and a destination port`);
    tuple.sport = parsePort(s.sport, 'source port');
    tuple.dport = parsePort(s.dport, 'destination port');
  } else if (proto.name === 'gre') {
    // GRE's keys (--srckey/--dstkey) sit where ports are; conntrack asks for both or neither
    if ((s.sport === undefined) !== (s.dport === undefined)) throw invalid('create', 'gre needs both keys (--srckey and --dstkey) or neither');
    if (s.sport !== undefined) tuple.sport = parsePort(s.sport, 'source key');
    if (s.dport !== undefined) tuple.dport = parsePort(s.dport, 'destination key');
  } else if (proto.name === 'icmp' || proto.name === 'icmpv6') {
    if ((proto.name === 'icmp') !== (src.family === 'ipv4')) throw invalid('create', `${proto.name} needs ${proto.name === 'icmp' ? 'IPv4' : 'IPv6'} addresses`);
    tuple.icmpType = parseU8(s.icmpType ?? (proto.name === 'icmp' ? 8 : 128), 'icmp type');
    tuple.icmpCode = parseU8(s.icmpCode ?? 0, 'icmp code');
    tuple.icmpId = parsePort(s.icmpId ?? 0, 'icmp id');
    if (!icmpHasInverse(proto.number, tuple.icmpType)) throw invalid('create', `icmp type ${tuple.icmpType} is not a query the kernel tracks (use echo, timestamp, info or address requests)`);
  }
  if (s.timeout === undefined) throw invalid('create', 'a timeout is required (seconds)');
  const entry: NewEntry = {
    tuple,
    timeout: parseU32(s.timeout, 'timeout'),
    zone: s.zone === undefined ? undefined : parseZone(s.zone),
    mark: s.mark === undefined ? undefined : parseMark(s.mark).mark,
    tcpState: proto.number !== IPPROTO.tcp ? undefined : s.tcpState === undefined ? TCP_STATES.indexOf('ESTABLISHED') : parseTcpState(s.tcpState),
    status: s.status === undefined ? undefined : parseU32(s.status, 'status'),
  };
  const unknown = (entry.status ?? 0) & ~KNOWN_STATUS;
  if (unknown) throw invalid('create', `status bits 0x${(unknown >>> 0).toString(16)} are no IPS_* bits the kernel defines`);
  if (s.reply !== undefined) entry.reply = replyTuple(tuple, s.reply);
  if ((s.origVtag ?? s.replyVtag ?? s.role) !== undefined || (proto.number !== IPPROTO.tcp && s.tcpState !== undefined)) {
    const ext = protoExtOf(proto.name, { state: s.tcpState, origVtag: s.origVtag, replyVtag: s.replyVtag, role: s.role });
    if (ext.sctp) entry.sctp = ext.sctp;
    if (ext.dccp) entry.dccp = ext.dccp;
  }
  if (s.origZone !== undefined || s.replyZone !== undefined) directionalZones(entry, s);
  if (s.srcNat !== undefined) entry.srcNat = parseNatTarget(s.srcNat, src.family, proto.name, 'src-nat');
  if (s.dstNat !== undefined) entry.dstNat = parseNatTarget(s.dstNat, src.family, proto.name, 'dst-nat');
  if (s.labels !== undefined) entry.labels = Array.isArray(s.labels) ? labelsFromBits(s.labels, 'labels') : parseLabels(s.labels, 'label-add');
  return entry;
}

/**
 * Directional zones as the kernel accepts them on create (ctnetlink_new_conntrack ->
 * ctnetlink_parse_tuple -> ctnetlink_parse_tuple_zone): an entry has one zone, kept with a
 * direction. A CTA_TUPLE_ZONE is refused with EINVAL once the zone is already set to something
 * other than 0, by CTA_ZONE (-w) or by the original tuple's zone, so refuse the same here.
 */
function directionalZones(entry: NewEntry, s: CreateSpec): void {
  const orig = s.origZone === undefined ? undefined : parseZone(s.origZone, 'orig-zone');
  const reply = s.replyZone === undefined ? undefined : parseZone(s.replyZone, 'reply-zone');
  const why = 'the kernel keeps one zone per entry, either for both directions (-w) or for one (--orig-zone or --reply-zone), '
    + 'and refuses a tuple zone once another zone is set (EINVAL from ctnetlink_parse_tuple_zone)';
  if (entry.zone) throw invalid('create', `-w ${entry.zone} cannot be combined with ${orig !== undefined ? '--orig-zone' : '--reply-zone'}: ${why}`);
  if (orig && reply !== undefined) throw invalid('create', `--orig-zone ${orig} cannot be combined with --reply-zone: ${why}`);
  entry.origZone = orig;
  entry.replyZone = reply;
}

/** The reply tuple: the original swapped, with what `r` gives instead (validated as the original is). */
function replyTuple(orig: Tuple, r: NonNullable<CreateSpec['reply']>): Tuple {
  const t = invertTuple(orig);
  if (r.src !== undefined) t.src = parseAddress(r.src, orig.family, 'reply source address').bytes;
  if (r.dst !== undefined) t.dst = parseAddress(r.dst, orig.family, 'reply destination address').bytes;
  if (r.sport !== undefined) t.sport = parsePort(r.sport, 'reply source port');
  if (r.dport !== undefined) t.dport = parsePort(r.dport, 'reply destination port');
  return t;
}

/**
 * What a capability check needs of an entry to be created (toNewEntry's output): its family and
 * protocol (the reply tuple and NAT targets share them: toNewEntry builds the reply from the
 * original and refuses a NAT address of another family), the zone it will be in by the zone rule
 * (scope.ts entryZone; toNewEntry lets at most one of -w, --orig-zone, --reply-zone be non-zero,
 * and a zero one is no zone), and its mark.
 */
export function newEntryScope(n: NewEntry): { family: number; protocol: number; zone: number; mark: number } {
  const given = (z: number | undefined) => (z ? z : -1);
  const zone = entryZone(given(n.zone), given(n.origZone), given(n.replyZone));
  if (zone < 0) throw invalid('create', 'an entry has one zone: give -w, --orig-zone or --reply-zone, one of them');
  return { family: FAMILIES[n.tuple.family], protocol: n.tuple.protocol, zone, mark: n.mark ?? 0 };
}
