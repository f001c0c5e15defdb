// CTA_PROTOINFO: the protocol's state (TCP, SCTP, DCCP) by name, as conntrack prints it, and TCP's
// window scales and flags.
import type { AttrDecoder } from '../netlink/attr.js';
import { CTA_PROTOINFO, CTA_PROTOINFO_TCP, DCCP_STATES, SCTP_STATES, TCP_STATES } from './constants.js';

export interface TcpInfo {
  wscaleOrig?: number;
  wscaleReply?: number;
  /** IP_CT_TCP_FLAG_* bits (the first byte of struct nf_ct_tcp_flags). */
  flagsOrig?: number;
  flagsReply?: number;
}

export interface ProtoInfo {
  /** TCP, SCTP or DCCP state name; the number as text when the kernel knows more states than ctplug. */
  state?: string;
  tcp?: TcpInfo;
}

const name = (names: readonly string[], n: number | undefined) => (n === undefined ? undefined : names[n] ?? String(n));

/** Decodes the children of CTA_PROTOINFO (`d` iterates them). */
export function decodeProtoinfo(d: AttrDecoder): ProtoInfo {
  const out: ProtoInfo = {};
  while (d.next()) {
    const p = d.children();
    if (d.type === CTA_PROTOINFO.TCP) {
      const tcp: TcpInfo = {};
      while (p.next()) {
        switch (p.type) {
          case CTA_PROTOINFO_TCP.STATE: out.state = name(TCP_STATES, p.u8()); break;
          case CTA_PROTOINFO_TCP.WSCALE_ORIGINAL: tcp.wscaleOrig = p.u8(); break;
          case CTA_PROTOINFO_TCP.WSCALE_REPLY: tcp.wscaleReply = p.u8(); break;
          case CTA_PROTOINFO_TCP.FLAGS_ORIGINAL: tcp.flagsOrig = p.u8(); break;
          case CTA_PROTOINFO_TCP.FLAGS_REPLY: tcp.flagsReply = p.u8(); break;
        }
      }
      if (Object.keys(tcp).length) out.tcp = tcp;
    } else if (d.type === CTA_PROTOINFO.SCTP || d.type === CTA_PROTOINFO.DCCP) {
      // The state is attribute 1 in both nests.
      while (p.next()) if (p.type === 1) out.state = name(d.type === CTA_PROTOINFO.SCTP ? SCTP_STATES : DCCP_STATES, p.u8());
    }
  }
  return out;
}
