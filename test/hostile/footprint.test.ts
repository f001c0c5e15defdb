// Issue 12, finding 2: a module must not be able to end the host process. 40 x (table 10000000
// funcref) aborted V8 ("Reached heap limit") and with it the embedder: tables, globals, element and
// data segments are now bounded at load, like memory (exit 6, naming the limit); and what a plugin
// makes its worker hold at runtime is bounded by the worker's heap, past which that plugin fails
// (exit 7) while the embedder and its other plugins go on. No root needed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT } from '../../host/exit-codes.js';
import { ModuleCheckError } from '../../host/runtime/errors.js';
import { sourceCli } from '../helpers/cli.js';
import { loadWat, runWat, sampleEntries } from '../helpers/wasm-run.js';
import { manifestFor, plugin, wat, type PluginParts } from '../helpers/wasm.js';
import { record } from '../helpers/workers.js';

/** Loads (never runs) a module; returns the refusal. Run on a host without the checks, it would have taken the process down. */
async function refusedAtLoad(parts: PluginParts, limits: Record<string, number> = {}): Promise<string> {
  const t0 = Date.now();
  let p;
  try {
    p = await loadWat(parts, { name: 't', limits });
  } catch (e) {
    assert.instance(e, ModuleCheckError);
    assert.ok(Date.now() - t0 < 10_000, 'refused before anything is allocated');
    return (e as Error).message;
  }
  await p.close();
  return assert.unreachable('loaded: the module was not refused at load time') as never;
}

test('40 x (table 10000000 funcref) is refused at load, naming the limit (it used to abort the process)', async () => {
  const tables = Array.from({ length: 40 }, () => '(table 10000000 funcref)').join(' ');
  const msg = await refusedAtLoad({ extra: tables });
  assert.is(msg, 'plugin "t": module declares 40 tables; ctplug allows at most 16');
  const rss = process.memoryUsage().rss / 1048576;
  assert.ok(rss < 1024, `nothing was allocated for the tables (RSS ${rss.toFixed(0)} MiB)`);
  record({ kind: 'hostile', case: 'load: 40 x (table 10000000 funcref)', outcome: msg, contained: true });
});

test('one table of 10M elements, a table with no maximum: refused at load', async () => {
  assert.is(await refusedAtLoad({ extra: '(table 10000000 10000000 funcref)' }),
    'plugin "t": module tables declare up to 10000000 elements in all; ctplug allows at most 1048576');
  assert.is(await refusedAtLoad({ extra: '(table 1 funcref)' }),
    'plugin "t": module table 0 has no declared maximum (table.grow could take the host\'s heap); declare one, at most 1048576 elements in all tables');
  record({ kind: 'hostile', case: 'load: one 10M-element table; a table without maximum', outcome: 'refused at load (ModuleCheckError)', contained: true });
});

test('globals, element segments and data segments beyond the bounds are refused at load', async () => {
  const globals = Array.from({ length: 70_000 }, (_, i) => `(global $g${i} i32 (i32.const 0))`).join('');
  assert.is(await refusedAtLoad({ extra: globals }), 'plugin "t": module declares 70003 globals; ctplug allows at most 65536');
  const elems = `(table 2 2 funcref) ${Array.from({ length: 70_000 }, () => '(elem (i32.const 0) $alloc)').join('')}`;
  assert.is(await refusedAtLoad({ extra: elems }), 'plugin "t": module has 70000 element segments; ctplug allows at most 65536');
  const passive = `(elem func ${Array.from({ length: 1_100_000 }, () => '$alloc').join(' ')})`;
  assert.is(await refusedAtLoad({ extra: passive }), 'plugin "t": module element segments hold 1100000 entries; ctplug allows at most 1048576');
  const data = Array.from({ length: 70_000 }, () => '(data "x")').join('');
  assert.is(await refusedAtLoad({ extra: data }), 'plugin "t": module has 70000 data segments; ctplug allows at most 65536');
  // Passive data is copied per instance; more of it than the memory the grant allows is refused.
  const big = `(data "${'x'.repeat(70_000)}")`;
  assert.is(await refusedAtLoad({ memory: '1 1', extra: big }, { memory_max_pages: 1 }), 'plugin "t": module data segments hold 70000 bytes, more than the memory the grant allows (65536 bytes)');
  record({ kind: 'hostile', case: 'load: 70k globals, 70k element segments, 1.1M element entries, 70k data segments', outcome: 'refused at load (ModuleCheckError)', contained: true });
});

test('CLI: a module over the table bound is refused with exit 6 and a line naming the limit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-footprint-'));
  try {
    const bytes = wat(plugin({ extra: Array.from({ length: 20 }, () => '(table 10 10 funcref)').join(' ') }));
    writeFileSync(join(dir, 'tables.wasm'), bytes);
    writeFileSync(join(dir, 'tables.manifest.json'), JSON.stringify(manifestFor('tables', bytes)));
    writeFileSync(join(dir, 'policy.json'), JSON.stringify({ default: { capabilities: { operations: ['read'] } } }));
    const r = sourceCli(['--plugin', join(dir, 'tables.wasm'), '--policy', join(dir, 'policy.json')]);
    assert.is(r.code, EXIT.PLUGIN_REFUSED, r.stderr);
    assert.is(r.stderr.trim(), 'ctplug: plugin "tables": module declares 20 tables; ctplug allows at most 16; fix the manifest or the policy (--policy), or rebuild the plugin');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Past the load-time checks: a plugin whose policy allows a million log lines a second writes
 * 4 KiB lines in a loop; the host holds them until the call returns, so the worker's heap fills.
 * The worker is terminated at its heap bound: that plugin fails (PluginMemoryError), the embedder
 * (this process) and a plugin running next to it carry on.
 */
const FLOOD: PluginParts = {
  init: '(local $i i32) (loop $l (drop (call $log (i32.const 2) (i32.const 0) (i32.const 4096))) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 400000)))) (i32.const 0)',
  extra: `(data (i32.const 0) "${'A'.repeat(4096)}")`,
};
const FLOOD_LIMITS = { log_lines_per_s: 1_000_000, timeout_ms: 120_000 };

test('a log flood that exhausts the worker heap fails that plugin only; the embedder and another plugin carry on', async () => {
  let peak = 0;
  const sample = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  try {
    const healthy = runWat({ init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)' }, { name: 'healthy', entries: sampleEntries() });
    let err: unknown;
    try {
      await runWat(FLOOD, { name: 'flood', limits: FLOOD_LIMITS });
    } catch (e) {
      err = e;
    }
    assert.is((err as Error | undefined)?.name, 'PluginMemoryError', String(err));
    assert.match((err as Error).message, /^plugin "flood" exceeded the 512 MiB heap bound of its worker in ctplug_init; the worker was terminated$/);
    assert.is((await healthy).stats.entries, 6);
    assert.is((await runWat({ init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)' }, { name: 'after', entries: sampleEntries() })).stats.entries, 6, 'plugins loaded afterwards work');
  } finally {
    clearInterval(sample);
  }
  record({ kind: 'hostile', case: 'runtime: log flood (4 KiB lines, 1e6/s allowed) exhausting the worker heap', outcome: `PluginMemoryError; embedder alive; peak host RSS ${(peak / 1048576).toFixed(0)} MiB`, contained: true, peakRssMiB: Math.round(peak / 1048576) });
});

test('CLI: the same flood is exit 7 (the plugin failed), not a crash and not exit 5', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-footprint-'));
  try {
    const bytes = wat(plugin(FLOOD));
    writeFileSync(join(dir, 'flood.wasm'), bytes);
    writeFileSync(join(dir, 'flood.manifest.json'), JSON.stringify(manifestFor('flood', bytes, { operations: ['read'] }, FLOOD_LIMITS)));
    writeFileSync(join(dir, 'policy.json'), JSON.stringify({ default: { capabilities: { operations: ['read'] }, limits: FLOOD_LIMITS } }));
    const r = sourceCli(['--plugin', join(dir, 'flood.wasm'), '--policy', join(dir, 'policy.json')], { timeoutMs: 180_000 });
    assert.is(r.code, EXIT.PLUGIN_FAILED, r.stderr.slice(-500));
    assert.match(r.stderr, /ctplug: plugin "flood" exceeded the 512 MiB heap bound of its worker in ctplug_init; the worker was terminated; /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
