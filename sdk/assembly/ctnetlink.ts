// Kernel constants of ctnetlink (linux/netfilter/nfnetlink_conntrack.h, linux/netlink.h).
// These describe the kernel's wire format, not the plugin ABI (that is sdk/abi.json).

// netlink
export const NLMSG_HDRLEN: i32 = 16;
export const NFGENMSG_LEN: i32 = 4;
/** Offset of the first attribute in a ctnetlink message (nlmsghdr + nfgenmsg). */
export const CT_ATTRS_OFFSET: i32 = 20;
export const NLMSG_NOOP: i32 = 1;
export const NLMSG_ERROR: i32 = 2;
export const NLMSG_DONE: i32 = 3;
export const NLM_F_MULTI: i32 = 0x2;
export const NLM_F_EXCL: i32 = 0x200;
export const NLM_F_CREATE: i32 = 0x400;
export const NLA_HDRLEN: i32 = 4;
export const NLA_F_NESTED: i32 = 0x8000;
export const NLA_F_NET_BYTEORDER: i32 = 0x4000;
export const NLA_TYPE_MASK: i32 = 0x3fff;

export const NFNL_SUBSYS_CTNETLINK: i32 = 1;
export const IPCTNL_MSG_CT_NEW: i32 = 0;
export const IPCTNL_MSG_CT_GET: i32 = 1;
export const IPCTNL_MSG_CT_DELETE: i32 = 2;

// enum ctattr_type
export const CTA_TUPLE_ORIG: i32 = 1;
export const CTA_TUPLE_REPLY: i32 = 2;
export const CTA_STATUS: i32 = 3;
export const CTA_PROTOINFO: i32 = 4;
export const CTA_HELP: i32 = 5;
export const CTA_NAT_SRC: i32 = 6;
export const CTA_TIMEOUT: i32 = 7;
export const CTA_MARK: i32 = 8;
export const CTA_COUNTERS_ORIG: i32 = 9;
export const CTA_COUNTERS_REPLY: i32 = 10;
export const CTA_USE: i32 = 11;
export const CTA_ID: i32 = 12;
export const CTA_NAT_DST: i32 = 13;
export const CTA_TUPLE_MASTER: i32 = 14;
export const CTA_SEQ_ADJ_ORIG: i32 = 15;
export const CTA_SEQ_ADJ_REPLY: i32 = 16;
export const CTA_SECMARK: i32 = 17;
export const CTA_ZONE: i32 = 18;
export const CTA_SECCTX: i32 = 19;
export const CTA_TIMESTAMP: i32 = 20;
export const CTA_MARK_MASK: i32 = 21;
export const CTA_LABELS: i32 = 22;
export const CTA_LABELS_MASK: i32 = 23;
export const CTA_SYNPROXY: i32 = 24;
export const CTA_FILTER: i32 = 25;
export const CTA_STATUS_MASK: i32 = 26;
export const CTA_TIMESTAMP_EVENT: i32 = 27;
/** One past the highest top-level attribute type the Entry indexes. */
export const CTA_INDEX_MAX: i32 = 32;

// enum ctattr_tuple
export const CTA_TUPLE_IP: i32 = 1;
export const CTA_TUPLE_PROTO: i32 = 2;
export const CTA_TUPLE_ZONE: i32 = 3;
// enum ctattr_ip
export const CTA_IP_V4_SRC: i32 = 1;
export const CTA_IP_V4_DST: i32 = 2;
export const CTA_IP_V6_SRC: i32 = 3;
export const CTA_IP_V6_DST: i32 = 4;
// enum ctattr_l4proto
export const CTA_PROTO_NUM: i32 = 1;
export const CTA_PROTO_SRC_PORT: i32 = 2;
export const CTA_PROTO_DST_PORT: i32 = 3;
export const CTA_PROTO_ICMP_ID: i32 = 4;
export const CTA_PROTO_ICMP_TYPE: i32 = 5;
export const CTA_PROTO_ICMP_CODE: i32 = 6;
export const CTA_PROTO_ICMPV6_ID: i32 = 7;
export const CTA_PROTO_ICMPV6_TYPE: i32 = 8;
export const CTA_PROTO_ICMPV6_CODE: i32 = 9;
// enum ctattr_protoinfo
export const CTA_PROTOINFO_TCP: i32 = 1;
export const CTA_PROTOINFO_DCCP: i32 = 2;
export const CTA_PROTOINFO_SCTP: i32 = 3;
export const CTA_PROTOINFO_TCP_STATE: i32 = 1;
export const CTA_PROTOINFO_TCP_WSCALE_ORIGINAL: i32 = 2;
export const CTA_PROTOINFO_TCP_WSCALE_REPLY: i32 = 3;
export const CTA_PROTOINFO_TCP_FLAGS_ORIGINAL: i32 = 4;
export const CTA_PROTOINFO_TCP_FLAGS_REPLY: i32 = 5;
export const CTA_PROTOINFO_DCCP_STATE: i32 = 1;
export const CTA_PROTOINFO_SCTP_STATE: i32 = 1;
// enum ctattr_counters
export const CTA_COUNTERS_PACKETS: i32 = 1;
export const CTA_COUNTERS_BYTES: i32 = 2;
export const CTA_COUNTERS32_PACKETS: i32 = 3;
export const CTA_COUNTERS32_BYTES: i32 = 4;
// enum ctattr_tstamp
export const CTA_TIMESTAMP_START: i32 = 1;
export const CTA_TIMESTAMP_STOP: i32 = 2;
// enum ctattr_help / ctattr_secctx
export const CTA_HELP_NAME: i32 = 1;
export const CTA_SECCTX_NAME: i32 = 1;

// IP protocols
export const IPPROTO_ICMP: i32 = 1;
export const IPPROTO_TCP: i32 = 6;
export const IPPROTO_UDP: i32 = 17;
export const IPPROTO_DCCP: i32 = 33;
export const IPPROTO_GRE: i32 = 47;
export const IPPROTO_ICMPV6: i32 = 58;
export const IPPROTO_SCTP: i32 = 132;
export const IPPROTO_UDPLITE: i32 = 136;

// address families
export const AF_INET: i32 = 2;
export const AF_INET6: i32 = 10;
