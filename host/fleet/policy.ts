// What the fleet may do on this host: the `fleet` entry under `clients` in the LOCAL policy file.
//   { "clients": { "fleet": { "capabilities": { "operations": ["read","delete"], "scope": {"zones": "any"} },
//                             "netns": ["edge1"], "plugins": ["purge-remote", "sha256:<64 hex>"] } } }
// A fleet request runs a plugin named in `plugins` (a first-party name, or a module whose sha256 is
// pinned there, sent with the request) with grant = manifest ∩ this entry's capabilities, in the
// namespaces of `netns` ("." is the agent's own). Like a plugin entry, the fleet entry replaces the
// policy's default: what is written is what the fleet may do. Limits come from the policy's own
// layering (default.limits, plugins.NAME.limits). No entry: every fleet request is refused.
// The rest of the file is the ordinary local policy (parsePolicy); `clients.fleet` is taken out
// before it is parsed, so other client entries (the daemon's uid:N keys) are left to it.
import { readFileSync } from 'node:fs';
import { type Capabilities, checkKeys, isObject, parseCapabilities } from '../policy/capabilities.js';
import { PolicyError } from '../policy/errors.js';
import { NAME_RE } from '../policy/manifest.js';
import { parsePolicy, type Policy, type PolicyDocument } from '../policy/policy.js';
import { quoteText } from '../policy/untrusted-text.js';

/** The agent's own namespace in a `netns` list (the daemon's clients use the same spelling). */
export const OWN_NETNS = '.';
const NETNS_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const PIN_RE = /^sha256:[0-9a-f]{64}$/;

export interface FleetEntry {
  capabilities: Capabilities;
  netns: string[];
  /** First-party plugin names and `sha256:HEX` pins. */
  plugins: string[];
}

export interface FleetPolicy {
  /** The local policy without the fleet entry (the agent's own flowlog/events runs use it). */
  local: Policy;
  /** null: the fleet may do nothing here. */
  fleet: FleetEntry | null;
  source: string;
}

type Fail = (msg: string) => never;

function parseFleetEntry(v: unknown, where: string, fail: Fail): FleetEntry {
  if (!isObject(v)) fail(`${where} must be an object with "capabilities", "netns" and "plugins"`);
  checkKeys(v, ['capabilities', 'netns', 'plugins'], where, fail);
  let caps = v.capabilities;
  let netns = v.netns;
  // The example writes netns inside capabilities (as the daemon's client entries allow).
  if (isObject(caps) && 'netns' in caps) {
    if (netns !== undefined) fail(`${where}: "netns" is given twice (beside and inside "capabilities")`);
    const { netns: inner, ...rest } = caps;
    netns = inner;
    caps = rest;
  }
  const capabilities = parseCapabilities(caps, `${where}.capabilities`, fail);
  if (netns === undefined) netns = [OWN_NETNS];
  if (!Array.isArray(netns) || netns.length === 0) fail(`${where}.netns must be a non-empty list of \`ip netns\` names ("." is the agent's own namespace)`);
  for (const [i, n] of (netns as unknown[]).entries()) {
    if (typeof n !== 'string' || !NETNS_RE.test(n) || n === '..') fail(`${where}.netns[${i}]: ${quoteText(n)} is not a namespace name`);
  }
  const plugins = v.plugins;
  if (!Array.isArray(plugins)) fail(`${where}.plugins must be a list of plugin names or "sha256:HEX" pins (what the fleet may run here)`);
  for (const [i, p] of (plugins as unknown[]).entries()) {
    if (typeof p !== 'string' || !(NAME_RE.test(p) || PIN_RE.test(p))) fail(`${where}.plugins[${i}]: ${quoteText(p)} is neither a plugin name nor "sha256:" and 64 lowercase hex digits`);
  }
  return { capabilities, netns: [...new Set(netns as string[])], plugins: [...new Set(plugins as string[])] };
}

export function parseFleetPolicy(raw: unknown, source = 'policy'): FleetPolicy {
  const fail = (msg: string): never => { throw new PolicyError(`${source}: ${msg}`); };
  if (!isObject(raw)) fail('must be a JSON object');
  const { clients, ...rest } = raw as PolicyDocument & { clients?: unknown };
  let fleet: FleetEntry | null = null;
  let others: Record<string, unknown> | undefined;
  if (clients !== undefined) {
    if (!isObject(clients)) fail('"clients" must be an object keyed by client ("fleet", or the daemon\'s uid:N ...)');
    const { fleet: entry, ...more } = clients as Record<string, unknown>;
    if (entry !== undefined) fleet = parseFleetEntry(entry, 'clients.fleet', fail);
    if (Object.keys(more).length) others = more;
  }
  const local = parsePolicy(others ? { ...rest, clients: others } : rest, source);
  return { local, fleet, source };
}

export function loadFleetPolicy(path: string): FleetPolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PolicyError(`policy ${path}: ${(e as Error).message}`);
  }
  return parseFleetPolicy(raw, path);
}

/**
 * The policy a fleet run is checked against: the fleet entry for this plugin, the local limits
 * (a document: loadPlugin parses it again; the daemon's clients have no part in a plugin's grant).
 */
export function fleetRunPolicy(fp: FleetPolicy, plugin: string): PolicyDocument {
  const limits = { ...fp.local.default?.limits, ...fp.local.plugins[plugin]?.limits };
  return { default: null, plugins: { [plugin]: { capabilities: fp.fleet!.capabilities, limits } } };
}
