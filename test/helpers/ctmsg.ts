// Builds ctnetlink conntrack entry messages (as the kernel sends them in a dump) for tests,
// on top of the host's netlink Encoder. Attribute order follows ctnetlink_fill_info.
import { Encoder } from '../../host/netlink/attr.js';
import { beginMessage, endMessage } from '../../host/netlink/message.js';
import { encodeTuple, invertTuple, type Tuple } from '../../host/conntrack/tuple.js';
import { parseAddress } from '../../host/conntrack/validate.js';
import { CTA, IPPROTO, msgType, IPCTNL_MSG_CT_NEW } from '../../host/conntrack/constants.js';

export interface TupleSpec {
  src: string; dst: string; sport?: number; dport?: number;
  icmpType?: number; icmpCode?: number; icmpId?: number;
  /** CTA_TUPLE_ZONE (per-direction zone); in EntrySpec use origZone for the original tuple */
  zone?: number;
}

export interface EntrySpec extends TupleSpec {
  /** protocol name or number */
  proto: keyof typeof IPPROTO | number;
  /** reply tuple; default: the original inverted */
  reply?: TupleSpec;
  master?: TupleSpec;
  status?: number;
  timeout?: number;
  mark?: number;
  zone?: number; // CTA_ZONE; omitted when undefined or 0 (as the kernel does)
  origZone?: number; // CTA_TUPLE_ZONE inside CTA_TUPLE_ORIG
  use?: number;
  id?: number;
  secmark?: number;
  tcpState?: number;
  tcpWscale?: [number, number];
  sctpState?: number;
  counters?: { orig: [bigint | number, bigint | number]; reply: [bigint | number, bigint | number] };
  counters32?: boolean;
  timestamp?: { start: bigint; stop?: bigint };
  labels?: Uint8Array;
  helper?: string;
  secctx?: string;
  msgType?: number;
  /** nlmsg_flags; default NLM_F_MULTI as in a dump (events: 0x600 = CREATE|EXCL for [NEW]) */
  msgFlags?: number;
  /** extra raw top-level attributes appended at the end (already encoded) */
  extra?: Uint8Array[];
}

const u64be = (v: bigint | number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), false);
  return b;
};
const cstr = (s: string) => new Uint8Array([...Buffer.from(s, 'utf8'), 0]);

function tupleOf(spec: TupleSpec, protocol: number): Tuple {
  const s = parseAddress(spec.src), d = parseAddress(spec.dst);
  return {
    family: s.family, protocol, src: s.bytes, dst: d.bytes, sport: spec.sport, dport: spec.dport,
    icmpType: spec.icmpType, icmpCode: spec.icmpCode, icmpId: spec.icmpId, zone: spec.zone,
  };
}

/** Append one entry message to `enc` (so several make a batch). */
export function encodeEntry(enc: Encoder, spec: EntrySpec, seq = 1): void {
  const protocol = typeof spec.proto === 'number' ? spec.proto : IPPROTO[spec.proto];
  const orig = tupleOf({ ...spec, zone: spec.origZone }, protocol);
  const reply = spec.reply ? tupleOf(spec.reply, protocol) : { ...invertTuple(orig), zone: undefined };
  const at = beginMessage(enc, spec.msgType ?? msgType(IPCTNL_MSG_CT_NEW), spec.msgFlags ?? 2 /* NLM_F_MULTI */, seq,
    orig.family === 'ipv4' ? 2 : 10);
  encodeTuple(enc, CTA.TUPLE_ORIG, orig);
  encodeTuple(enc, CTA.TUPLE_REPLY, reply);
  if (spec.zone) enc.u16be(CTA.ZONE, spec.zone);
  enc.u32be(CTA.STATUS, spec.status ?? 8 /* CONFIRMED */);
  if (spec.timeout !== undefined) enc.u32be(CTA.TIMEOUT, spec.timeout);
  if (spec.counters) {
    const dirs: [number, [bigint | number, bigint | number]][] = [[CTA.COUNTERS_ORIG, spec.counters.orig], [CTA.COUNTERS_REPLY, spec.counters.reply]];
    for (const [type, [p, b]] of dirs) {
      enc.begin(type);
      if (spec.counters32) enc.u32be(3, Number(p)).u32be(4, Number(b));
      else enc.bytesAttr(1, u64be(p)).bytesAttr(2, u64be(b));
      enc.end();
    }
  }
  if (spec.timestamp) {
    enc.begin(CTA.TIMESTAMP).bytesAttr(1, u64be(spec.timestamp.start));
    if (spec.timestamp.stop !== undefined) enc.bytesAttr(2, u64be(spec.timestamp.stop));
    enc.end();
  }
  if (spec.tcpState !== undefined) {
    enc.begin(CTA.PROTOINFO).begin(1).u8(1, spec.tcpState);
    if (spec.tcpWscale) enc.u8(2, spec.tcpWscale[0]).u8(3, spec.tcpWscale[1]);
    enc.bytesAttr(4, new Uint8Array([0x23, 0])).bytesAttr(5, new Uint8Array([0x23, 0]));
    enc.end().end();
  }
  if (spec.sctpState !== undefined) enc.begin(CTA.PROTOINFO).begin(3).u8(1, spec.sctpState).end().end();
  if (spec.helper !== undefined) enc.begin(CTA.HELP).bytesAttr(1, cstr(spec.helper)).end();
  if (spec.secmark !== undefined) enc.u32be(CTA.SECMARK, spec.secmark);
  if (spec.secctx !== undefined) enc.begin(CTA.SECCTX).bytesAttr(1, cstr(spec.secctx)).end();
  if (spec.labels) enc.bytesAttr(CTA.LABELS, spec.labels);
  if (spec.master) encodeTuple(enc, CTA.TUPLE_MASTER, tupleOf(spec.master, protocol));
  enc.u32be(CTA.ID, spec.id ?? 0x12345678);
  enc.u32be(CTA.USE, spec.use ?? 1);
  enc.u32be(CTA.MARK, spec.mark ?? 0);
  for (const x of spec.extra ?? []) enc.raw(x);
  endMessage(enc, at);
}

/** One message as a fresh Uint8Array. */
export function entryMessage(spec: EntrySpec): Uint8Array {
  const enc = new Encoder(512);
  encodeEntry(enc, spec);
  return enc.bytes().slice();
}

/** Several messages back to back (one dump batch). */
export function batch(specs: EntrySpec[]): Uint8Array {
  const enc = new Encoder(4096);
  specs.forEach((s, i) => encodeEntry(enc, s, i + 1));
  return enc.bytes().slice();
}

/** NLMSG_DONE as a dump ends. */
export function doneMessage(): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint32(0, 20, true); v.setUint16(4, 3, true); v.setUint16(6, 2, true);
  return b;
}

export const IPS = {
  EXPECTED: 1, SEEN_REPLY: 2, ASSURED: 4, CONFIRMED: 8, SRC_NAT: 16, DST_NAT: 32, OFFLOAD: 1 << 14, HW_OFFLOAD: 1 << 15,
} as const;
export const TCP = { NONE: 0, SYN_SENT: 1, SYN_RECV: 2, ESTABLISHED: 3, FIN_WAIT: 4, CLOSE_WAIT: 5, LAST_ACK: 6, TIME_WAIT: 7, CLOSE: 8 } as const;
