// The minimal scope scanner: reads only what capability checks need from a ctnetlink entry
// (family, protocol, zone, mark, id) and where its tuples are. Full parsing is the Wasm SDK's
// job; this stays small enough to audit. It runs on every entry the host delivers, so it reads
// bytes in place with no allocation. Bounds-checked; duplicate attributes refused.
//
// It is also the home of ctplug's zone rule (entryZone): every other part of the host (dump
// and flush filters, scope checks, delete, update, events, the CLI) asks the scanner.
import { NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from '../netlink/constants.js';
import { NFGENMSG_LEN } from '../netlink/message.js';
import { CTA, CTA_PROTO, CTA_TUPLE, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_NEW, msgType } from './constants.js';

/** Which direction(s) an entry's zone applies to (the kernel's nf_conntrack_zone.dir). */
export const ZONE_DIR = { BOTH: 0, ORIG: 1, REPLY: 2 } as const;

/** Offsets are relative to the message start; -1 means absent. */
export interface ScopeFields {
  family: number;
  protocol: number;
  /** The zone of the entry, by entryZone (CTA_ZONE, else a tuple's CTA_TUPLE_ZONE, else 0). */
  zone: number;
  /** ZONE_DIR: BOTH for CTA_ZONE (and zone 0), ORIG/REPLY for a tuple's CTA_TUPLE_ZONE. */
  zoneDir: number;
  mark: number;
  id: number | undefined;
  /** The message is a CT_DELETE: a DESTROY event, an entry that no longer exists. */
  destroyed: boolean;
  tupleOffset: number;
  tupleLength: number;
  replyTupleOffset: number;
  replyTupleLength: number;
  zoneOffset: number;
  idOffset: number;
}

export interface EntryScope extends ScopeFields {
  /** The CTA_TUPLE_ORIG attribute, header included (a view into the message). */
  origTuple: Uint8Array;
  /** The CTA_ZONE attribute when present (a view). */
  zoneAttr: Uint8Array | undefined;
  idAttr: Uint8Array | undefined;
}

const NEW = msgType(IPCTNL_MSG_CT_NEW);
const DELETE = msgType(IPCTNL_MSG_CT_DELETE);
const u16le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
const u16be = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const u32be = (b: Uint8Array, i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
const align4 = (n: number) => (n + 3) & ~3;

/**
 * ctplug's zone rule, the kernel's own: an entry has exactly one zone id (nf_conntrack_zone),
 * applied to the original direction, the reply direction or both. ctnetlink reports it as
 * CTA_ZONE (both directions) or as the CTA_TUPLE_ZONE of one tuple, never two of them, and not
 * at all for zone 0. Its zone filters in dumps and filtered deletes match the id whatever the
 * direction. Arguments are -1 when absent. Returns the zone, or -1 when more than one is given
 * (bytes no kernel sends: refused).
 */
export function entryZone(ctaZone: number, origTupleZone: number, replyTupleZone: number): number {
  const given = (ctaZone >= 0 ? 1 : 0) + (origTupleZone >= 0 ? 1 : 0) + (replyTupleZone >= 0 ? 1 : 0);
  if (given > 1) return -1;
  return ctaZone >= 0 ? ctaZone : origTupleZone >= 0 ? origTupleZone : replyTupleZone >= 0 ? replyTupleZone : 0;
}

/**
 * Scans one CTA_TUPLE_* nest at buf[p, end): returns its protocol (or -1 when it has none) and
 * writes its CTA_TUPLE_ZONE to zoneOut[0] (-1 when absent). -2: malformed or a duplicate.
 */
function scanTuple(buf: Uint8Array, p: number, end: number, zoneOut: Int32Array): number {
  let protocol = -1, seen = 0;
  zoneOut[0] = -1;
  for (let q = p + NLA_HDRLEN; q + NLA_HDRLEN <= end; ) {
    const qlen = u16le(buf, q);
    const qtype = u16le(buf, q + 2) & NLA_TYPE_MASK;
    if (qlen < NLA_HDRLEN || q + qlen > end) return -2;
    if (qtype < 32) {
      if (seen & (1 << qtype)) return -2;
      seen |= 1 << qtype;
    }
    if (qtype === CTA_TUPLE.PROTO) {
      for (let r = q + NLA_HDRLEN; r + NLA_HDRLEN <= q + qlen; ) {
        const rlen = u16le(buf, r);
        if (rlen < NLA_HDRLEN || r + rlen > q + qlen) return -2;
        if ((u16le(buf, r + 2) & NLA_TYPE_MASK) === CTA_PROTO.NUM && rlen >= NLA_HDRLEN + 1) {
          if (protocol >= 0) return -2;
          protocol = buf[r + NLA_HDRLEN];
        }
        r += align4(rlen);
      }
    } else if (qtype === CTA_TUPLE.ZONE) {
      if (qlen !== NLA_HDRLEN + 2) return -2;
      zoneOut[0] = u16be(buf, q + NLA_HDRLEN);
    }
    q += align4(qlen);
  }
  return protocol;
}

const tupleZone = new Int32Array(1);

/**
 * Scans the entry message at `buf[at, at + len)` into `out` (reused by callers that scan many).
 * Returns false for anything that is not a well-formed conntrack entry message.
 */
export function scanInto(buf: Uint8Array, at: number, len: number, out: ScopeFields): boolean {
  if (len < NLMSG_HDRLEN + NFGENMSG_LEN || at < 0 || at + len > buf.length) return false;
  const msgLen = (u16le(buf, at) | (u16le(buf, at + 2) << 16)) >>> 0;
  const type = u16le(buf, at + 4);
  if (msgLen !== len || (type !== NEW && type !== DELETE)) return false;
  const end = at + len;
  out.family = buf[at + NLMSG_HDRLEN];
  out.protocol = -1;
  out.mark = 0;
  out.id = undefined;
  out.destroyed = type === DELETE;
  out.tupleOffset = out.replyTupleOffset = out.zoneOffset = out.idOffset = -1;
  out.tupleLength = out.replyTupleLength = 0;
  let ctaZone = -1, origZone = -1, replyZone = -1, replyProtocol = -1;
  let seen = 0;
  for (let p = at + NLMSG_HDRLEN + NFGENMSG_LEN; p < end; ) {
    if (p + NLA_HDRLEN > end) return false;
    const alen = u16le(buf, p);
    const atype = u16le(buf, p + 2) & NLA_TYPE_MASK;
    if (alen < NLA_HDRLEN || p + alen > end) return false;
    if (atype < 32) {
      if (seen & (1 << atype)) return false; // the kernel would take the last one; we refuse
      seen |= 1 << atype;
    }
    const v = p + NLA_HDRLEN;
    const plen = alen - NLA_HDRLEN;
    if (atype === CTA.TUPLE_ORIG) {
      out.tupleOffset = p - at;
      out.tupleLength = alen;
      out.protocol = scanTuple(buf, p, p + alen, tupleZone);
      if (out.protocol === -2) return false;
      origZone = tupleZone[0];
    } else if (atype === CTA.TUPLE_REPLY) {
      out.replyTupleOffset = p - at;
      out.replyTupleLength = alen;
      replyProtocol = scanTuple(buf, p, p + alen, tupleZone);
      if (replyProtocol === -2) return false;
      replyZone = tupleZone[0];
    } else if (atype === CTA.ZONE) {
      if (plen !== 2) return false;
      ctaZone = u16be(buf, v);
      out.zoneOffset = p - at;
    } else if (atype === CTA.MARK) {
      if (plen !== 4) return false;
      out.mark = u32be(buf, v);
    } else if (atype === CTA.ID) {
      if (plen !== 4) return false;
      out.id = u32be(buf, v);
      out.idOffset = p - at;
    }
    p += align4(alen);
  }
  if (out.tupleOffset < 0 || out.protocol < 0) return false;
  // Both tuples of an entry carry the same protocol; a reply tuple is the lookup key of an
  // entry whose zone applies to the reply direction, so it must not name another protocol.
  if (out.replyTupleOffset >= 0 && replyProtocol !== out.protocol) return false;
  const zone = entryZone(ctaZone, origZone, replyZone);
  if (zone < 0) return false;
  out.zone = zone;
  out.zoneDir = origZone >= 0 ? ZONE_DIR.ORIG : replyZone >= 0 ? ZONE_DIR.REPLY : ZONE_DIR.BOTH;
  return true;
}

/**
 * The nfgenmsg family of the entry message at `buf[at, at + len)` after scanInto's header checks
 * (length, type NEW), or -1: the whole scope check under a grant that constrains nothing but the
 * family (ScopeMatcher.familyOnly), at a tenth of a full scan's cost. Anything acted on later
 * (a delete, an update) is scanned in full then.
 */
export function entryFamily(buf: Uint8Array, at: number, len: number): number {
  if (len < NLMSG_HDRLEN + NFGENMSG_LEN || at < 0 || at + len > buf.length) return -1;
  if (((u16le(buf, at) | (u16le(buf, at + 2) << 16)) >>> 0) !== len || u16le(buf, at + 4) !== NEW) return -1;
  return buf[at + NLMSG_HDRLEN];
}

export function emptyScope(): ScopeFields {
  return {
    family: 0, protocol: 0, zone: 0, zoneDir: 0, mark: 0, id: undefined, destroyed: false,
    tupleOffset: -1, tupleLength: 0, replyTupleOffset: -1, replyTupleLength: 0, zoneOffset: -1, idOffset: -1,
  };
}

/** Scans one whole message; null for anything that is not a well-formed conntrack entry. */
export function scanEntry(msg: Uint8Array): EntryScope | null {
  const s = emptyScope();
  if (!scanInto(msg, 0, msg.length, s)) return null;
  const attr = (off: number) => (off < 0 ? undefined : msg.subarray(off, off + u16le(msg, off)));
  // Built field by field: an object spread here cost ~6 µs per entry (a 100k update dump: 0.7 s).
  const e = s as EntryScope;
  e.origTuple = attr(s.tupleOffset)!;
  e.zoneAttr = attr(s.zoneOffset);
  e.idAttr = attr(s.idOffset);
  return e;
}

/** The zone of one entry message by entryZone, or -1 when it is not a well-formed entry. */
export function zoneOfEntry(msg: Uint8Array): number {
  const s = emptyScope();
  return scanInto(msg, 0, msg.length, s) ? s.zone : -1;
}

/**
 * ctplug's entry identity: id, zone (entryZone) and original tuple bytes, of the message at
 * `buf[at...]` scanned into `s`. A conntrack id is a 32-bit hash (two entries of 100k share one
 * about once, and a re-created tuple often gets the same id), so the id alone names no entry.
 * Used by the gate's memory of shown entries (scoped/shown.ts); the SDK's Entry.identity hashes the same fields.
 */
export function identityKey(buf: Uint8Array, at: number, s: ScopeFields): string {
  const start = buf.byteOffset + at + s.tupleOffset;
  return `${s.id ?? ''}/${s.zone}/${Buffer.from(buf.buffer, start, s.tupleLength).toString('latin1')}`;
}
