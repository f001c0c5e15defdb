// The minimal scope scanner: reads only what capability checks need from a ctnetlink entry
// (family, protocol, zone, mark, id) and where its original tuple is. Full parsing is the
// Wasm SDK's job; this stays small enough to audit. Bounds-checked; duplicates refused.
import { AttrDecoder } from '../netlink/attr.js';
import { NLMSG_HDRLEN } from '../netlink/constants.js';
import { NFGENMSG_LEN } from '../netlink/message.js';
import { CTA, CTA_PROTO, CTA_TUPLE, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_NEW, msgType } from './constants.js';

export interface EntryScope {
  family: number;
  protocol: number;
  /** CTA_ZONE; absent means zone 0. */
  zone: number;
  /** The zone the original tuple is looked up in: its CTA_TUPLE_ZONE when present, else `zone`. */
  origZone: number;
  mark: number;
  id: number | undefined;
  /** The CTA_TUPLE_ORIG attribute, header included (a view into the message). */
  origTuple: Uint8Array;
  /** The CTA_ZONE attribute when present (a view). */
  zoneAttr: Uint8Array | undefined;
  idAttr: Uint8Array | undefined;
}

const ENTRY_TYPES = new Set([msgType(IPCTNL_MSG_CT_NEW), msgType(IPCTNL_MSG_CT_DELETE)]);

/** Returns null for anything that is not a well-formed conntrack entry message. */
export function scanEntry(msg: Uint8Array): EntryScope | null {
  if (msg.length < NLMSG_HDRLEN + NFGENMSG_LEN) return null;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  if (v.getUint32(0, true) !== msg.length || !ENTRY_TYPES.has(v.getUint16(4, true))) return null;
  const family = msg[NLMSG_HDRLEN];
  let origTuple: Uint8Array | undefined, zoneAttr: Uint8Array | undefined, idAttr: Uint8Array | undefined;
  let protocol = -1, zone = 0, tupleZone = -1, mark = 0, id: number | undefined;
  let seen = 0;
  const d = new AttrDecoder(msg, NLMSG_HDRLEN + NFGENMSG_LEN, msg.length);
  while (d.next()) {
    if (d.type < 32) {
      if (seen & (1 << d.type)) return null; // the kernel would take the last one; we refuse
      seen |= 1 << d.type;
    }
    switch (d.type) {
      case CTA.TUPLE_ORIG: {
        origTuple = d.rawAttr();
        for (const t = d.children(); t.next(); ) {
          if (t.type === CTA_TUPLE.PROTO) {
            for (const p = t.children(); p.next(); ) if (p.type === CTA_PROTO.NUM) protocol = p.u8() ?? -1;
          } else if (t.type === CTA_TUPLE.ZONE) tupleZone = t.u16be() ?? -2;
        }
        break;
      }
      case CTA.ZONE:
        if (d.length !== 2) return null;
        zone = d.u16be()!;
        zoneAttr = d.rawAttr();
        break;
      case CTA.MARK:
        if (d.length !== 4) return null;
        mark = d.u32be()!;
        break;
      case CTA.ID:
        if (d.length !== 4) return null;
        id = d.u32be();
        idAttr = d.rawAttr();
        break;
    }
  }
  if (d.malformed || !origTuple || protocol < 0 || tupleZone === -2) return null;
  return { family, protocol, zone, origZone: tupleZone >= 0 ? tupleZone : zone, mark, id, origTuple, zoneAttr, idAttr };
}
