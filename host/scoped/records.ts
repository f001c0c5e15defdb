// Decoders for the fixed-size ABI records a plugin (or a client) hands the gate: DumpRequest,
// CreateRecord, UpdateRecord and its UpdateExt. Offsets and flag bits come from sdk/abi.json.
// Callers have bounds-checked the bytes; these only interpret them.
import type { CreateSpec } from '../conntrack/new-entry.js';
import { FAMILY_NAME, IPPROTO, STATE_NAMES, TCP_STATES, type Family } from '../conntrack/constants.js';
import type { EventKind } from '../conntrack/events.js';
import { LABEL_BYTES, labelBits } from '../conntrack/labels.js';
import type { DumpRequest, MarkChange } from '../policy/enforce.js';
import { abi, field, flagBit } from '../policy/abi.js';

export const DUMP_REQUEST_SIZE = abi.records.DumpRequest.size;
export const CREATE_RECORD_SIZE = abi.records.CreateRecord.size;
export const UPDATE_RECORD_SIZE = abi.records.UpdateRecord.size;

const D = {
  family: field('DumpRequest', 'family'), protocol: field('DumpRequest', 'protocol'), flags: field('DumpRequest', 'flags'),
  zone: field('DumpRequest', 'zone'), mark: field('DumpRequest', 'mark'), markMask: field('DumpRequest', 'markMask'),
  ZONE: flagBit('DumpRequest', 'flags', 'ZONE'), MARK: flagBit('DumpRequest', 'flags', 'MARK'),
};

/** Flag bits a record sets that abi.json does not define (a plugin built for a newer ABI, or garbage). */
export function unknownFlags(record: 'DumpRequest' | 'CreateRecord' | 'CreateExt' | 'UpdateRecord' | 'UpdateExt', v: DataView, at: number): number {
  const f = abi.records[record].fields.flags;
  const known = Object.values(f.bits ?? {}).reduce((a, b) => a | b, 0);
  const value = f.type === 'u8' ? v.getUint8(at + f.offset) : f.type === 'u16' ? v.getUint16(at + f.offset, true) : v.getUint32(at + f.offset, true);
  return (value & ~known) >>> 0;
}

const EVENT_BITS: [EventKind, number][] = (['NEW', 'UPDATE', 'DESTROY'] as const).map((k) => [k, flagBit('DumpRequest', 'flags', `EVENT_${k}`)]);

/** The EVENT_* kinds in a DumpRequest's flags (subscribe only); empty when none is set. */
export function readEventKinds(v: DataView, at: number): EventKind[] {
  const flags = v.getUint16(at + D.flags, true);
  return EVENT_BITS.filter(([, bit]) => flags & bit).map(([k]) => k);
}

export function readDumpRequest(v: DataView, at: number): DumpRequest {
  const flags = v.getUint16(at + D.flags, true);
  const req: DumpRequest = { family: v.getUint8(at + D.family), protocol: v.getUint8(at + D.protocol) };
  if (flags & D.ZONE) req.zone = v.getUint16(at + D.zone, true);
  if (flags & D.MARK) {
    const mask = v.getUint32(at + D.markMask, true);
    req.mark = { value: (v.getUint32(at + D.mark, true) & mask) >>> 0, mask };
  }
  return req;
}

const C = Object.fromEntries(Object.keys(abi.records.CreateRecord.fields).map((k) => [k, field('CreateRecord', k)])) as Record<string, number>;
const C_ZONE = flagBit('CreateRecord', 'flags', 'ZONE'), C_MARK = flagBit('CreateRecord', 'flags', 'MARK'), C_EXT = flagBit('CreateRecord', 'flags', 'EXT');
const E = Object.fromEntries(Object.keys(abi.records.CreateExt.fields).map((k) => [k, field('CreateExt', k)])) as Record<string, number>;
const EB = Object.fromEntries(Object.keys(abi.records.CreateExt.fields.flags.bits!).map((k) => [k, flagBit('CreateExt', 'flags', k)])) as Record<string, number>;
export const CREATE_EXT_SIZE = abi.records.CreateExt.size;
/** The protocols whose CreateRecord carries ports (GRE: its keys); icmp/icmpv6 carry the ICMP fields. */
const PORTS = new Set<number>([IPPROTO.tcp, IPPROTO.udp, IPPROTO.udplite, IPPROTO.sctp, IPPROTO.dccp]);
const DCCP_ROLES = ['client', 'server'];

function address(v: DataView, at: number, family: Family): string {
  if (family === 'ipv4') return [0, 1, 2, 3].map((i) => v.getUint8(at + i)).join('.');
  return Array.from({ length: 8 }, (_, i) => v.getUint16(at + 2 * i, false).toString(16)).join(':');
}

/** Whether the CreateRecord at `at` says a CreateExt follows it. */
export function createRecordHasExt(v: DataView, at: number): boolean {
  return (v.getUint8(at + C.flags) & C_EXT) !== 0;
}

/**
 * A CreateRecord (and its CreateExt at `extAt` when EXT is set) as the conntrack layer's
 * CreateSpec, or an error text. Only the record is read here: values are checked by toNewEntry,
 * the validator direct mode uses, so a record means exactly what the same flags mean.
 */
export function readCreateRecord(v: DataView, at: number, extAt = -1): { spec: CreateSpec; family: number; protocol: number } | string {
  const familyNum = v.getUint8(at + C.family), protocolNum = v.getUint8(at + C.protocol);
  const family = FAMILY_NAME.get(familyNum);
  if (!family) return `unknown family ${familyNum}`;
  const flags = v.getUint8(at + C.flags);
  if ((flags & C_EXT) !== 0 && extAt < 0) return 'EXT is set but no CreateExt follows';
  const state = v.getUint8(at + C.tcpState);
  const spec: CreateSpec = {
    family, protocol: protocolNum,
    src: address(v, at + C.src, family), dst: address(v, at + C.dst, family),
    timeout: v.getUint32(at + C.timeout, true),
  };
  const icmp = protocolNum === IPPROTO.icmp || protocolNum === IPPROTO.icmpv6;
  const sport = v.getUint16(at + C.srcPort, true), dport = v.getUint16(at + C.dstPort, true);
  if (PORTS.has(protocolNum) || (protocolNum === IPPROTO.gre && (sport || dport))) {
    spec.sport = sport;
    spec.dport = dport;
  } else if (icmp) {
    spec.icmpType = v.getUint8(at + C.icmpType);
    spec.icmpCode = v.getUint8(at + C.icmpCode);
    spec.icmpId = v.getUint16(at + C.icmpId, true);
  }
  if (state !== 0) {
    if (protocolNum !== IPPROTO.tcp) return 'tcpState is for tcp (sctp and dccp states go in a CreateExt)';
    if (state >= TCP_STATES.length) return `unknown tcp state ${state}`;
    spec.tcpState = TCP_STATES[state];
  }
  if (flags & C_ZONE) spec.zone = v.getUint16(at + C.zone, true);
  if (flags & C_MARK) spec.mark = v.getUint32(at + C.mark, true);
  const status = v.getUint32(at + C.status, true);
  if (status !== 0) spec.status = status;
  if (flags & C_EXT) {
    const why = readCreateExt(v, extAt, spec, family, protocolNum);
    if (why) return why;
  }
  return { spec, family: familyNum, protocol: protocolNum };
}

/** The CreateExt at `at` into `spec` (values as flags give them; toNewEntry checks them), or an error text. */
function readCreateExt(v: DataView, at: number, spec: CreateSpec, family: Family, protocol: number): string | undefined {
  const flags = v.getUint32(at + E.flags, true);
  const ports = PORTS.has(protocol);
  const nat = (addr: number, portBit: number, port: number) => {
    const a = address(v, at + addr, family);
    if (!(flags & portBit)) return a;
    return family === 'ipv6' ? `[${a}]:${v.getUint16(at + port, true)}` : `${a}:${v.getUint16(at + port, true)}`;
  };
  if ((flags & EB.SRC_NAT_PORT) && !(flags & EB.SRC_NAT)) return 'SRC_NAT_PORT without SRC_NAT';
  if ((flags & EB.DST_NAT_PORT) && !(flags & EB.DST_NAT)) return 'DST_NAT_PORT without DST_NAT';
  if (flags & EB.SRC_NAT) spec.srcNat = nat(E.srcNat, EB.SRC_NAT_PORT, E.srcNatPort);
  if (flags & EB.DST_NAT) spec.dstNat = nat(E.dstNat, EB.DST_NAT_PORT, E.dstNatPort);
  if (flags & EB.REPLY) {
    spec.reply = { src: address(v, at + E.replySrc, family), dst: address(v, at + E.replyDst, family) };
    if (ports || (protocol === IPPROTO.gre && (v.getUint16(at + E.replySrcPort, true) || v.getUint16(at + E.replyDstPort, true)))) {
      spec.reply.sport = v.getUint16(at + E.replySrcPort, true);
      spec.reply.dport = v.getUint16(at + E.replyDstPort, true);
    }
  }
  if (flags & EB.ORIG_ZONE) spec.origZone = v.getUint16(at + E.origZone, true);
  if (flags & EB.REPLY_ZONE) spec.replyZone = v.getUint16(at + E.replyZone, true);
  if (flags & EB.LABELS) spec.labels = labelBits(new Uint8Array(v.buffer, v.byteOffset + at + E.labels, LABEL_BYTES));
  if (flags & EB.STATE) {
    const names = STATE_NAMES.get(protocol);
    const n = v.getUint8(at + E.state);
    if (!names) return `protocol ${protocol} has no states`;
    if (n >= names.length) return `unknown state ${n} of protocol ${protocol}`;
    spec.tcpState = names[n];
  }
  if (flags & EB.VTAG_ORIG) spec.origVtag = v.getUint32(at + E.vtagOrig, true);
  if (flags & EB.VTAG_REPLY) spec.replyVtag = v.getUint32(at + E.vtagReply, true);
  if (flags & EB.ROLE) {
    const role = DCCP_ROLES[v.getUint8(at + E.role)];
    if (role === undefined) return `unknown dccp role ${v.getUint8(at + E.role)}`;
    spec.role = role;
  }
  return undefined;
}

const U = {
  flags: field('UpdateRecord', 'flags'), mark: field('UpdateRecord', 'mark'), markMask: field('UpdateRecord', 'markMask'),
  timeout: field('UpdateRecord', 'timeout'),
  MARK: flagBit('UpdateRecord', 'flags', 'MARK'), TIMEOUT: flagBit('UpdateRecord', 'flags', 'TIMEOUT'),
  MARK_XOR: flagBit('UpdateRecord', 'flags', 'MARK_XOR'), EXT: flagBit('UpdateRecord', 'flags', 'EXT'),
};
const X = {
  flags: field('UpdateExt', 'flags'), status: field('UpdateExt', 'status'), state: field('UpdateExt', 'state'),
  labels: field('UpdateExt', 'labels'), labelsMask: field('UpdateExt', 'labelsMask'),
  STATUS: flagBit('UpdateExt', 'flags', 'STATUS'), LABELS: flagBit('UpdateExt', 'flags', 'LABELS'), STATE: flagBit('UpdateExt', 'flags', 'STATE'),
};
export const UPDATE_EXT_SIZE = abi.records.UpdateExt.size;

export interface UpdateRecord {
  mark?: MarkChange;
  timeout?: number;
  /** An UpdateExt follows the record. */
  ext: boolean;
  /** MARK and MARK_XOR both set: the record is invalid. */
  twoMarks: boolean;
}

export function readUpdateRecord(v: DataView, at: number): UpdateRecord {
  const flags = v.getUint32(at + U.flags, true);
  const r: UpdateRecord = { ext: (flags & U.EXT) !== 0, twoMarks: (flags & U.MARK) !== 0 && (flags & U.MARK_XOR) !== 0 };
  if (flags & (U.MARK | U.MARK_XOR)) r.mark = { value: v.getUint32(at + U.mark, true), mask: v.getUint32(at + U.markMask, true), xor: (flags & U.MARK_XOR) !== 0 };
  if (flags & U.TIMEOUT) r.timeout = v.getUint32(at + U.timeout, true);
  return r;
}

/** The fields an UpdateExt sets (absent: its flag was not set). */
export interface UpdateExt { status?: number; labels?: Uint8Array; labelsMask?: Uint8Array; state?: number }

export function readUpdateExt(v: DataView, at: number): UpdateExt {
  const flags = v.getUint32(at + X.flags, true);
  const bytes = (off: number) => new Uint8Array(v.buffer, v.byteOffset + at + off, LABEL_BYTES).slice();
  const x: UpdateExt = {};
  if (flags & X.STATUS) x.status = v.getUint32(at + X.status, true);
  if (flags & X.LABELS) {
    x.labels = bytes(X.labels);
    x.labelsMask = bytes(X.labelsMask);
  }
  if (flags & X.STATE) x.state = v.getUint8(at + X.state);
  return x;
}
