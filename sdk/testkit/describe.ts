// Turns a ctnetlink entry message back into the typed description plugin authors write in tests
// ({ family, protocol, src, dst, sport, dport, zone, mark, ... }), for readable assertions.
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { AttrDecoder } from '../../host/netlink/attr.js';
import { NLMSG_HDRLEN } from '../../host/netlink/constants.js';
import { NFGENMSG_LEN } from '../../host/netlink/message.js';
import { AF_INET, CTA, CTA_IP, CTA_PROTO, CTA_PROTOINFO_TCP, CTA_PROTOINFO_TCP_STATE, CTA_TUPLE, IPPROTO, TCP_STATES } from '../../host/conntrack/constants.js';

/** The same shape as the CreateSpec a test author writes, with what the kernel always reports filled in. */
export interface EntryDescription extends Omit<CreateSpec, 'family' | 'protocol' | 'zone' | 'mark' | 'timeout' | 'status'> {
  family: 'ipv4' | 'ipv6';
  protocol: string;
  zone: number;
  mark: number;
  timeout?: number;
}

function address(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1); // WHATWG URL compresses IPv6
}

export function describeEntry(msg: Uint8Array): EntryDescription {
  const family = msg[NLMSG_HDRLEN] === AF_INET ? 'ipv4' : 'ipv6';
  const e: EntryDescription = { family, protocol: '?', src: '?', dst: '?', zone: 0, mark: 0 };
  for (const d = new AttrDecoder(msg, NLMSG_HDRLEN + NFGENMSG_LEN, msg.length); d.next(); ) {
    if (d.type === CTA.TUPLE_ORIG) {
      for (const t = d.children(); t.next(); ) {
        if (t.type === CTA_TUPLE.IP) {
          for (const ip = t.children(); ip.next(); ) {
            const bytes = ip.buf.subarray(ip.start, ip.end);
            if (ip.type === CTA_IP.V4_SRC || ip.type === CTA_IP.V6_SRC) e.src = address(bytes);
            if (ip.type === CTA_IP.V4_DST || ip.type === CTA_IP.V6_DST) e.dst = address(bytes);
          }
        } else if (t.type === CTA_TUPLE.PROTO) {
          for (const p = t.children(); p.next(); ) {
            if (p.type === CTA_PROTO.NUM) e.protocol = Object.entries(IPPROTO).find(([, n]) => n === p.u8())?.[0] ?? String(p.u8());
            else if (p.type === CTA_PROTO.SRC_PORT) e.sport = p.u16be();
            else if (p.type === CTA_PROTO.DST_PORT) e.dport = p.u16be();
            else if (p.type === CTA_PROTO.ICMP_ID || p.type === CTA_PROTO.ICMPV6_ID) e.icmpId = p.u16be();
            else if (p.type === CTA_PROTO.ICMP_TYPE || p.type === CTA_PROTO.ICMPV6_TYPE) e.icmpType = p.u8();
            else if (p.type === CTA_PROTO.ICMP_CODE || p.type === CTA_PROTO.ICMPV6_CODE) e.icmpCode = p.u8();
          }
        }
      }
    } else if (d.type === CTA.ZONE) e.zone = d.u16be() ?? 0;
    else if (d.type === CTA.MARK) e.mark = d.u32be() ?? 0;
    else if (d.type === CTA.TIMEOUT) e.timeout = d.u32be();
    else if (d.type === CTA.PROTOINFO) {
      for (const p = d.children(); p.next(); ) {
        if (p.type !== CTA_PROTOINFO_TCP) continue;
        for (const t = p.children(); t.next(); ) if (t.type === CTA_PROTOINFO_TCP_STATE) e.tcpState = TCP_STATES[t.u8() ?? 0];
      }
    }
  }
  return e;
}
