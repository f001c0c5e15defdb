// The table by zone, protocol and TCP state: one dump (filtered in the kernel to the scope's
// zones/family/mark, planDump), each entry read in place by the scope scanner plus one look at
// CTA_PROTOINFO for TCP's state. Nothing is decoded into objects, so a census of 1M entries costs
// about one `conntrack -L > /dev/null` (bench/fleet.ts measures it). Used by /metrics (periodic)
// and by the fleet's `count` request.
import type { Conntrack } from '../conntrack/conntrack.js';
import { CTA, CTA_PROTOINFO, CTA_PROTOINFO_TCP, IPPROTO, TCP_STATES } from '../conntrack/constants.js';
import { emptyScope, scanInto } from '../conntrack/scope.js';
import { NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from '../netlink/constants.js';
import { NFGENMSG_LEN } from '../netlink/message.js';
import type { Scope } from '../policy/capabilities.js';
import { planDump } from '../policy/enforce.js';

const protoName = new Map<number, string>(Object.entries(IPPROTO).map(([k, v]) => [v, k]));
const u16le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);

/** Counts by "zone|protocol|state" (state "" for protocols without one). */
export interface Census {
  counts: Map<string, number>;
  total: number;
  ms: number;
}

export const censusKey = (zone: number, protocol: string, state: string) => `${zone}|${protocol}|${state}`;
export function splitCensusKey(k: string): { zone: string; protocol: string; state: string } {
  const [zone, protocol, state] = k.split('|');
  return { zone, protocol, state };
}

/** TCP's state in one entry message (the CTA_PROTOINFO > CTA_PROTOINFO_TCP > STATE byte), or -1. */
function tcpState(b: Uint8Array, at: number, len: number): number {
  const end = at + len;
  for (let p = at + NLMSG_HDRLEN + NFGENMSG_LEN; p + NLA_HDRLEN <= end; ) {
    const l = u16le(b, p);
    if (l < NLA_HDRLEN || p + l > end) return -1;
    if ((u16le(b, p + 2) & NLA_TYPE_MASK) === CTA.PROTOINFO) {
      for (let q = p + NLA_HDRLEN; q + NLA_HDRLEN <= p + l; ) {
        const ql = u16le(b, q);
        if (ql < NLA_HDRLEN || q + ql > p + l) return -1;
        if ((u16le(b, q + 2) & NLA_TYPE_MASK) === CTA_PROTOINFO.TCP) {
          for (let r = q + NLA_HDRLEN; r + NLA_HDRLEN <= q + ql; ) {
            const rl = u16le(b, r);
            if (rl < NLA_HDRLEN || r + rl > q + ql) return -1;
            if ((u16le(b, r + 2) & NLA_TYPE_MASK) === CTA_PROTOINFO_TCP.STATE && rl >= NLA_HDRLEN + 1) return b[r + NLA_HDRLEN];
            r += (rl + 3) & ~3;
          }
        }
        q += (ql + 3) & ~3;
      }
      return -1;
    }
    p += (l + 3) & ~3;
  }
  return -1;
}

/** Tallies the entries inside `scope` (default: everything). */
export async function takeCensus(ct: Pick<Conntrack, 'dump'>, scope?: Scope, signal?: AbortSignal): Promise<Census> {
  const t0 = performance.now();
  const all: Scope = scope ?? { zones: 'any', families: 'any', protocols: 'any', mark: null, markBits: null };
  const plan = planDump({ family: 0, protocol: 0 }, all);
  if (!plan.ok) throw new Error(plan.reason);
  const counts = new Map<string, number>();
  const s = emptyScope();
  let total = 0;
  for (const filter of plan.filters) {
    await ct.dump(filter, (b) => {
      for (let p = 0; p + NLMSG_HDRLEN <= b.length; ) {
        const len = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
        if (len < NLMSG_HDRLEN || p + len > b.length) break;
        if (scanInto(b, p, len, s) && plan.matcher.matches(s)) {
          const proto = protoName.get(s.protocol) ?? String(s.protocol);
          const st = s.protocol === IPPROTO.tcp ? tcpState(b, p, len) : -1;
          const k = censusKey(s.zone, proto, st < 0 ? '' : TCP_STATES[st] ?? String(st));
          counts.set(k, (counts.get(k) ?? 0) + 1);
          total++;
        }
        p += (len + 3) & ~3;
      }
    }, { signal });
  }
  return { counts, total, ms: performance.now() - t0 };
}
