// What the agent does with a fleet request. The request says what it wants; the LOCAL policy's
// `clients.fleet` entry (fleet/policy.ts) decides: a plugin outside `plugins`, a namespace outside
// `netns`, or an operation the entry does not grant is REFUSED by this host, and the reply says so.
// Nothing in a request widens the grant: it names a plugin, a config, optionally fewer namespaces.
// An agent that is a client of `ctplug daemon` is bounded by the daemon's entry for its uid too: what
// the daemon refuses (an operation, a zone, a namespace beyond that entry) is refused here as well.
//   run    { plugin: "purge-remote" | "sha256:HEX", module?: { manifest, wasm: BASE64 }, config, netns?: [..], timeout_ms? }
//   count  { netns?: [..] }                 entries in the fleet's read scope, by zone
//   stats  {}                               the agent: publishing, runs, kernel counters where granted
// Replies are per host: { host, op, status: "ok" | "refused" | "failed", ... }.
import { builtinPlugin, BUILTIN } from '../builtin.js';
import type { Conntrack } from '../conntrack/conntrack.js';
import { CtError } from '../conntrack/errors.js';
import { GrantError, ManifestError, PluginError, PolicyError } from '../policy/errors.js';
import type { Operation } from '../policy/capabilities.js';
import { escapeText } from '../policy/untrusted-text.js';
import { PluginTimeoutError } from '../runtime/errors.js';
import type { Host, HostOptions } from '../runtime/host.js';
import { sha256 } from '../runtime/module-check.js';
import type { Plugin, PluginSource } from '../runtime/plugin.js';
import type { RunStats } from '../runtime/protocol.js';
import { takeCensus } from '../metrics/census.js';
import type { AgentMetrics } from '../metrics/metrics.js';
import { fleetRunPolicy, OWN_NETNS, type FleetPolicy } from './policy.js';
import type { ServiceOp } from './subjects.js';

/** How the agent reaches conntrack: directly (root) or through the daemon; the rest is the same. */
export interface ConntrackAccess {
  host(opts: Omit<HostOptions, 'netns'> & { netns?: string }): Host;
  /** A table to dump (census, count): a Conntrack, or a RemoteConntrack through the daemon. */
  conntrack(netns?: string): Promise<Pick<Conntrack, 'dump' | 'close'>>;
}

/** The daemon refused (its policy's entry for the agent's uid): this host refuses, as for its own policy. */
const refusedByDaemon = (e: unknown): e is CtError => e instanceof CtError && e.op === 'daemon' && e.kind === 'privilege';

export interface ServiceContext {
  name: string;
  policy: FleetPolicy;
  access: ConntrackAccess;
  metrics: AgentMetrics;
  stats: () => Record<string, unknown>;
}

export type Status = 'ok' | 'refused' | 'failed';
export interface FleetReply { host: string; op: ServiceOp; status: Status; reason?: string; [k: string]: unknown }

/** A request's body is at most this big (a pinned module travels in it). */
export const MAX_REQUEST_BYTES = 1024 * 1024;
const MAX_OUTPUT_BYTES = 64 * 1024;
const DEFAULT_RUN_TIMEOUT_MS = 30_000;

class Refusal extends Error {}
const refuse = (why: string): never => { throw new Refusal(why); };

const ns = (n: string) => (n === OWN_NETNS ? undefined : n);

function parseRequest(data: Uint8Array): Record<string, unknown> {
  if (data.length > MAX_REQUEST_BYTES) throw new Error(`request of ${data.length} bytes is over ${MAX_REQUEST_BYTES}`);
  if (!data.length) return {};
  const v = JSON.parse(new TextDecoder().decode(data));
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('a request is a JSON object');
  return v as Record<string, unknown>;
}

function namespaces(ctx: ServiceContext, asked: unknown): string[] {
  const allowed = ctx.policy.fleet!.netns;
  if (asked === undefined) return allowed;
  if (!Array.isArray(asked) || !asked.length || asked.some((n) => typeof n !== 'string')) throw new Error('"netns" must be a non-empty list of names');
  for (const n of asked as string[]) if (!allowed.includes(n)) refuse(`namespace ${JSON.stringify(escapeText(n))} is not in this host's clients.fleet.netns`);
  return asked as string[];
}

function needs(ctx: ServiceContext, op: Operation): void {
  if (!ctx.policy.fleet!.capabilities.operations.includes(op)) refuse(`this host's clients.fleet entry does not grant "${op}"`);
}

/** The plugin a run asks for, if this host's fleet entry lists it (by name or by its module's sha256). */
function pluginSource(ctx: ServiceContext, req: Record<string, unknown>): PluginSource {
  const listed = ctx.policy.fleet!.plugins;
  const p = req.plugin;
  if (typeof p !== 'string' || !p) throw new Error('"plugin" must be a first-party plugin name or "sha256:HEX"');
  if (p.startsWith('sha256:')) {
    if (!listed.includes(p)) refuse(`plugin ${escapeText(p)} is not pinned in this host's clients.fleet.plugins`);
    const m = req.module as { manifest?: unknown; wasm?: unknown } | undefined;
    if (!m || typeof m.wasm !== 'string' || typeof m.manifest !== 'object' || m.manifest === null) throw new Error('a pinned plugin is sent as "module": { "manifest": {...}, "wasm": BASE64 }');
    const wasm = new Uint8Array(Buffer.from(m.wasm, 'base64'));
    if (`sha256:${sha256(wasm)}` !== p) refuse(`the module sent does not have the sha256 ${escapeText(p)} it is pinned by`);
    return { manifest: { ...(m.manifest as object), sha256: p.slice(7) } as never, wasm };
  }
  if (!listed.includes(p)) refuse(`plugin ${JSON.stringify(escapeText(p))} is not in this host's clients.fleet.plugins`);
  if (!(BUILTIN as readonly string[]).includes(p)) refuse(`plugin ${JSON.stringify(escapeText(p))} is not a first-party plugin; pin a module with "sha256:HEX"`);
  return builtinPlugin(p);
}

const SUMMED: (keyof RunStats)[] = ['entries', 'deleted', 'gone', 'failed', 'changed', 'created', 'updated', 'flushes', 'refused'];

async function run(ctx: ServiceContext, req: Record<string, unknown>): Promise<Omit<FleetReply, 'host' | 'op' | 'status'>> {
  const src = pluginSource(ctx, req);
  const nss = namespaces(ctx, req.netns);
  const timeout = req.timeout_ms === undefined ? DEFAULT_RUN_TIMEOUT_MS : Number(req.timeout_ms);
  if (!Number.isInteger(timeout) || timeout <= 0 || timeout > 600_000) throw new Error('"timeout_ms" must be 1..600000');
  const name = typeof src === 'string' ? (req.plugin as string) : String((src.manifest as { name?: unknown }).name ?? 'plugin');
  const signal = AbortSignal.timeout(timeout);
  const results: Record<string, unknown>[] = [];
  const total: Record<string, number> = Object.fromEntries(SUMMED.map((k) => [k, 0]));
  // Checked and loaded in every namespace before it runs in any: a namespace this host (or the
  // daemon) refuses is found before anything was deleted elsewhere.
  const loaded: { n: string; host: Host; plugin: Plugin }[] = [];
  try {
    for (const n of nss) {
      const host = ctx.access.host({ policy: fleetRunPolicy(ctx.policy, name), netns: ns(n) });
      loaded.push({ n, host, plugin: await host.load(src, { config: req.config ?? {} }).catch(async (e) => { await host.close(); throw e; }) });
    }
  } catch (e) {
    await Promise.all(loaded.map((l) => l.host.close()));
    if (e instanceof GrantError || e instanceof PolicyError || e instanceof ManifestError || refusedByDaemon(e)) {
      ctx.metrics.run(name, 'refused');
      refuse((e as Error).message);
    }
    ctx.metrics.run(name, 'failed');
    throw e;
  }
  try {
    for (const { n, plugin } of loaded) {
      const chunks: Uint8Array[] = [];
      let kept = 0;
      try {
        const r = await plugin.run({
          signal,
          onOutput: (b, release) => { if (kept < MAX_OUTPUT_BYTES) { chunks.push(b.slice(0, MAX_OUTPUT_BYTES - kept)); kept += Math.min(b.length, MAX_OUTPUT_BYTES - kept); } release(); },
        });
        ctx.metrics.run(name, 'ok');
        for (const k of SUMMED) total[k] += r.stats[k];
        const output = Buffer.concat(chunks).toString('utf8');
        results.push({ netns: n, ...Object.fromEntries(SUMMED.map((k) => [k, r.stats[k]])), ...(output ? { output } : {}) });
      } catch (e) {
        ctx.metrics.run(name, e instanceof PluginTimeoutError ? 'timeout' : 'failed', e instanceof PluginTimeoutError);
        throw e;
      }
    }
  } finally {
    await Promise.all(loaded.map((l) => l.host.close()));
  }
  return { plugin: name, ...total, netns: results };
}

async function count(ctx: ServiceContext, req: Record<string, unknown>): Promise<Omit<FleetReply, 'host' | 'op' | 'status'>> {
  needs(ctx, 'read');
  const nss = namespaces(ctx, req.netns);
  const results: { netns: string; entries: number; zones: Record<string, number> }[] = [];
  let total = 0;
  for (const n of nss) {
    const ct = await ctx.access.conntrack(ns(n)).catch((e) => (refusedByDaemon(e) ? refuse(e.message) : Promise.reject(e)));
    try {
      const c = await takeCensus(ct, ctx.policy.fleet!.capabilities.scope);
      const zones: Record<string, number> = {};
      for (const [k, v] of c.counts) { const z = k.split('|')[0]; zones[z] = (zones[z] ?? 0) + v; }
      results.push({ netns: n, entries: c.total, zones });
      total += c.total;
    } finally {
      ct.close();
    }
  }
  return { entries: total, netns: results };
}

/** One request: the reply to send (never throws). */
export async function handle(ctx: ServiceContext, op: ServiceOp, data: Uint8Array): Promise<FleetReply> {
  ctx.metrics.requests.inc({ client: 'fleet', op });
  const base = { host: ctx.name, op };
  try {
    if (!ctx.policy.fleet) refuse('this host\'s policy has no clients.fleet entry: the fleet may do nothing here');
    const req = parseRequest(data);
    const body = op === 'run' ? await run(ctx, req) : op === 'count' ? await count(ctx, req) : { agent: ctx.stats() };
    return { ...base, status: 'ok', ...body };
  } catch (e) {
    if (e instanceof Refusal) {
      ctx.metrics.refusals.inc({ client: 'fleet', op });
      return { ...base, status: 'refused', reason: e.message };
    }
    const msg = e instanceof PluginError ? e.message : `${(e as Error)?.message ?? e}`;
    const stats = (e as { stats?: RunStats }).stats;
    return { ...base, status: 'failed', reason: escapeText(msg), ...(stats ? { deleted: stats.deleted } : {}) };
  }
}
