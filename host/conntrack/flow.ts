// Flow: one conntrack entry decoded from the kernel's bytes into plain typed data, as ti-mo/conntrack
// gives Go users. The one JS-side entry decoder: dumps (Conntrack.flows), events (EventSource.flows),
// the test kit's descriptions and the CLI's entry identity all read entries through it. Attributes are
// walked with the iterator AttrDecoder; the message is first checked by the scope scanner, so a flow
// is only ever made from a well-formed entry (bounded, no duplicate attributes).
import { AttrDecoder } from '../netlink/attr.js';
import { NLMSG_HDRLEN } from '../netlink/constants.js';
import { NFGENMSG_LEN } from '../netlink/message.js';
import { AF_INET, CTA, CTA_COUNTERS, CTA_NAME, CTA_TIMESTAMP, PROTOCOL_NAME } from './constants.js';
import { labelBits } from './labels.js';
import { natOf, type FlowNat } from './nat.js';
import { decodeProtoinfo, type TcpInfo } from './protoinfo.js';
import { emptyScope, scanInto } from './scope.js';
import { statusFlags, type StatusFlag } from './status.js';
import { decodeTuple, type FlowTuple } from './tuple.js';
import type { Family } from './validate.js';

export interface FlowCounters {
  /** Exact up to 2^53 (9 PB): counters are 64-bit in the kernel. */
  packets: number;
  bytes: number;
}

export interface Flow {
  family: Family;
  /** tcp, udp, udplite, icmp, icmpv6, sctp, dccp, gre, or 'unknown' (see protocolNumber). */
  protocol: string;
  protocolNumber: number;
  orig: FlowTuple;
  reply: FlowTuple;
  /** The expectation's master flow (helpers such as FTP). */
  master?: FlowTuple;
  /** TCP, SCTP or DCCP state, as conntrack prints it. */
  state?: string;
  tcp?: TcpInfo;
  /** IPS_* bits, and their names. */
  status: number;
  flags: StatusFlag[];
  /**
   * The entry's zone by ctplug's zone rule (host/conntrack/scope.ts): CTA_ZONE, else the directional
   * zone of whichever tuple carries one (also in orig.zone / reply.zone), else 0.
   */
  zone: number;
  mark: number;
  /** Seconds left. */
  timeout?: number;
  id?: number;
  use?: number;
  secmark?: number;
  /** With net.netfilter.nf_conntrack_acct=1. */
  counters?: { orig?: FlowCounters; reply?: FlowCounters };
  /** Nanoseconds since the epoch, with net.netfilter.nf_conntrack_timestamp=1 (stop: on DESTROY). */
  timestamp?: { start?: bigint; stop?: bigint };
  /** Connection label bits set (0..127). */
  labels: number[];
  /** Derived from SRC_NAT / DST_NAT and the reply tuple. */
  nat?: FlowNat;
  helper?: string;
  secctx?: string;
}


/** The entry message `msg` (header included) as a Flow; null when it is not a well-formed entry. */
export function decodeFlow(msg: Uint8Array): Flow | null {
  const scope = emptyScope();
  if (!scanInto(msg, 0, msg.length, scope)) return null;
  const flow: Flow = {
    family: msg[NLMSG_HDRLEN] === AF_INET ? 'ipv4' : 'ipv6', protocol: 'unknown', protocolNumber: 0,
    orig: { src: '', dst: '' }, reply: { src: '', dst: '' }, status: 0, flags: [], zone: 0, mark: 0, labels: [],
  };
  for (const d = new AttrDecoder(msg, NLMSG_HDRLEN + NFGENMSG_LEN, msg.length); d.next(); ) {
    switch (d.type) {
      case CTA.TUPLE_ORIG: {
        const t = decodeTuple(d.children());
        flow.orig = t.tuple;
        flow.protocolNumber = t.protocol;
        flow.protocol = PROTOCOL_NAME.get(t.protocol) ?? 'unknown';
        break;
      }
      case CTA.TUPLE_REPLY: flow.reply = decodeTuple(d.children()).tuple; break;
      case CTA.TUPLE_MASTER: flow.master = decodeTuple(d.children()).tuple; break;
      case CTA.STATUS: flow.status = d.u32be() ?? 0; break;
      case CTA.PROTOINFO: Object.assign(flow, decodeProtoinfo(d.children())); break;
      case CTA.MARK: flow.mark = d.u32be() ?? 0; break;
      case CTA.TIMEOUT: flow.timeout = d.u32be(); break;
      case CTA.ID: flow.id = d.u32be(); break;
      case CTA.USE: flow.use = d.u32be(); break;
      case CTA.SECMARK: flow.secmark = d.u32be(); break;
      case CTA.COUNTERS_ORIG: (flow.counters ??= {}).orig = counters(d.children()); break;
      case CTA.COUNTERS_REPLY: (flow.counters ??= {}).reply = counters(d.children()); break;
      case CTA.TIMESTAMP: flow.timestamp = timestamp(d.children()); break;
      case CTA.LABELS: flow.labels = labelBits(d.buf.subarray(d.start, d.end)); break;
      case CTA.HELP: flow.helper = nameIn(d.children()); break;
      case CTA.SECCTX: flow.secctx = nameIn(d.children()); break;
    }
  }
  flow.zone = scope.zone; // the zone rule, decided once by the scanner
  flow.flags = statusFlags(flow.status);
  const nat = natOf(flow.status, flow.reply);
  if (nat) flow.nat = nat;
  return flow;
}

function counters(d: AttrDecoder): FlowCounters {
  const c: FlowCounters = { packets: 0, bytes: 0 };
  while (d.next()) {
    if (d.type === CTA_COUNTERS.PACKETS) c.packets = Number(d.u64be() ?? 0n);
    else if (d.type === CTA_COUNTERS.BYTES) c.bytes = Number(d.u64be() ?? 0n);
    else if (d.type === CTA_COUNTERS.PACKETS32) c.packets = d.u32be() ?? 0;
    else if (d.type === CTA_COUNTERS.BYTES32) c.bytes = d.u32be() ?? 0;
  }
  return c;
}

function timestamp(d: AttrDecoder): { start?: bigint; stop?: bigint } {
  const t: { start?: bigint; stop?: bigint } = {};
  while (d.next()) {
    if (d.type === CTA_TIMESTAMP.START) t.start = d.u64be();
    else if (d.type === CTA_TIMESTAMP.STOP) t.stop = d.u64be();
  }
  return t;
}

function nameIn(d: AttrDecoder): string | undefined {
  while (d.next()) if (d.type === CTA_NAME) return d.string();
  return undefined;
}
