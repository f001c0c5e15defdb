// conntrack-style filter flags -> (1) the plugin filter config (sdk/assembly/filter.ts keys),
// (2) the kernel-side dump filter, (3) the scope the plugin is granted. Every value is validated
// by host/conntrack/validate.ts before anything runs; nothing here re-decides what is valid.
import { IPS } from '../conntrack/constants.js';
import { invalid } from '../conntrack/errors.js';
import {
  parseCidr, parseFamily, parseMark, parsePort, parseProtocol, parseTcpState, parseZone, type Family,
} from '../conntrack/validate.js';
import { labelBits, parseLabels } from '../conntrack/labels.js';
import { SCOPE_PROTOCOLS, type Scope, type ScopeProtocol } from '../policy/capabilities.js';
import type { Opts } from './args.js';

export interface FlagFilter {
  /** Keys for Filter.fromConfig in the SDK (list, match, stale). */
  config: Record<string, unknown>;
  /** What the kernel can filter on in a dump or a filtered flush. */
  kernel: { family?: Family; zone?: number; mark?: number; markMask?: number };
  /** The scope to grant: zone, family, protocol and mark are narrowed to what the flags name. */
  scope: Partial<Scope>;
  /** True when no filter flag was given. */
  empty: boolean;
  /** True when -w is the only filter flag (the kernel-side zone delete fast path applies). */
  zoneOnly: boolean;
}

/** Status bit names as conntrack prints them, plus UNREPLIED (SEEN_REPLY clear) for filters. */
export function parseStatus(v: string, forFilter: boolean): { names: string[]; bits: number } {
  const names = v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  if (!names.length) throw invalid('status', `${JSON.stringify(v)} names no status bit`);
  let bits = 0;
  for (const n of names) {
    if (n === 'UNREPLIED' && forFilter) continue;
    const b = (IPS as Record<string, number>)[n];
    if (b === undefined) {
      const known = [...Object.keys(IPS), ...(forFilter ? ['UNREPLIED'] : [])].join(', ');
      throw invalid('status', `${JSON.stringify(n)} is not a status bit: use ${known}`);
    }
    bits |= b;
  }
  return { names, bits };
}

export function filterFromFlags(o: Opts): FlagFilter {
  const config: Record<string, unknown> = {};
  const kernel: FlagFilter['kernel'] = {};
  const scope: Partial<Scope> = {};
  let family: Family | undefined;

  if (o.family !== undefined) {
    family = parseFamily(o.family);
    config.family = family;
    kernel.family = family;
    scope.families = [family];
  }
  if (o.proto !== undefined) {
    const p = parseProtocol(o.proto);
    config.proto = p.name;
    if ((SCOPE_PROTOCOLS as readonly string[]).includes(p.name)) scope.protocols = [p.name as ScopeProtocol];
    // icmp implies IPv4, icmpv6 implies IPv6, as conntrack does
    if (p.name === 'icmp' || p.name === 'icmpv6') {
      const f: Family = p.name === 'icmp' ? 'ipv4' : 'ipv6';
      if (family && family !== f) throw invalid('protocol', `${p.name} is ${f} but the family is ${family}`);
    }
  }
  // Addresses: all four must agree on the family (with -f when given).
  const addr = (key: 'src' | 'dst' | 'replySrc' | 'replyDst', cfg: string, what: string) => {
    const v = o[key];
    if (v === undefined) return;
    const c = parseCidr(v, family, what);
    family ??= c.family;
    config[cfg] = v.trim();
  };
  addr('src', 'src', 'source address');
  addr('dst', 'dst', 'destination address');
  addr('replySrc', 'reply_src', 'reply source address');
  addr('replyDst', 'reply_dst', 'reply destination address');
  if (family && config.family === undefined && (config.src || config.dst || config.reply_src || config.reply_dst)) {
    // conntrack derives the family from the addresses; so does the filter (IPv4 addresses never match IPv6 entries).
    config.family = family;
  }

  const port = (key: 'sport' | 'dport' | 'replySport' | 'replyDport', cfg: string, what: string) => {
    if (o[key] !== undefined) config[cfg] = parsePort(o[key], what);
  };
  port('sport', 'sport', 'source port');
  port('dport', 'dport', 'destination port');
  port('replySport', 'reply_sport', 'reply source port');
  port('replyDport', 'reply_dport', 'reply destination port');

  if (o.zone !== undefined) {
    const z = parseZone(o.zone);
    config.zone = z;
    kernel.zone = z;
    scope.zones = [{ from: z, to: z }];
  }
  // Directional zones are matched in the plugin only: the kernel's zone filter and the grant's
  // zone scope are about CTA_ZONE.
  if (o.origZone !== undefined) config.orig_zone = parseZone(o.origZone, 'orig-zone');
  if (o.replyZone !== undefined) config.reply_zone = parseZone(o.replyZone, 'reply-zone');
  if (o.mark !== undefined) {
    const { mark, mask } = parseMark(o.mark);
    config.mark = (mark & mask) >>> 0;
    config.mark_mask = mask;
    kernel.mark = (mark & mask) >>> 0;
    kernel.markMask = mask;
    scope.mark = { value: (mark & mask) >>> 0, mask };
  }
  if (o.state !== undefined) {
    parseTcpState(o.state);
    config.state = o.state.toUpperCase();
  }
  if (o.status !== undefined) config.status = parseStatus(o.status, true).names.join(',');
  if (o.label !== undefined) config.label = labelBits(parseLabels(o.label, 'label'));

  const given = Object.keys(config).filter((k) => k !== 'family' || o.family !== undefined);
  return {
    config, kernel, scope,
    empty: given.length === 0,
    zoneOnly: given.length === 1 && given[0] === 'zone',
  };
}
