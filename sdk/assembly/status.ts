// Conntrack status bits (enum ip_conntrack_status), TCP/SCTP/DCCP state names and protocol
// names, as the conntrack CLI spells them.
import { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_GRE, IPPROTO_DCCP, AF_INET, AF_INET6 } from "./ctnetlink";

export const IPS_EXPECTED: u32 = 1 << 0;
export const IPS_SEEN_REPLY: u32 = 1 << 1;
export const IPS_ASSURED: u32 = 1 << 2;
export const IPS_CONFIRMED: u32 = 1 << 3;
export const IPS_SRC_NAT: u32 = 1 << 4;
export const IPS_DST_NAT: u32 = 1 << 5;
export const IPS_SEQ_ADJUST: u32 = 1 << 6;
export const IPS_SRC_NAT_DONE: u32 = 1 << 7;
export const IPS_DST_NAT_DONE: u32 = 1 << 8;
export const IPS_DYING: u32 = 1 << 9;
export const IPS_FIXED_TIMEOUT: u32 = 1 << 10;
export const IPS_TEMPLATE: u32 = 1 << 11;
export const IPS_NAT_CLASH: u32 = 1 << 12;
export const IPS_HELPER: u32 = 1 << 13;
export const IPS_OFFLOAD: u32 = 1 << 14;
export const IPS_HW_OFFLOAD: u32 = 1 << 15;

/** Names of status bits 0..15 (JSON output and `status` filters). */
export const STATUS_NAMES: StaticArray<string> = [
  "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT", "SEQ_ADJUST",
  "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT", "TEMPLATE", "NAT_CLASH",
  "HELPER", "OFFLOAD", "HW_OFFLOAD",
];

/** Status bit for a name (case-insensitive; conntrack -u also accepts UNSET=0 and SNAT/DNAT). -1 if unknown. */
export function statusBit(name: string): i64 {
  const n = name.toUpperCase();
  if (n == "UNSET") return 0;
  if (n == "SNAT") return <i64>IPS_SRC_NAT;
  if (n == "DNAT") return <i64>IPS_DST_NAT;
  if (n == "UNTRACKED") return <i64>IPS_NAT_CLASH;
  for (let i = 0; i < STATUS_NAMES.length; i++) if (STATUS_NAMES[i] == n) return <i64>(1 << i);
  return -1;
}

// enum tcp_conntrack
export const TCP_NONE: i32 = 0;
export const TCP_SYN_SENT: i32 = 1;
export const TCP_SYN_RECV: i32 = 2;
export const TCP_ESTABLISHED: i32 = 3;
export const TCP_FIN_WAIT: i32 = 4;
export const TCP_CLOSE_WAIT: i32 = 5;
export const TCP_LAST_ACK: i32 = 6;
export const TCP_TIME_WAIT: i32 = 7;
export const TCP_CLOSE: i32 = 8;
export const TCP_SYN_SENT2: i32 = 9;

export const TCP_STATE_NAMES: StaticArray<string> = [
  "NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK",
  "TIME_WAIT", "CLOSE", "SYN_SENT2",
];
export const SCTP_STATE_NAMES: StaticArray<string> = [
  "NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT",
  "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED",
];
export const DCCP_STATE_NAMES: StaticArray<string> = [
  "NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT",
  "IGNORE", "INVALID",
];

/** TCP state number for a name (case-insensitive; LISTEN is the old name of SYN_SENT2). -1 if unknown. */
export function tcpStateFromName(name: string): i32 {
  const n = name.toUpperCase();
  if (n == "LISTEN") return TCP_SYN_SENT2;
  return indexOfName(TCP_STATE_NAMES, n);
}

function indexOfName(names: StaticArray<string>, upper: string): i32 {
  for (let i = 0; i < names.length; i++) if (unchecked(names[i]) == upper) return i;
  return -1;
}

/** The state number of a name in `proto`'s table (tcp, sctp, dccp; case-insensitive); -1 if unknown or stateless. */
export function stateFromName(proto: i32, name: string): i32 {
  if (proto == IPPROTO_TCP) return tcpStateFromName(name);
  if (proto == IPPROTO_SCTP) return indexOfName(SCTP_STATE_NAMES, name.toUpperCase());
  if (proto == IPPROTO_DCCP) return indexOfName(DCCP_STATE_NAMES, name.toUpperCase());
  return -1;
}

/** State name as conntrack prints it ("NONE" when out of range). */
export function tcpStateName(s: i32): string {
  return s >= 0 && s < TCP_STATE_NAMES.length ? TCP_STATE_NAMES[s] : "NONE";
}

/** L4 protocol name as conntrack prints it, "unknown" otherwise. */
export function protoName(p: i32): string {
  switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_UDPLITE: return "udplite";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
    case IPPROTO_SCTP: return "sctp";
    case IPPROTO_GRE: return "gre";
    case IPPROTO_DCCP: return "dccp";
    default: return "unknown";
  }
}

/** Protocol number for a name or a decimal number ("tcp", "6"); -1 if unknown. */
export function protoFromName(name: string): i32 {
  const n = name.toLowerCase();
  if (n == "tcp") return IPPROTO_TCP;
  if (n == "udp") return IPPROTO_UDP;
  if (n == "udplite") return IPPROTO_UDPLITE;
  if (n == "icmp") return IPPROTO_ICMP;
  if (n == "icmpv6" || n == "ipv6-icmp") return IPPROTO_ICMPV6;
  if (n == "sctp") return IPPROTO_SCTP;
  if (n == "gre") return IPPROTO_GRE;
  if (n == "dccp") return IPPROTO_DCCP;
  if (n.length == 0 || n.length > 3) return -1;
  let v = 0;
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v <= 255 ? v : -1;
}

/** L3 family name as conntrack prints it. */
export function familyName(f: i32): string {
  if (f == AF_INET) return "ipv4";
  if (f == AF_INET6) return "ipv6";
  return "unknown";
}
