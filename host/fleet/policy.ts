// What the fleet may do on this host: the `fleet` entry under `clients` in the LOCAL policy file,
// parsed and validated with the rest of it by the one policy parser (host/policy/clients.ts).
//   { "clients": { "fleet": { "capabilities": { "operations": ["read","delete"], "scope": {"zones": "any"} },
//                             "netns": ["edge1"], "plugins": ["purge-remote", "sha256:<64 hex>"] } } }
// A fleet request runs a plugin named in `plugins` (a first-party name, or a module whose sha256 is
// pinned there, sent with the request) with grant = manifest ∩ this entry's capabilities, in the
// namespaces of `netns` ("." is the agent's own). Like a plugin entry, the fleet entry replaces the
// policy's default: what is written is what the fleet may do. Limits come from the policy's own
// layering (default.limits, plugins.NAME.limits). No entry: every fleet request is refused.
// An agent that is a daemon client is bounded by the daemon's entry for its uid as well.
import type { FleetEntry } from '../policy/clients.js';
import { loadPolicy, parsePolicy, type Policy, type PolicyDocument } from '../policy/policy.js';

export { OWN_NETNS } from '../policy/clients.js';
export type { FleetEntry } from '../policy/clients.js';

export interface FleetPolicy {
  /** The local policy (the agent's own flowlog/events runs use it). */
  local: Policy;
  /** null: the fleet may do nothing here. */
  fleet: FleetEntry | null;
  source: string;
}

const fleetPolicy = (local: Policy, source: string): FleetPolicy => ({ local, fleet: local.clients.fleet, source });

export function parseFleetPolicy(raw: unknown, source = 'policy'): FleetPolicy {
  return fleetPolicy(parsePolicy(raw, source), source);
}

export function loadFleetPolicy(path: string): FleetPolicy {
  return fleetPolicy(loadPolicy(path), path);
}

/**
 * The policy a fleet run is checked against: the fleet entry for this plugin, the local limits
 * (a document: loadPlugin parses it again; the daemon's clients have no part in a plugin's grant).
 */
export function fleetRunPolicy(fp: FleetPolicy, plugin: string): PolicyDocument {
  const limits = { ...fp.local.default?.limits, ...fp.local.plugins[plugin]?.limits };
  return { default: null, plugins: { [plugin]: { capabilities: fp.fleet!.capabilities, limits } } };
}
