// Test kit for plugin authors: run a plugin against an in-memory conntrack table, no root needed.
//   const r = await runPlugin('build/zone-gc.manifest.json', {
//     entries: [{ protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1234, dport: 80, zone: 5, timeout: 120 }],
//     config: { zone: 5 },
//   });
//   assert.equal(r.deleted, [entries[0]]);
// The plugin runs exactly as in production (same checks, worker, hostcalls, scope re-check);
// only the kernel is the fake one.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { CreateSpec } from '../../host/conntrack/new-entry.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { splitMessages } from '../../host/netlink/message.js';
import type { Limits } from '../../host/policy/limits.js';
import { loadManifest, type Manifest, parseManifest } from '../../host/policy/manifest.js';
import { sha256 } from '../../host/runtime/module-check.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import type { LogLine, RunStats } from '../../host/runtime/protocol.js';
import { describeEntry, type EntryDescription } from './describe.js';
import { eventBatch, type EventSpec } from './events.js';
import { fakeBackend } from './fake-backend.js';
import { FakeKernel } from './fake-kernel.js';

export { describeEntry, type EntryDescription } from './describe.js';
export { entryMessages, eventBatch, eventMessage, type EventKindName, type EventSpec } from './events.js';
export { FakeKernel } from './fake-kernel.js';
export { fakeBackend } from './fake-backend.js';

export interface RunPluginOptions {
  /** The table, as typed descriptions (encoded the way the kernel would send them). */
  entries?: CreateSpec[];
  /** Or recorded kernel buffers (dump replies; DONE and non-entry messages are skipped). */
  fixtures?: Uint8Array[];
  /**
   * Event batches for a plugin that subscribes: each an array of plain event objects
   * ({ kind: 'new' | 'update' | 'destroy', ...the flow as in `entries` }) or encoded messages back to
   * back (eventBatch), or 'overrun' for lost events. The run ends after the last batch.
   */
  events?: (EventSpec[] | Uint8Array | 'overrun')[];
  config?: unknown;
  /** The operator policy to test against. Default: grant exactly what the manifest asks. */
  policy?: Record<string, unknown>;
  /** For a bare .wasm without a manifest: what it may do (default: every operation, any scope). */
  capabilities?: { operations?: string[]; scope?: Record<string, unknown> };
  limits?: Partial<Limits>;
}

export interface TestRun {
  /** Everything the plugin emitted, as UTF-8 text. */
  output: string;
  /** Entries the plugin deleted: the `entries` items themselves, or descriptions of fixture entries. */
  deleted: (CreateSpec | EntryDescription)[];
  /** Entries in the table after the run that were not there before (create). */
  created: EntryDescription[];
  logs: LogLine[];
  stats: RunStats;
}

function source(plugin: string | Uint8Array, opts: RunPluginOptions): { manifest: Manifest; wasm: Uint8Array } {
  if (typeof plugin === 'string' && plugin.endsWith('.json')) {
    const { manifest, modulePath } = loadManifest(plugin);
    return { manifest, wasm: readFileSync(modulePath) };
  }
  const wasm = typeof plugin === 'string' ? readFileSync(plugin) : plugin;
  const name = typeof plugin === 'string' ? basename(plugin, '.wasm').replace(/[^A-Za-z0-9._-]/g, '-') : 'plugin';
  const manifest = parseManifest({
    name, version: '0.0.0', abi: 1, module: `${name}.wasm`, sha256: sha256(wasm),
    capabilities: { operations: ['read', 'delete', 'update', 'flush', 'create', 'events'], ...opts.capabilities },
  });
  return { manifest, wasm };
}

/** Entry identity in the table: family, zone and original tuple. */
function key(msg: Uint8Array): string {
  const s = scanEntry(msg);
  return s ? `${s.family}/${s.zone}/${Buffer.from(s.origTuple).toString('hex')}` : '';
}

export async function runPlugin(plugin: string | Uint8Array, opts: RunPluginOptions = {}): Promise<TestRun> {
  const { manifest, wasm } = source(plugin, opts);
  const fromSpecs = opts.entries ? FakeKernel.fromSpecs(opts.entries).messages() : [];
  const fromFixtures = (opts.fixtures ?? []).flatMap((buf) => [...splitMessages(buf)].filter((m) => scanEntry(m)).map((m) => m.slice()));
  const table = [...fromSpecs, ...fromFixtures];
  const policy = opts.policy ?? { default: { capabilities: manifest.capabilities, limits: manifest.limits } };

  const p = await loadPlugin({ manifest, wasm }, { policy, config: opts.config, limits: opts.limits, backend: fakeBackend(Buffer.concat(table), { events: opts.events?.map((b) => (Array.isArray(b) ? eventBatch(b) : b)) }) });
  try {
    const r = await p.run();
    const after = new Set((r.table ?? []).map(key));
    const before = new Set(table.map(key));
    return {
      output: new TextDecoder().decode(r.output),
      deleted: table.flatMap((m, i) => (after.has(key(m)) ? [] : [i < fromSpecs.length ? opts.entries![i] : describeEntry(m)])),
      created: (r.table ?? []).filter((m) => !before.has(key(m))).map(describeEntry),
      logs: r.logs.map(({ level, source, text }) => ({ level, source, text })),
      stats: r.stats,
    };
  } finally {
    await p.close();
  }
}
