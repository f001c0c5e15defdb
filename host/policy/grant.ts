// grant = manifest ∩ policy. Over-asking is an error at load time that names the plugin, what it
// asked and what the policy allows; the plugin never silently gets less than it declared.
// The one place the intersection is not a plain subset check is "any" (and mark: null) in the
// manifest: that means "the plugin does not restrict itself", so it receives the policy's scope.
import { GrantError } from './errors.js';
import { type Capabilities, type Mark, type Operation, type Scope, type ZoneRange, formatZones, hex } from './capabilities.js';
import type { Limits } from './limits.js';
import { LIMIT_KEYS } from './limits.js';
import type { Manifest } from './manifest.js';
import { type Policy, allowanceFor } from './policy.js';

/** Plain data (structured-cloneable) so it can be handed to the worker as is. */
export interface Grant {
  plugin: string;
  operations: Operation[];
  scope: Scope;
  limits: Limits;
}

function zonesWithin(asked: ZoneRange[], allowed: ZoneRange[] | 'any'): boolean {
  if (allowed === 'any') return true;
  return asked.every((a) => allowed.some((r) => r.from <= a.from && a.to <= r.to));
}

function list(v: readonly string[] | 'any'): string {
  return v === 'any' ? 'any' : `[${v.join(', ')}]`;
}

function fmtMark(m: Mark | null): string {
  return m ? `${hex(m.value)}/${hex(m.mask)}` : 'any';
}

/**
 * What `ask` receives within `allowed`, or the problems where it asks for more (each names the
 * key, what was asked and what is allowed). Plugins (manifest within policy) and daemon clients
 * (the channel a client opens within its policy entry) are granted by this same rule.
 */
export function withinCapabilities(ask: Capabilities, allowed: Capabilities): { capabilities: Capabilities; problems: string[] } {
  const problems: string[] = [];

  const extraOps = ask.operations.filter((op) => !allowed.operations.includes(op));
  if (extraOps.length) problems.push(`operations: asks ${list(ask.operations)}, allows ${list(allowed.operations)}`);

  const a = ask.scope, p = allowed.scope;
  let zones = a.zones;
  if (zones === 'any') zones = p.zones;
  else if (!zonesWithin(zones, p.zones)) problems.push(`zones: asks ${formatZones(a.zones)}, allows ${formatZones(p.zones)}`);

  const names = <T extends string>(key: string, asked: T[] | 'any', may: T[] | 'any'): T[] | 'any' => {
    if (asked === 'any') return may;
    if (may !== 'any' && asked.some((x) => !may.includes(x))) problems.push(`${key}: asks ${list(asked)}, allows ${list(may)}`);
    return asked;
  };
  const families = names('families', a.families, p.families);
  const protocols = names('protocols', a.protocols, p.protocols);

  // The asker's mark filter must be at least as strict as the allowed one: it must test every bit
  // the allowed one tests, with the same values.
  if (a.mark && p.mark && ((p.mark.mask & ~a.mark.mask) !== 0 || ((a.mark.value & p.mark.mask) >>> 0) !== p.mark.value)) {
    problems.push(`mark: asks ${fmtMark(a.mark)}, allows ${fmtMark(p.mark)}`);
  }
  const mark = a.mark ?? p.mark;

  const askBits = a.markBits ?? 0, mayBits = p.markBits ?? 0;
  if ((askBits & ~mayBits) !== 0) problems.push(`markBits: asks ${hex(askBits)}, allows ${p.markBits === null ? 'none' : hex(mayBits)}`);
  return { capabilities: { operations: ask.operations, scope: { zones, families, protocols, mark, markBits: a.markBits } }, problems };
}

/** `extraLimits` are the embedder's caps on top of the policy (e.g. a CLI flag). */
export function computeGrant(manifest: Manifest, policy: Policy, extraLimits: Partial<Limits> = {}): Grant {
  const name = manifest.name;
  const allowance = allowanceFor(policy, name);
  const allowed: Capabilities | null = allowance.capabilities;
  if (!allowed) {
    throw new GrantError(name, `plugin "${name}" is not listed in the policy and the policy has no default: nothing is allowed`);
  }
  const { capabilities, problems } = withinCapabilities(manifest.capabilities, allowed);

  const limits = { ...allowance.limits };
  for (const k of LIMIT_KEYS) {
    const cap = Math.min(allowance.limits[k], extraLimits[k] ?? Infinity);
    const want = manifest.limits[k];
    if (want !== undefined && want > cap) problems.push(`limits.${k}: asks ${want}, allows at most ${cap}`);
    limits[k] = want ?? cap;
  }

  if (problems.length) {
    throw new GrantError(name, `plugin "${name}" asks for more than the ${allowance.source} allows: ${problems.join('; ')}`);
  }
  return { plugin: name, ...capabilities, limits };
}
