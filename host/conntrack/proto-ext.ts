// What conntrack -I sets of a protocol beyond its tuple, for SCTP and DCCP: the state (--state),
// SCTP's verification tags (--orig-vtag/--reply-vtag), DCCP's role (--role client|server), sent as
// CTA_PROTOINFO_SCTP / CTA_PROTOINFO_DCCP. (TCP's state is request.ts's own.) Kernels without a
// DCCP tracker (Linux 6.16 removed it) keep a DCCP entry as a generic one and ignore all of this.
// Verification tags go in conntrack's byte order: conntrack -I sends --orig-vtag N with its bytes
// swapped (htonl twice), so the kernel holds bswap(N), and conntrack -o save prints bswap of what
// the kernel holds; ctplug does the same both ways, so save lines of either tool restore with either.
import type { Encoder } from '../netlink/attr.js';
import { CTA, CTA_PROTOINFO } from './constants.js';
import { invalid } from './errors.js';
import { parseState, parseU32 } from './validate.js';

/** CTA_PROTOINFO_SCTP_* and CTA_PROTOINFO_DCCP_* (linux/netfilter/nfnetlink_conntrack.h). */
const SCTP = { STATE: 1, VTAG_ORIGINAL: 2, VTAG_REPLY: 3 } as const;
const DCCP = { STATE: 1, ROLE: 2 } as const;
/** enum ct_dccp_roles. */
const DCCP_ROLES = ['client', 'server'] as const;

export interface ProtoExt {
  sctp?: { state?: number; vtagOrig?: number; vtagReply?: number };
  dccp?: { state?: number; role?: number };
}

/** The flags as a create spec gives them (names and numbers as typed). */
export interface ProtoExtSpec {
  state?: string;
  origVtag?: string | number;
  replyVtag?: string | number;
  role?: string;
}

/** A DCCP role as conntrack takes it: any beginning of client or server, any case. */
export function parseDccpRole(v: string): number {
  const s = v.trim().toLowerCase();
  const i = s ? DCCP_ROLES.findIndex((r) => r.startsWith(s)) : -1;
  if (i < 0) throw invalid('role', `${JSON.stringify(v)} is not a DCCP role: use client or server`);
  return i;
}

/** The extension fields of a `protocol` entry (validated); the flags of another protocol are refused. */
export function protoExtOf(protocol: string, s: ProtoExtSpec): ProtoExt {
  const only = (flag: string, owner: string) => {
    throw invalid('create', `${flag} is ${owner}'s (this entry is ${protocol})`);
  };
  if (protocol !== 'sctp') {
    if (s.origVtag !== undefined) only('--orig-vtag', 'sctp');
    if (s.replyVtag !== undefined) only('--reply-vtag', 'sctp');
  }
  if (protocol !== 'dccp' && s.role !== undefined) only('--role', 'dccp');
  if (protocol === 'sctp') {
    return {
      sctp: {
        state: s.state === undefined ? undefined : parseState(s.state, 'sctp'),
        vtagOrig: s.origVtag === undefined ? undefined : parseU32(s.origVtag, 'orig-vtag'),
        vtagReply: s.replyVtag === undefined ? undefined : parseU32(s.replyVtag, 'reply-vtag'),
      },
    };
  }
  if (protocol === 'dccp') {
    return { dccp: { state: s.state === undefined ? undefined : parseState(s.state, 'dccp'), role: s.role === undefined ? undefined : parseDccpRole(s.role) } };
  }
  if (s.state !== undefined && protocol !== 'tcp') parseState(s.state, protocol); // refuses: no states
  return {};
}

const bswap32 = (v: number) => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

/** CTA_PROTOINFO for the SCTP / DCCP fields set (nothing when none is). */
export function encodeProtoExt(enc: Encoder, n: ProtoExt): void {
  const sctp = n.sctp, dccp = n.dccp;
  if (sctp && (sctp.state !== undefined || sctp.vtagOrig !== undefined || sctp.vtagReply !== undefined)) {
    enc.begin(CTA.PROTOINFO).begin(CTA_PROTOINFO.SCTP);
    if (sctp.state !== undefined) enc.u8(SCTP.STATE, sctp.state);
    if (sctp.vtagOrig !== undefined) enc.u32be(SCTP.VTAG_ORIGINAL, bswap32(sctp.vtagOrig));
    if (sctp.vtagReply !== undefined) enc.u32be(SCTP.VTAG_REPLY, bswap32(sctp.vtagReply));
    enc.end().end();
  }
  if (dccp && (dccp.state !== undefined || dccp.role !== undefined)) {
    enc.begin(CTA.PROTOINFO).begin(CTA_PROTOINFO.DCCP);
    if (dccp.state !== undefined) enc.u8(DCCP.STATE, dccp.state);
    if (dccp.role !== undefined) enc.u8(DCCP.ROLE, dccp.role);
    enc.end().end();
  }
}
