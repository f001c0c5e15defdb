// The operator's policy: what each plugin (by manifest name) may do, with a default for the rest.
//   { "default": { "capabilities": {...}, "limits": {...} },
//     "plugins": { "zone-gc": { "capabilities": {...}, "limits": {...} } } }
// A plugin entry replaces the default's capabilities (no merging: what is written is what is allowed);
// limits are layered DEFAULT_LIMITS <- default.limits <- plugins[name].limits.
// One more section, "clients" (clients.ts): who may connect to the daemon and with what (uid:N ...),
// and what the fleet may ask of this host ("fleet", read by the fleet agent).
import { readFileSync } from 'node:fs';
import { PolicyError } from './errors.js';
import { type Capabilities, type CapabilitiesDocument, checkKeys, isObject, parseCapabilities } from './capabilities.js';
import { type ClientEntryDocument, type Clients, type FleetEntryDocument, type IdResolver, parseClients, systemIds } from './clients.js';
import { type Limits, DEFAULT_LIMITS, parseLimits } from './limits.js';
import { NAME_RE } from './manifest.js';
import { quoteText } from './untrusted-text.js';

export interface PolicyEntry { capabilities: Capabilities; limits: Partial<Limits> }
/** A parsed policy (parsePolicy / loadPolicy). */
export interface Policy { default: PolicyEntry | null; plugins: Record<string, PolicyEntry>; clients: Clients }

/** A policy as written (the JSON file, or an object given to Host / loadPlugin). */
export interface PolicyEntryDocument { capabilities: CapabilitiesDocument; limits?: Partial<Limits> }
export interface PolicyDocument {
  $comment?: string;
  default?: PolicyEntryDocument | null;
  plugins?: Record<string, PolicyEntryDocument>;
  /** Daemon clients by `uid:N`, `gid:N`, `user:NAME`, `group:NAME`, and the fleet's entry (clients.ts). */
  clients?: Record<string, ClientEntryDocument> & { fleet?: FleetEntryDocument };
}

/** What a plugin name is allowed under a policy; null when the policy says nothing about it. */
export interface Allowance { capabilities: Capabilities | null; limits: Limits; source: string }

function parseEntry(v: unknown, where: string, fail: (m: string) => never): PolicyEntry {
  if (!isObject(v)) fail(`${where} must be an object with "capabilities" and optional "limits"`);
  const e = v as Record<string, unknown>;
  checkKeys(e, ['capabilities', 'limits'], where, fail);
  return { capabilities: parseCapabilities(e.capabilities, `${where}.capabilities`, fail), limits: parseLimits(e.limits, `${where}.limits`, fail) };
}

/** Policies this module made: given again (Host passes its parsed policy to loadPlugin), taken as they are. */
const parsed = new WeakSet<object>();

export function parsePolicy(raw: unknown, source = 'policy', ids: IdResolver = systemIds): Policy {
  if (typeof raw === 'object' && raw !== null && parsed.has(raw)) return raw as Policy;
  const fail = (msg: string): never => { throw new PolicyError(`${source}: ${msg}`); };
  if (!isObject(raw)) fail('must be a JSON object with "default", "plugins" and/or "clients"');
  const p = raw as Record<string, unknown>;
  checkKeys(p, ['default', 'plugins', 'clients', '$comment'], 'top level', fail);
  const plugins: Record<string, PolicyEntry> = {};
  if (p.plugins !== undefined) {
    if (!isObject(p.plugins)) fail('"plugins" must be an object keyed by plugin name');
    for (const [name, e] of Object.entries(p.plugins as Record<string, unknown>)) {
      if (!NAME_RE.test(name)) fail(`plugins: ${quoteText(name)} is not a valid plugin name`);
      plugins[name] = parseEntry(e, `plugins.${name}`, fail);
    }
  }
  const clients = parseClients(p.clients, fail, ids);
  const policy: Policy = { default: p.default === undefined || p.default === null ? null : parseEntry(p.default, 'default', fail), plugins, clients };
  parsed.add(policy);
  return policy;
}

export function loadPolicy(path: string): Policy {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PolicyError(`policy ${path}: ${(e as Error).message}`);
  }
  return parsePolicy(raw, path);
}

export function allowanceFor(policy: Policy, plugin: string): Allowance {
  const own = policy.plugins[plugin];
  const entry = own ?? policy.default;
  return {
    capabilities: entry?.capabilities ?? null,
    limits: { ...DEFAULT_LIMITS, ...policy.default?.limits, ...own?.limits },
    source: own ? `policy entry "${plugin}"` : entry ? 'policy default' : 'policy',
  };
}
