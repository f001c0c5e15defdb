// conntrack-style filter flags -> (1) the plugin filter config (the keys of sdk/filters.json, as
// Filter.fromConfig reads them), (2) the kernel-side dump filter, (3) the scope the plugin is
// granted. Generic over the table's rows: each value kind has one converter here, and each
// converter validates through host/conntrack/validate.ts; nothing here re-decides what is valid.
import { invalid } from '../conntrack/errors.js';
import type { KernelFilter, TupleMatch } from '../conntrack/kernel-filter.js';
import { labelBits, parseLabels } from '../conntrack/labels.js';
import {
  parseCidr, parseFamily, parseMark, parsePort, parseProtocol, parseStatus, parseTcpState, parseU16, parseU32, parseU8, parseZone,
  type Family,
} from '../conntrack/validate.js';
import { SCOPE_PROTOCOLS, type Scope, type ScopeProtocol } from '../policy/capabilities.js';
import type { Opts } from './args.js';
import { FILTER_ROWS, FLAG_ROWS, type FilterRow, type Kind } from './filter-table.js';

export interface FlagFilter {
  /** Keys for Filter.fromConfig in the SDK (list, match, stale, events). */
  config: Record<string, unknown>;
  /**
   * What the kernel can filter on: family, zone and mark (dumps and filtered flushes), and the
   * exact original-tuple fields (dumps only; kernel-filter.ts plans what the kernel is sent).
   */
  kernel: KernelFilter;
  /** The scope to grant: zone, family, protocol and mark are narrowed to what the flags name. */
  scope: Partial<Scope>;
  /** True when no filter flag was given. */
  empty: boolean;
  /** True when -w is the only filter flag (the kernel-side zone delete fast path applies). */
  zoneOnly: boolean;
}

/** What the rows read so far established: the family (from -f or the first address). */
interface Context { family?: Family }

/** One flag value of a kind -> config (and, where the row says so, kernel filter and scope). */
type Convert = (text: string, row: FilterRow, f: FlagFilter, ctx: Context) => void;

const what = (row: FilterRow) => row.cli?.what ?? row.cli?.long[0] ?? row.key;
const set = (row: FilterRow, f: FlagFilter, value: unknown) => void (f.config[row.key] = value);
const scopeProtocol = (name: string): name is ScopeProtocol => (SCOPE_PROTOCOLS as readonly string[]).includes(name);
/** An exact original-tuple field (rows with "tuple"): the dumps are narrowed to it in the kernel. */
function exact(row: FilterRow, f: FlagFilter, value: number | Uint8Array): void {
  if (row.tuple) ((f.kernel.tuple ??= {}) as Record<keyof TupleMatch, unknown>)[row.tuple] = value;
}

const CONVERT: Record<Kind, Convert> = {
  family(text, row, f, ctx) {
    const family = parseFamily(text);
    ctx.family = family;
    set(row, f, family);
    if (row.kernel) f.kernel.family = family;
    if (row.scope) f.scope.families = [family];
  },
  protocol(text, row, f, ctx) {
    const p = parseProtocol(text);
    set(row, f, p.name);
    exact(row, f, p.number);
    if (row.scope && scopeProtocol(p.name)) f.scope.protocols = [p.name];
    // icmp implies IPv4, icmpv6 implies IPv6, as conntrack does
    if (p.name === 'icmp' || p.name === 'icmpv6') {
      const implied: Family = p.name === 'icmp' ? 'ipv4' : 'ipv6';
      if (ctx.family && ctx.family !== implied) throw invalid('protocol', `${p.name} is ${implied} but the family is ${ctx.family}`);
    }
  },
  cidr(text, row, f, ctx) {
    // All addresses agree on the family (with -f when given).
    const c = parseCidr(text, ctx.family, what(row));
    ctx.family ??= c.family;
    set(row, f, text.trim());
    if (c.prefix === c.bytes.length * 8) exact(row, f, c.bytes);
  },
  port(text, row, f) {
    const port = parsePort(text, what(row));
    set(row, f, port);
    exact(row, f, port);
  },
  zone(text, row, f) {
    const z = parseZone(text, what(row));
    set(row, f, z);
    if (row.kernel) f.kernel.zone = z;
    if (row.scope) f.scope.zones = [{ from: z, to: z }];
  },
  u8: (text, row, f) => set(row, f, parseU8(text, what(row))),
  u16: (text, row, f) => set(row, f, parseU16(text, what(row))),
  u32: (text, row, f) => set(row, f, parseU32(text, what(row))),
  mask: (text, row, f) => set(row, f, parseU32(text, what(row))),
  seconds: (text, row, f) => set(row, f, parseU32(text, what(row))),
  mark(text, row, f) {
    const { mark, mask } = parseMark(text);
    const value = (mark & mask) >>> 0;
    set(row, f, value);
    for (const c of FILTER_ROWS) if (c.with === row.key) f.config[c.key] = mask;
    if (row.kernel) { f.kernel.mark = value; f.kernel.markMask = mask; }
    if (row.scope) f.scope.mark = { value, mask };
  },
  'tcp-state'(text, row, f) {
    parseTcpState(text);
    set(row, f, text.toUpperCase());
  },
  status: (text, row, f) => set(row, f, parseStatus(text, true).names.join(',')),
  label: (text, row, f) => set(row, f, labelBits(parseLabels(text, what(row)))),
};

const FAMILY = FLAG_ROWS.find((r) => r.kind === 'family')!;
const PROTOCOL_KEY = FLAG_ROWS.find((r) => r.kind === 'protocol')!.key;
/** The zone whose filter the kernel applies (CTA_ZONE): alone, it is the zone fast path. */
const ZONE_KEY = FLAG_ROWS.find((r) => r.kind === 'zone' && r.kernel)!.key;
const flagName = (row: FilterRow) => (row.cli?.short ? `-${row.cli.short}/--${row.cli.long[0]}` : `--${row.cli?.long[0]}`);

/** The filter flags in `o` (validated, every value by its kind) as plugin config, kernel filter and grant scope. */
export function filterFromFlags(o: Opts): FlagFilter {
  const f: FlagFilter = { config: {}, kernel: {}, scope: {}, empty: true, zoneOnly: false };
  const ctx: Context = {};
  for (const row of FLAG_ROWS) {
    const text = o[row.opt];
    if (text !== undefined) CONVERT[row.kind](text, row, f, ctx);
  }
  // conntrack derives the family from the addresses; so does the filter (IPv4 addresses never match IPv6 entries).
  if (ctx.family && f.config[FAMILY.key] === undefined && FLAG_ROWS.some((r) => r.kind === 'cidr' && f.config[r.key] !== undefined)) {
    f.config[FAMILY.key] = ctx.family;
  }
  // A protocol's own fields (--icmp-type, ...) filter its entries only: conntrack knows them after -p.
  for (const row of FLAG_ROWS) {
    if (!row.protocols || f.config[row.key] === undefined || row.protocols.includes(f.config[PROTOCOL_KEY] as string)) continue;
    throw invalid(what(row), `${flagName(row)} filters ${row.protocols.join(' and ')} entries: give ${row.protocols.map((p) => `-p ${p}`).join(' or ')}`);
  }
  const given = Object.keys(f.config).filter((k) => k !== FAMILY.key || o[FAMILY.opt] !== undefined);
  f.empty = given.length === 0;
  f.zoneOnly = given.length === 1 && given[0] === ZONE_KEY;
  return f;
}
