// conntrack-style filter flags -> (1) the plugin filter config (the keys of sdk/filters.json, as
// Filter.fromConfig reads them), (2) the kernel-side dump filter, (3) the scope the plugin is
// granted. Generic over the table's rows: each value kind has one converter here, and each
// converter validates through host/conntrack/validate.ts; nothing here re-decides what is valid.
import { invalid } from '../conntrack/errors.js';
import type { KernelFilter, TupleMatch } from '../conntrack/kernel-filter.js';
import { labelBits, parseLabels } from '../conntrack/labels.js';
import {
  parseAddress, parseCidr, parseFamily, parseMark, parseNatFilter, parseNetmask, parsePort, parseProtocol, parseState, parseStatus, parseU16, parseU32,
  parseU8, parseZone, type Family,
} from '../conntrack/validate.js';
import { IPPROTO } from '../conntrack/constants.js';
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

/** What the rows read so far established: the family (from -f or the first address), the protocol (-p). */
interface Context { family?: Family; protocol?: string }

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
    ctx.protocol = p.name;
    // a protocol without an extension (esp, 99) goes to the plugin as its number
    set(row, f, p.name in IPPROTO ? p.name : p.number);
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
  // a state of the -p protocol (TCP's without -p), as the SDK reads it
  state(text, row, f, ctx) {
    parseState(text, ctx.protocol ?? 'tcp');
    set(row, f, text.toUpperCase());
  },
  status(text, row, f) {
    const { names } = parseStatus(text, true);
    if (names.length) set(row, f, names.join(',')); // -u UNSET names no bit: no filter
  },
  label: (text, row, f) => set(row, f, labelBits(parseLabels(text, what(row)))),
  // -n/-g/-j alone: any such NAT (true); with ADDR[:PORT]: NAT to that address (and port)
  nat(text, row, f, ctx) {
    if (text === '') return set(row, f, true);
    const t = parseNatFilter(text, ctx.family, what(row));
    ctx.family ??= t.family;
    set(row, f, t.text);
  },
};

const FAMILY = FLAG_ROWS.find((r) => r.kind === 'family')!;
const PROTOCOL_KEY = FLAG_ROWS.find((r) => r.kind === 'protocol')!.key;
/** The zone whose filter the kernel applies (CTA_ZONE): alone, it is the zone fast path. */
const ZONE_KEY = FLAG_ROWS.find((r) => r.kind === 'zone' && r.kernel)!.key;
const flagName = (row: FilterRow) => (row.cli?.short ? `-${row.cli.short}/--${row.cli.long[0]}` : `--${row.cli?.long[0]}`);

/** conntrack's --mask-src/--mask-dst: the netmask of -s/-d, folded into that address as its prefix length. */
const NETMASKS = [{ mask: 'maskSrc', addr: 'src', flag: '--mask-src', of: '-s/--src' }, { mask: 'maskDst', addr: 'dst', flag: '--mask-dst', of: '-d/--dst' }] as const;

function withNetmasks(o: Opts): Opts {
  if (o.maskSrc === undefined && o.maskDst === undefined) return o;
  const out: Opts = { ...o };
  for (const n of NETMASKS) {
    const mask = o[n.mask];
    if (mask === undefined) continue;
    delete out[n.mask];
    const addr = o[n.addr];
    if (addr === undefined) throw invalid(n.flag.slice(2), `${n.flag} is the netmask of ${n.of}: give the address too (conntrack: "Can't use ${n.flag} without ${n.of.split('/')[1]}")`);
    const bare = addr.trim().replace(/\/.*/, ''); // the mask replaces a prefix given with the address, as in conntrack
    const a = parseAddress(bare, undefined, n.flag.slice(2));
    out[n.addr] = `${bare}/${parseNetmask(mask, a.family, n.flag.slice(2)).prefix}`;
  }
  return out;
}

/** The filter flags in `o` (validated, every value by its kind) as plugin config, kernel filter and grant scope. */
export function filterFromFlags(flags: Opts): FlagFilter {
  const o = withNetmasks(flags);
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
  for (const row of FLAG_ROWS) {
    const other = row.excludes?.find((k) => f.config[k] !== undefined);
    if (other && f.config[row.key] !== undefined) {
      throw invalid(what(row), `${flagName(row)} cannot be combined with ${flagName(FLAG_ROWS.find((r) => r.key === other)!)}`);
    }
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
