// ctnetlink numbers from <linux/netfilter/nfnetlink_conntrack.h> and friends.
export const NFNL_SUBSYS_CTNETLINK = 1;
export const IPCTNL_MSG_CT_NEW = 0;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_DELETE = 2;
export const IPCTNL_MSG_CT_GET_STATS_CPU = 4;
export const IPCTNL_MSG_CT_GET_STATS = 5;
export const msgType = (m: number) => (NFNL_SUBSYS_CTNETLINK << 8) | m;

export type EventKind = 'NEW' | 'UPDATE' | 'DESTROY';
/** NFNLGRP_CONNTRACK_{NEW,UPDATE,DESTROY}. */
export const EVENT_GROUPS: Record<EventKind, number> = { NEW: 1, UPDATE: 2, DESTROY: 3 };

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
/** Address family names and their AF_* numbers (nfgenmsg, the ABI's DumpRequest). */
export const FAMILIES = { ipv4: AF_INET, ipv6: AF_INET6 } as const;
export type Family = keyof typeof FAMILIES;

export const CTA = {
  TUPLE_ORIG: 1, TUPLE_REPLY: 2, STATUS: 3, PROTOINFO: 4, HELP: 5, NAT_SRC: 6, TIMEOUT: 7, MARK: 8,
  COUNTERS_ORIG: 9, COUNTERS_REPLY: 10, USE: 11, ID: 12, NAT_DST: 13, TUPLE_MASTER: 14,
  SEQ_ADJ_ORIG: 15, SEQ_ADJ_REPLY: 16, SECMARK: 17, ZONE: 18, SECCTX: 19, TIMESTAMP: 20,
  MARK_MASK: 21, LABELS: 22, LABELS_MASK: 23, SYNPROXY: 24, FILTER: 25, STATUS_MASK: 26,
} as const;
export const CTA_TUPLE = { IP: 1, PROTO: 2, ZONE: 3 } as const;
export const CTA_IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const;
export const CTA_PROTO = {
  NUM: 1, SRC_PORT: 2, DST_PORT: 3, ICMP_ID: 4, ICMP_TYPE: 5, ICMP_CODE: 6,
  ICMPV6_ID: 7, ICMPV6_TYPE: 8, ICMPV6_CODE: 9,
} as const;
/** Inside CTA_NAT_SRC / CTA_NAT_DST: the address range and the nested port range (CTA_PROTONAT_*). */
export const CTA_NAT = { V4_MINIP: 1, V4_MAXIP: 2, PROTO: 3, V6_MINIP: 4, V6_MAXIP: 5 } as const;
export const CTA_PROTONAT = { PORT_MIN: 1, PORT_MAX: 2 } as const;
/** Inside CTA_PROTOINFO: one nest per protocol; inside each, its state first (and TCP's extras). */
export const CTA_PROTOINFO = { TCP: 1, DCCP: 2, SCTP: 3 } as const;
export const CTA_PROTOINFO_TCP = { STATE: 1, WSCALE_ORIGINAL: 2, WSCALE_REPLY: 3, FLAGS_ORIGINAL: 4, FLAGS_REPLY: 5 } as const;
/** Inside CTA_COUNTERS_ORIG/REPLY: 64-bit counters, or the 32-bit ones of old kernels. */
export const CTA_COUNTERS = { PACKETS: 1, BYTES: 2, PACKETS32: 3, BYTES32: 4 } as const;
export const CTA_TIMESTAMP = { START: 1, STOP: 2 } as const;
/** CTA_HELP_NAME inside CTA_HELP, CTA_SECCTX_NAME inside CTA_SECCTX. */
export const CTA_NAME = 1;
export const CTA_STATS_GLOBAL_ENTRIES = 1;
export const CTA_STATS_GLOBAL_MAX_ENTRIES = 2;
/** Per-CPU statistics attributes, as `conntrack -S` names them. */
export const CTA_STATS_CPU: Record<number, string> = {
  1: 'searched', 2: 'found', 3: 'new', 4: 'invalid', 5: 'ignore', 6: 'delete', 7: 'delete_list',
  8: 'insert', 9: 'insert_failed', 10: 'drop', 11: 'early_drop', 12: 'error', 13: 'search_restart',
  14: 'clash_resolve', 15: 'chaintoolong',
};

/** Layer-4 protocol names and their IANA numbers (CTA_PROTO_NUM). */
export const IPPROTO = { icmp: 1, tcp: 6, udp: 17, dccp: 33, icmpv6: 58, sctp: 132, udplite: 136, gre: 47 } as const;
export type ProtocolName = keyof typeof IPPROTO;

/** Status bits (IPS_*). */
export const IPS = {
  EXPECTED: 1 << 0, SEEN_REPLY: 1 << 1, ASSURED: 1 << 2, CONFIRMED: 1 << 3, SRC_NAT: 1 << 4,
  DST_NAT: 1 << 5, SEQ_ADJUST: 1 << 6, SRC_NAT_DONE: 1 << 7, DST_NAT_DONE: 1 << 8, DYING: 1 << 9,
  FIXED_TIMEOUT: 1 << 10, TEMPLATE: 1 << 11, UNTRACKED: 1 << 12, HELPER: 1 << 13, OFFLOAD: 1 << 14,
  HW_OFFLOAD: 1 << 15,
} as const;

export const TCP_STATES = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2',
] as const;

/** enum sctp_conntrack and enum ct_dccp_states, as conntrack prints them. */
export const SCTP_STATES = [
  'NONE', 'CLOSED', 'COOKIE_WAIT', 'COOKIE_ECHOED', 'ESTABLISHED', 'SHUTDOWN_SENT', 'SHUTDOWN_RECD', 'SHUTDOWN_ACK_SENT', 'HEARTBEAT_SENT',
] as const;
export const DCCP_STATES = ['NONE', 'REQUEST', 'RESPOND', 'PARTOPEN', 'OPEN', 'CLOSEREQ', 'CLOSING', 'TIMEWAIT', 'IGNORE', 'INVALID'] as const;

/** The protocols with a state, by number: its names, indexed as the kernel numbers the states. */
export const STATE_NAMES = new Map<number, readonly string[]>([[IPPROTO.tcp, TCP_STATES], [IPPROTO.sctp, SCTP_STATES], [IPPROTO.dccp, DCCP_STATES]]);
/** The state attribute inside every CTA_PROTOINFO_{TCP,SCTP,DCCP} nest. */
export const CTA_PROTOINFO_STATE = 1;

/** The classic MAX_CONNTRACK_ZONE_ID: the zone field is 16 bits. */
export const MAX_ZONE = 65535;
