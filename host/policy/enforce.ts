// Enforcement helpers: the checks the worker runs on every entry, dump, create and update.
// They work on the scanned scope fields (what the host's scanner re-derived from the bytes), never on anything
// the plugin claims about an entry.
import type { EventFilter } from '../conntrack/bpf.js';
import type { DumpFilter } from '../conntrack/conntrack.js';
import { FAMILIES, IPPROTO, MAX_ZONE, type Family } from '../conntrack/constants.js';
import type { ScopeFields as Scanned } from '../conntrack/scope.js';
import { SCOPE_PROTOCOLS, type Mark, type Scope, type ScopeProtocol, hex, zoneCount } from './capabilities.js';

/** Grants with at most this many zones are dumped zone by zone with a kernel filter each. */
export const MAX_PER_ZONE_DUMPS = 16;

type ScopeFields = Pick<Scanned, 'family' | 'protocol' | 'zone' | 'mark'>;

const familyName = new Map<number, Family>(Object.entries(FAMILIES).map(([k, v]) => [v, k as Family]));
const protocolName = new Map<number, ScopeProtocol>(SCOPE_PROTOCOLS.map((p) => [IPPROTO[p], p]));

function markOk(mark: number, m: Mark): boolean {
  return ((mark & m.mask) >>> 0) === m.value;
}

/**
 * A compiled scope: answers "is this entry inside?" in a few array lookups, because the worker asks
 * it once per entry of every dump. Narrowed copies add the restrictions of one DumpRequest.
 */
export class ScopeMatcher {
  private constructor(
    private readonly zones: Uint8Array | null, // index = zone; null: any zone
    private readonly families: number[] | null,
    private readonly protocols: number[] | null,
    private readonly marks: Mark[],
  ) {}

  static of(scope: Scope): ScopeMatcher {
    let zones: Uint8Array | null = null;
    if (scope.zones !== 'any') {
      zones = new Uint8Array(MAX_ZONE + 1);
      for (const r of scope.zones) zones.fill(1, r.from, r.to + 1);
    }
    return new ScopeMatcher(
      zones,
      scope.families === 'any' ? null : scope.families.map((f) => FAMILIES[f]),
      scope.protocols === 'any' ? null : scope.protocols.map((p) => IPPROTO[p]),
      scope.mark ? [scope.mark] : [],
    );
  }

  zoneOk(zone: number): boolean { return this.zones === null || this.zones[zone] === 1; }
  familyOk(family: number): boolean { return this.families === null || this.families.includes(family); }
  protocolOk(protocol: number): boolean { return this.protocols === null || this.protocols.includes(protocol); }
  markOk(mark: number): boolean { return this.marks.every((m) => markOk(mark, m)); }

  /** `s.zone` is the entry's zone by the scanner's zone rule (scope.ts entryZone), whatever its direction. */
  matches(s: ScopeFields): boolean {
    return this.zoneOk(s.zone) && this.familyOk(s.family) && this.protocolOk(s.protocol) && this.markOk(s.mark);
  }

  /** Why an entry is outside (for the log line that explains a refusal); null when inside. */
  why(s: ScopeFields): string | null {
    if (!this.zoneOk(s.zone)) return `zone ${s.zone} is outside the grant`;
    if (!this.familyOk(s.family)) return `family ${familyName.get(s.family) ?? s.family} is outside the grant`;
    if (!this.protocolOk(s.protocol)) return `protocol ${protocolName.get(s.protocol) ?? s.protocol} is outside the grant`;
    if (!this.markOk(s.mark)) return `mark ${hex(s.mark)} is outside the grant`;
    return null;
  }

  narrowed(req: { family?: number; protocol?: number; zone?: number; mark?: Mark }): ScopeMatcher {
    let zones = this.zones;
    if (req.zone !== undefined) {
      zones = new Uint8Array(MAX_ZONE + 1);
      zones[req.zone] = 1;
    }
    return new ScopeMatcher(
      zones,
      req.family ? [req.family] : this.families,
      req.protocol ? [req.protocol] : this.protocols,
      req.mark ? [...this.marks, req.mark] : this.marks,
    );
  }
}

/** A decoded ABI DumpRequest; 0 in family/protocol means any. */
export interface DumpRequest { family: number; protocol: number; zone?: number; mark?: Mark }

export type DumpPlan =
  | { ok: true; filters: DumpFilter[]; matcher: ScopeMatcher; kernelExact: boolean }
  | { ok: false; reason: string };

/**
 * Narrow a dump request to the grant. "All zones" becomes the grant's zones; anything explicit
 * outside the grant is refused. The kernel filters are an optimisation: every entry is still
 * re-checked with `matcher`. `kernelExact` says the filters alone select exactly the matcher's set
 * (used to decide whether a flush can be done by the kernel or must be dump + delete).
 */
export function planDump(req: DumpRequest, scope: Scope, base = ScopeMatcher.of(scope)): DumpPlan {
  if (req.family && !familyName.has(req.family)) return { ok: false, reason: `unknown family ${req.family}` };
  if (req.family && !base.familyOk(req.family)) return { ok: false, reason: `family ${familyName.get(req.family)} is outside the grant` };
  if (req.protocol && !base.protocolOk(req.protocol)) return { ok: false, reason: `protocol ${protocolName.get(req.protocol) ?? req.protocol} is outside the grant` };
  if (req.zone !== undefined && !base.zoneOk(req.zone)) return { ok: false, reason: `zone ${req.zone} is outside the grant` };

  let mark: Mark | undefined;
  let kernelExact = req.protocol === 0 && scope.protocols === 'any';
  const g = scope.mark, r = req.mark;
  if (r && g) {
    const both = r.mask & g.mask;
    if (((r.value ^ g.value) & both) !== 0) return { ok: false, reason: `mark ${hex(r.value)}/${hex(r.mask)} cannot match the grant's mark ${hex(g.value)}/${hex(g.mask)}` };
    mark = { value: ((r.value & r.mask) | (g.value & g.mask)) >>> 0, mask: (r.mask | g.mask) >>> 0 };
  } else mark = r ?? g ?? undefined;

  let family: Family | undefined;
  if (req.family) family = familyName.get(req.family);
  else if (scope.families !== 'any' && scope.families.length === 1) family = scope.families[0];

  let zones: (number | undefined)[];
  if (req.zone !== undefined) zones = [req.zone];
  else if (scope.zones === 'any') zones = [undefined];
  else if (zoneCount(scope.zones) <= MAX_PER_ZONE_DUMPS) zones = scope.zones.flatMap((z) => Array.from({ length: z.to - z.from + 1 }, (_, i) => z.from + i));
  else { zones = [undefined]; kernelExact = false; }

  const filters = zones.map((zone): DumpFilter => {
    const f: DumpFilter = {};
    if (family) f.family = family;
    if (zone !== undefined) f.zone = zone;
    if (mark) { f.mark = mark.value; f.markMask = mark.mask; }
    return f;
  });
  return { ok: true, filters, matcher: base.narrowed({ family: req.family, protocol: req.protocol, zone: req.zone, mark: r }), kernelExact };
}

/** The kernel-side (BPF) filter of an event subscription planned like a dump: family, zones, mark. */
export function eventFilter(plan: Extract<DumpPlan, { ok: true }>): EventFilter {
  const f = plan.filters[0];
  const zones = plan.filters.every((x) => x.zone !== undefined) ? plan.filters.map((x) => x.zone!) : undefined;
  return {
    families: f.family ? [FAMILIES[f.family]] : undefined,
    zones,
    mark: f.mark === undefined ? undefined : { value: f.mark, mask: f.markMask ?? 0xffffffff },
  };
}

/** null when an entry to be created is inside the grant, else the reason it is not. */
export function checkCreate(c: { family: number; protocol: number; zone?: number; mark?: number }, matcher: ScopeMatcher): string | null {
  return matcher.why({ family: c.family, protocol: c.protocol, zone: c.zone ?? 0, mark: c.mark ?? 0 });
}

/** A mark change an update asks for: by default the masked bits replace (v1); `xor`: conntrack -U's rule, (old & ~mask) ^ value. */
export interface MarkChange extends Mark {
  xor?: boolean;
}

/** The mark an update leaves: (old & ~mask) | (value & mask), or with `xor` (old & ~mask) ^ value. */
export function nextMark(old: number, c: MarkChange): number {
  return (c.xor ? (old & ~c.mask) ^ c.value : (old & ~c.mask) | (c.value & c.mask)) >>> 0;
}

/**
 * An update may only change the mark bits the grant lists (the mask; with xor also the value's
 * bits, which it toggles), and the entry must stay inside the grant's mark filter afterwards
 * (else a plugin could move entries out of its own reach or into another tenant's). Returns the
 * new mark, or the reason it is refused.
 */
export function checkMarkUpdate(oldMark: number, change: MarkChange, scope: Scope, matcher: ScopeMatcher): number | string {
  const allowed = scope.markBits ?? 0;
  const touched = (change.xor ? change.mask | change.value : change.mask) >>> 0;
  if ((touched & ~allowed) !== 0) return `mark bits ${hex(touched & ~allowed)} may not be changed (grant allows ${scope.markBits === null ? 'none' : hex(allowed)})`;
  const next = nextMark(oldMark, change);
  if (!matcher.markOk(next)) return `new mark ${hex(next)} would be outside the grant`;
  return next;
}
