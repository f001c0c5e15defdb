// Status bits (enum ip_conntrack_status) by name, as conntrack and the SDK's renderJson name them.
// Bit 12, once IPS_UNTRACKED, is IPS_NAT_CLASH since Linux 5.7.
export const STATUS_FLAGS = [
  'EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED', 'SRC_NAT', 'DST_NAT', 'SEQ_ADJUST', 'SRC_NAT_DONE', 'DST_NAT_DONE',
  'DYING', 'FIXED_TIMEOUT', 'TEMPLATE', 'NAT_CLASH', 'HELPER', 'OFFLOAD', 'HW_OFFLOAD',
] as const;
export type StatusFlag = (typeof STATUS_FLAGS)[number];

/** The names of the bits set in `status`, lowest first. */
export function statusFlags(status: number): StatusFlag[] {
  return STATUS_FLAGS.filter((_, bit) => status & (1 << bit));
}
