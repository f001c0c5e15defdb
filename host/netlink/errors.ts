// NLMSG_ERROR payloads: errno, and the kernel's extended-ack text when it sent one.
import { constants } from 'node:os';
import { AttrDecoder } from './attr.js';
import { NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS } from './constants.js';

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

export interface NetlinkAck {
  /** 0 for a plain ACK; otherwise a positive errno. */
  errno: number;
  /** The sequence number of the request this answers. */
  seq: number;
  /** Extended-ack text, when the kernel gave one. */
  message?: string;
  /** Offset of the offending attribute in the request, when given. */
  attrOffset?: number;
}

/** Parses an NLMSG_ERROR message (header included). Returns undefined when it is truncated. */
export function parseAck(msg: Uint8Array, flags: number): NetlinkAck | undefined {
  if (msg.length < NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) return undefined;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const err = v.getInt32(NLMSG_HDRLEN, true);
  const seq = v.getUint32(NLMSG_HDRLEN + 4 + 8, true);
  const ack: NetlinkAck = { errno: -err, seq };
  if (flags & NLM_F_ACK_TLVS) {
    // After the echoed request: its header only when capped, else the whole request.
    const echoed = flags & NLM_F_CAPPED ? NLMSG_HDRLEN : v.getUint32(NLMSG_HDRLEN + 4, true);
    const from = NLMSG_HDRLEN + 4 + ((echoed + 3) & ~3);
    for (const d = new AttrDecoder(msg, Math.min(from, msg.length), msg.length); d.next(); ) {
      if (d.type === NLMSGERR_ATTR_MSG) ack.message = d.string();
      else if (d.type === NLMSGERR_ATTR_OFFS) ack.attrOffset = d.u32be() === undefined ? undefined : v.getUint32(d.start, true);
    }
  }
  return ack;
}

/** A kernel or socket error with its errno name; the conntrack layer adds the operation and a hint. */
export class NetlinkError extends Error {
  constructor(
    readonly code: string,
    readonly errno: number,
    message: string,
    readonly ack?: string,
  ) {
    super(message);
    this.name = 'NetlinkError';
  }
}
