// The fake kernel's conntrack table, indexed the way the kernel's hash is: by each direction's
// tuple in the zone id that applies to that direction (nf_ct_zone_id). So lookups behave as on
// Linux, including the surprising case: a zone-0 lookup finds an entry whose zone applies to
// the other direction only.
import { CTA, CTA_TUPLE } from '../../host/conntrack/constants.js';
import { ZONE_DIR } from '../../host/conntrack/scope.js';
import { AttrDecoder } from '../../host/netlink/attr.js';

export interface Row {
  id: number;
  family: number;
  /** The entry's zone (the zone rule) and the direction(s) it applies to (ZONE_DIR). */
  zone: number;
  zoneDir: number;
  mark: number;
  msg: Uint8Array;
  origKey: string;
  replyKey: string;
}

/** A lookup zone as ctnetlink parses it from a request: CTA_ZONE (both directions) or a tuple's CTA_TUPLE_ZONE. */
export interface LookupZone { id: number; dir: number }

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** nf_ct_zone_id: the zone id that applies to direction `dir` (ZONE_DIR.ORIG or REPLY). */
export function zoneIdFor(zone: number, zoneDir: number, dir: number): number {
  return zoneDir === ZONE_DIR.BOTH || zoneDir === dir ? zone : 0;
}

/** A tuple attribute's inner attributes without CTA_TUPLE_ZONE, as a key; and that zone (-1: none). */
export function tupleKey(tupleAttr: Uint8Array): { inner: string; zone: number } {
  const d = new AttrDecoder(tupleAttr, 4, tupleAttr.length);
  let inner = '', zone = -1;
  while (d.next()) {
    if (d.type === CTA_TUPLE.ZONE) zone = d.u16be() ?? 0;
    else inner += hex(d.rawAttr());
  }
  return { inner, zone };
}

export class FakeTable {
  readonly rows = new Map<number, Row>();
  private readonly byOrig = new Map<string, Row>();
  private readonly byReply = new Map<string, Row>();

  static key(family: number, zoneId: number, inner: string): string {
    return `${family}/${zoneId}/${inner}`;
  }

  /** Keys of a new row from its two tuple attributes; undefined when either direction clashes (EEXIST). */
  keys(family: number, zone: number, zoneDir: number, orig: Uint8Array, reply: Uint8Array | undefined): { origKey: string; replyKey: string } | undefined {
    const origKey = FakeTable.key(family, zoneIdFor(zone, zoneDir, ZONE_DIR.ORIG), tupleKey(orig).inner);
    // A recorded message without a reply tuple (hand-made) can only be found by its original tuple.
    const replyKey = reply ? FakeTable.key(family, zoneIdFor(zone, zoneDir, ZONE_DIR.REPLY), tupleKey(reply).inner) : `no reply tuple: ${origKey}`;
    for (const k of [origKey, replyKey]) if (this.byOrig.has(k) || this.byReply.has(k)) return undefined;
    return { origKey, replyKey };
  }

  add(row: Row): void {
    this.rows.set(row.id, row);
    this.byOrig.set(row.origKey, row);
    this.byReply.set(row.replyKey, row);
  }

  remove(row: Row): void {
    this.rows.delete(row.id);
    this.byOrig.delete(row.origKey);
    this.byReply.delete(row.replyKey);
  }

  /**
   * nf_conntrack_find_get: the entry with `inner` as its tuple in some direction d whose zone id
   * for d equals the lookup zone's id for d.
   */
  find(family: number, inner: string, zone: LookupZone): Row | undefined {
    return this.byOrig.get(FakeTable.key(family, zoneIdFor(zone.id, zone.dir, ZONE_DIR.ORIG), inner))
      ?? this.byReply.get(FakeTable.key(family, zoneIdFor(zone.id, zone.dir, ZONE_DIR.REPLY), inner));
  }

  /** The lookup of a request: its CTA_TUPLE_ORIG (else CTA_TUPLE_REPLY) in its zone; EINVAL as the kernel for two zones. */
  lookup(family: number, attrs: Map<number, Uint8Array>): Row | undefined | 'EINVAL' {
    const type = attrs.has(CTA.TUPLE_ORIG) ? CTA.TUPLE_ORIG : CTA.TUPLE_REPLY;
    const tuple = attrs.get(type);
    if (!tuple) return undefined;
    const { inner, zone: tz } = tupleKey(tuple);
    const z = attrs.get(CTA.ZONE);
    const cta = z ? new DataView(z.buffer, z.byteOffset).getUint16(4, false) : 0;
    if (tz >= 0 && cta !== 0) return 'EINVAL'; // ctnetlink_parse_tuple_zone: a zone is already set
    const zone: LookupZone = tz >= 0 ? { id: tz, dir: type === CTA.TUPLE_ORIG ? ZONE_DIR.ORIG : ZONE_DIR.REPLY } : { id: cta, dir: ZONE_DIR.BOTH };
    return this.find(family, inner, zone);
  }
}
