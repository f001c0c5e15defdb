// The fake kernel's CTA_FILTER (fake-kernel.ts, option ctaFilter): a dump's filter on the original
// tuple as Linux 6.18's ctnetlink_filter_match_tuple applies it (IPv4 addresses, protocol, tcp/udp
// ports), with the kernel's answers to what it refuses (an unknown flag bit, AF_UNSPEC).
import { AttrDecoder } from '../../host/netlink/attr.js';
import { CTA } from '../../host/conntrack/constants.js';
import { CTA_FILTER_FLAG as F } from '../../host/conntrack/kernel-filter.js';
import { scanEntry } from '../../host/conntrack/scope.js';

const EINVAL = 22, EOPNOTSUPP = 95;
/** CTA_FILTER_ORIG_FLAGS bits this fake knows (CTA_FILTER_F_ALL of 6.18 has 12). */
const CTA_FILTER_F_ALL = 0xfff;

/** A dump's CTA_FILTER on the original tuple, as ctnetlink_filter_match_tuple applies it. */
export interface TupleFilter {
  matches(entry: Uint8Array): boolean;
}

/** The original tuple's fields of an entry or a request: [protocol, v4 src, v4 dst, sport, dport]. */
function tupleFields(buf: Uint8Array, start: number, end: number): { proto?: number; src?: string; dst?: string; sport?: number; dport?: number } {
  const out: { proto?: number; src?: string; dst?: string; sport?: number; dport?: number } = {};
  for (const t = new AttrDecoder(buf, start, end); t.next(); ) {
    if (t.type === 1) {
      for (const a = t.children(); a.next(); ) {
        const hex = Buffer.from(buf.subarray(a.start, a.end)).toString('hex');
        if (a.type === 1 || a.type === 3) out.src = hex;
        if (a.type === 2 || a.type === 4) out.dst = hex;
      }
    } else if (t.type === 2) {
      for (const a = t.children(); a.next(); ) {
        if (a.type === 1) out.proto = a.u8();
        if (a.type === 2) out.sport = a.u16be();
        if (a.type === 3) out.dport = a.u16be();
      }
    }
  }
  return out;
}

/** The request's CTA_FILTER (undefined: none), or the errno the kernel answers it with. */
export function parseFilter(family: number, attrs: Map<number, Uint8Array>): TupleFilter | number | undefined {
  const f = attrs.get(CTA.FILTER);
  if (!f) return undefined;
  let flags = 0;
  for (const d = new AttrDecoder(f, 4, f.length); d.next(); ) if (d.type === 1 && d.length === 4) flags = new DataView(f.buffer, f.byteOffset + d.start).getUint32(0, true);
  if (flags & ~CTA_FILTER_F_ALL) return EINVAL;
  if (family === 0) return EOPNOTSUPP;
  const orig = attrs.get(CTA.TUPLE_ORIG);
  const want = orig ? tupleFields(orig, 4, orig.length) : {};
  return {
    matches(entry) {
      const s = scanEntry(entry);
      if (!s || s.tupleOffset < 0) return false;
      const len = entry[s.tupleOffset] | (entry[s.tupleOffset + 1] << 8);
      const have = tupleFields(entry, s.tupleOffset + 4, s.tupleOffset + len);
      if (flags & F.IP_SRC && have.src !== want.src) return false;
      if (flags & F.IP_DST && have.dst !== want.dst) return false;
      if (flags & F.PROTO_NUM && have.proto !== want.proto) return false;
      if (have.proto === 6 || have.proto === 17) {
        if (flags & F.SRC_PORT && have.sport !== want.sport) return false;
        if (flags & F.DST_PORT && have.dport !== want.dport) return false;
      }
      return true;
    },
  };
}
