// The daemon's clients in the operator policy: who may connect to `ctplug daemon`, and with what.
//   "clients": { "uid:65534": { "capabilities": {...}, "netns": ["edge1"] },
//                "group:ctops": { "capabilities": {...}, "netns": [".", "edge1"] } }
// A client is who the kernel says it is (SO_PEERCRED: uid, gid; SO_PEERGROUPS: its groups), never
// what it says. Which entry applies (clientEntryFor), in this order:
//   1. the entry of its uid: `uid:N`, or `user:NAME` naming that uid (both for one uid: a policy error);
//   2. else the first group entry, in the file's order, naming its gid or one of its groups
//      (`gid:N`, `group:NAME`);
//   3. else none: the connection is refused.
// Names are resolved to ids once, when the policy is loaded (getent: /etc/passwd, /etc/group, NSS);
// a name that does not resolve is a policy error, not an entry that silently matches nobody.
// `netns` lists the `ip netns` names the client may open its session in; "." is the daemon's own
// namespace (not a valid `ip netns` name). Absent: ["."].
// One more key, `fleet`, is not a connecting client but what the fleet (NATS requests, host/fleet/)
// may ask of this host: `capabilities` and `netns` as above, plus `plugins`, the first-party names
// and `sha256:<64 hex>` pins it may run. The fleet agent reaches conntrack directly (root) or as a
// daemon client; then the daemon's entry for the agent's uid bounds it too (both must allow).
import { spawnSync } from 'node:child_process';
import { type Capabilities, checkKeys, isObject, parseCapabilities, type CapabilitiesDocument } from './capabilities.js';
import { NAME_RE as PLUGIN_NAME_RE } from './manifest.js';
import { quoteText } from './untrusted-text.js';

export interface ClientEntry {
  /** The key as written (`uid:65534`), for logs and refusals. */
  key: string;
  capabilities: Capabilities;
  netns: string[];
}

export interface ClientEntryDocument { capabilities: CapabilitiesDocument; netns?: string[] }

/** `clients.fleet`: what fleet requests may do here. */
export interface FleetEntry {
  capabilities: Capabilities;
  netns: string[];
  /** First-party plugin names and `sha256:HEX` pins. */
  plugins: string[];
}

export interface FleetEntryDocument extends ClientEntryDocument { plugins: string[] }

/** The `clients` section, parsed and with names resolved: by uid, the group entries in order, the fleet's. */
export interface Clients {
  byUid: Map<number, ClientEntry>;
  groups: { gid: number; entry: ClientEntry }[];
  /** null: the fleet may do nothing here. */
  fleet: FleetEntry | null;
}

/** Who is at the other end of a connection, as the kernel reports it. */
export interface PeerCredentials { pid: number; uid: number; gid: number; groups: number[] }

/** Names to ids (getent, so NSS sources count too); undefined: no such name. */
export interface IdResolver { uid(name: string): number | undefined; gid(name: string): number | undefined }

function getent(db: 'passwd' | 'group', name: string): number | undefined {
  const r = spawnSync('getent', [db, name], { encoding: 'utf8' });
  const id = r.status === 0 ? Number(r.stdout.split(':')[2]) : NaN;
  return Number.isInteger(id) ? id : undefined;
}

export const systemIds: IdResolver = { uid: (n) => getent('passwd', n), gid: (n) => getent('group', n) };

const KEY_RE = /^(uid|gid|user|group):(.+)$/;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;
const NETNS_RE = /^[A-Za-z0-9_.-]+$/;
const PIN_RE = /^sha256:[0-9a-f]{64}$/;
/** The key of the fleet's entry. */
export const FLEET_KEY = 'fleet';
/** The daemon's own network namespace in a client's `netns` list. */
export const OWN_NETNS = '.';

type Fail = (msg: string) => never;

function parseNetns(v: unknown, where: string, fail: Fail): string[] {
  if (v === undefined) return [OWN_NETNS];
  if (!Array.isArray(v) || v.length === 0) fail(`${where} must be a non-empty list of \`ip netns\` names ("." is the daemon's own namespace)`);
  for (const [i, n] of (v as unknown[]).entries()) {
    if (typeof n !== 'string' || !NETNS_RE.test(n) || n === '..') fail(`${where}[${i}]: ${quoteText(n)} is not a namespace name`);
  }
  return [...new Set(v as string[])];
}

function parseEntry(key: string, v: unknown, where: string, fail: Fail, extra: string[] = []): ClientEntry {
  if (!isObject(v)) fail(`${where} must be an object with "capabilities"${extra.map((k) => `, "${k}"`).join('')} and optional "netns"`);
  checkKeys(v, ['capabilities', 'netns', ...extra], where, fail);
  // The issue's example writes netns inside capabilities; either place, not both.
  let caps = v.capabilities;
  let netns = v.netns;
  if (isObject(caps) && 'netns' in caps) {
    if (netns !== undefined) fail(`${where}: "netns" is given twice (beside and inside "capabilities")`);
    const { netns: inner, ...rest } = caps;
    netns = inner;
    caps = rest;
  }
  return { key, capabilities: parseCapabilities(caps, `${where}.capabilities`, fail), netns: parseNetns(netns, `${where}.netns`, fail) };
}

function parseFleetEntry(v: unknown, fail: Fail): FleetEntry {
  const where = `clients.${FLEET_KEY}`;
  const e = parseEntry(FLEET_KEY, v, where, fail, ['plugins']);
  const plugins = (v as Record<string, unknown>).plugins;
  if (!Array.isArray(plugins)) fail(`${where}.plugins must be a list of plugin names or "sha256:HEX" pins (what the fleet may run here)`);
  for (const [i, p] of (plugins as unknown[]).entries()) {
    if (typeof p !== 'string' || !(PLUGIN_NAME_RE.test(p) || PIN_RE.test(p))) fail(`${where}.plugins[${i}]: ${quoteText(p)} is neither a plugin name nor "sha256:" and 64 lowercase hex digits`);
  }
  return { capabilities: e.capabilities, netns: e.netns, plugins: [...new Set(plugins as string[])] };
}

export function parseClients(v: unknown, fail: Fail, ids: IdResolver = systemIds): Clients {
  const clients: Clients = { byUid: new Map(), groups: [], fleet: null };
  if (v === undefined) return clients;
  if (!isObject(v)) fail('"clients" must be an object keyed by uid:N, gid:N, user:NAME, group:NAME or "fleet"');
  for (const [key, e] of Object.entries(v)) {
    if (key === FLEET_KEY) {
      clients.fleet = parseFleetEntry(e, fail);
      continue;
    }
    const where = `clients.${quoteText(key)}`;
    const m = KEY_RE.exec(key);
    if (!m) fail(`${where}: a client key is uid:N, gid:N, user:NAME, group:NAME or "fleet"`);
    const [, kind, value] = m!;
    let id: number | undefined;
    if (kind === 'uid' || kind === 'gid') {
      if (!/^\d{1,10}$/.test(value) || Number(value) > 0xfffffffe) fail(`${where}: ${quoteText(value)} is not a numeric ${kind}`);
      id = Number(value);
    } else {
      if (!NAME_RE.test(value)) fail(`${where}: ${quoteText(value)} is not a ${kind} name`);
      id = kind === 'user' ? ids.uid(value) : ids.gid(value);
      if (id === undefined) fail(`${where}: no ${kind} named ${quoteText(value)} on this system`);
    }
    const entry = parseEntry(key, e, where, fail);
    if (kind === 'uid' || kind === 'user') {
      const other = clients.byUid.get(id!);
      if (other) fail(`${where}: uid ${id} already has the entry ${quoteText(other.key)}; one entry per uid`);
      clients.byUid.set(id!, entry);
    } else clients.groups.push({ gid: id!, entry });
  }
  return clients;
}

/** The entry that applies to a peer (see the rules at the top), or undefined: refused. */
export function clientEntryFor(clients: Clients, peer: PeerCredentials): ClientEntry | undefined {
  const own = clients.byUid.get(peer.uid);
  if (own) return own;
  const groups = new Set([peer.gid, ...peer.groups]);
  return clients.groups.find((g) => groups.has(g.gid))?.entry;
}

/**
 * Whether any connecting client's entry names a namespace other than the daemon's own (then setns
 * needs CAP_SYS_ADMIN). The fleet entry does not count: the daemon serves the agent by its uid's entry.
 */
export function namesOtherNetns(clients: Clients): boolean {
  const entries = [...clients.byUid.values(), ...clients.groups.map((g) => g.entry)];
  return entries.some((e) => e.netns.some((n) => n !== OWN_NETNS));
}
