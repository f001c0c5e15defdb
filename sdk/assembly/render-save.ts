// `conntrack -o save`: each entry as the conntrack -I/-A command line that makes it again
// (conntrack-tools 1.4.7 ct_save_snprintf), prefixed -A (a listing, a new entry), -U (an update
// event) or -D (a deleted entry, a destroy event). `ctplug create --from` and `ctplug load` read
// these lines back. As conntrack's, the line carries no mark and no labels (it never did).
import { ByteBuf } from "./buf";
import { Entry, EVENT_UPDATE, EVENT_DESTROY } from "./entry";
import { Tuple } from "./tuple";
import {
  IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IPPROTO_SCTP, IPPROTO_DCCP, IPPROTO_GRE, IPPROTO_ICMP,
  IPPROTO_ICMPV6, AF_INET, AF_INET6,
} from "./ctnetlink";
import { TCP_STATE_NAMES, SCTP_STATE_NAMES, DCCP_STATE_NAMES, protoName } from "./status";

/** The line's first word: a listed entry is -A, a deleted one -D; an event says which it was. */
export const SAVE_ADD: i32 = 0;
export const SAVE_DELETE: i32 = 1;
export const SAVE_EVENT: i32 = 2;

/** Status bits conntrack -o save names (-u), in its order; none of them: UNSET. */
const SAVE_STATUS_BITS: StaticArray<u32> = [1 << 0, 1 << 1, 1 << 2, 1 << 10];
const SAVE_STATUS_NAMES: StaticArray<string> = ["EXPECTED", "SEEN_REPLY", "ASSURED", "FIXED_TIMEOUT"];
const DCCP_ROLES: StaticArray<string> = ["client", "server"];

function stateName(names: StaticArray<string>, s: i32): string {
  return s >= 0 && s < names.length ? unchecked(names[s]) : unchecked(names[0]);
}

function ports(b: ByteBuf, o: Tuple, r: Tuple, names: StaticArray<string>): void {
  if (o.hasPorts) b.ascii(unchecked(names[0])).u32(<u32>o.sport).ascii(unchecked(names[1])).u32(<u32>o.dport);
  if (r.hasPorts) b.ascii(unchecked(names[2])).u32(<u32>r.sport).ascii(unchecked(names[3])).u32(<u32>r.dport);
}
const PORT_FLAGS: StaticArray<string> = [" --sport ", " --dport ", " --reply-port-src ", " --reply-port-dst "];
const KEY_FLAGS: StaticArray<string> = [" --srckey ", " --dstkey ", " --reply-key-src ", " --reply-key-dst "];

/** Append one entry as conntrack -o save prints it, newline-terminated. `kind`: SAVE_ADD, SAVE_DELETE or SAVE_EVENT. */
export function renderSave(b: ByteBuf, e: Entry, kind: i32 = SAVE_ADD): void {
  const o = e.orig, r = e.reply;
  const family = o.family != 0 ? o.family : r.family;
  if (family != AF_INET && family != AF_INET6) return; // conntrack: "unsupported l3proto", skipped
  const ev = kind == SAVE_EVENT ? e.eventType : 0;
  b.ascii(kind == SAVE_DELETE || ev == EVENT_DESTROY ? "-D" : ev == EVENT_UPDATE ? "-U" : "-A");
  if (e.hasTimeout) b.ascii(" -t ").u32(e.timeout);
  if (e.hasStatus) {
    b.ascii(" -u ");
    let any = false;
    for (let i = 0; i < SAVE_STATUS_BITS.length; i++) {
      if ((e.status & unchecked(SAVE_STATUS_BITS[i])) == 0) continue;
      if (any) b.byte(44);
      b.ascii(unchecked(SAVE_STATUS_NAMES[i]));
      any = true;
    }
    if (!any) b.ascii("UNSET");
  }
  if (e.hasSecmark) b.ascii(" -c ").u32(e.secmark);
  if (e.hasZone) b.ascii(" -w ").u32(<u32>e.zone);
  if (o.hasZone) b.ascii(" --orig-zone ").u32(<u32>o.zone);
  if (r.hasZone) b.ascii(" --reply-zone ").u32(<u32>r.zone);
  if (o.src) b.ascii(" -s ").addr(o.src, o.addrLen);
  if (o.dst) b.ascii(" -d ").addr(o.dst, o.addrLen);
  // the reply's source is the DNAT target (-g), its destination the SNAT one (-n)
  if (r.src) b.ascii(e.natAddress(false) ? " -g " : " -r ").addr(r.src, r.addrLen);
  if (r.dst) b.ascii(e.natAddress(true) ? " -n " : " -q ").addr(r.dst, r.addrLen);
  const p = o.proto;
  switch (p) {
    case IPPROTO_TCP: case IPPROTO_UDP: case IPPROTO_UDPLITE: case IPPROTO_SCTP: case IPPROTO_DCCP: case IPPROTO_GRE:
    case IPPROTO_ICMP: case IPPROTO_ICMPV6: b.ascii(" -p ").ascii(protoName(p)); break;
    default: b.ascii(" -p ").u32(<u32>p);
  }
  if (p == IPPROTO_GRE) ports(b, o, r, KEY_FLAGS);
  else if (p == IPPROTO_ICMP || p == IPPROTO_ICMPV6) {
    if (o.hasIcmp) {
      const v6 = p == IPPROTO_ICMPV6 ? "v6" : "";
      b.ascii(" --icmp").ascii(v6).ascii("-type ").u32(<u32>o.icmpType)
        .ascii(" --icmp").ascii(v6).ascii("-code ").u32(<u32>o.icmpCode)
        .ascii(" --icmp").ascii(v6).ascii("-id ").u32(<u32>o.icmpId);
    }
  } else if (p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_UDPLITE || p == IPPROTO_SCTP || p == IPPROTO_DCCP) {
    ports(b, o, r, PORT_FLAGS);
  }
  if (p == IPPROTO_TCP && e.tcpState >= 0) b.ascii(" --state ").ascii(stateName(TCP_STATE_NAMES, e.tcpState));
  if (p == IPPROTO_SCTP) {
    if (e.sctpState >= 0) b.ascii(" --state ").ascii(stateName(SCTP_STATE_NAMES, e.sctpState));
    // in conntrack's byte order: it prints ntohl() of the tag it already converted (create reads it back the same way)
    if (e.sctpVtagOrig >= 0) b.ascii(" --orig-vtag ").u32(bswap<u32>(<u32>e.sctpVtagOrig));
    if (e.sctpVtagReply >= 0) b.ascii(" --reply-vtag ").u32(bswap<u32>(<u32>e.sctpVtagReply));
  }
  if (p == IPPROTO_DCCP) {
    if (e.dccpState >= 0) b.ascii(" --state ").ascii(stateName(DCCP_STATE_NAMES, e.dccpState));
    if (e.dccpRole >= 0 && e.dccpRole < DCCP_ROLES.length) b.ascii(" --role ").ascii(unchecked(DCCP_ROLES[e.dccpRole]));
  }
  // conntrack -E marks events a netlink request caused, in this format too
  if (kind == SAVE_EVENT && e.portId != 0) b.ascii(" [USERSPACE] portid=").u32(e.portId);
  b.byte(10);
}
