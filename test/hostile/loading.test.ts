// Hostile modules and manifests through the real loader: refused in the main thread, before any
// worker exists, with the message users see; and a plugin that grows its memory mid-run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { splitMessages } from '../../host/netlink/message.js';
import { GrantError } from '../../host/policy/errors.js';
import type { PolicyDocument } from '../../host/policy/policy.js';
import { ModuleCheckError } from '../../host/runtime/errors.js';
import { sha256 } from '../../host/runtime/module-check.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { runWat, sampleEntries } from '../helpers/wasm-run.js';
import { manifestFor, plugin, wat } from '../helpers/wasm.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

const policy: PolicyDocument = { default: { capabilities: { operations: ['read', 'delete'] } } };

async function refused(p: Promise<unknown>, cls: Function, message: string) {
  try {
    await p;
  } catch (e) {
    assert.instance(e, cls);
    assert.is((e as Error).message, message);
    return;
  }
  assert.unreachable(`should have been refused: ${message}`);
}

test('a manifest + module on disk: a swapped module fails the sha256 pin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-hostile-'));
  try {
    const good = wat(plugin());
    const evil = wat(plugin({ init: '(drop (call $delete (i32.const 0) (i32.const 0))) (i32.const 0)' }));
    writeFileSync(join(dir, 'p.json'), JSON.stringify(manifestFor('p', good)));
    writeFileSync(join(dir, 'p.wasm'), good);
    const ok = await loadPlugin(join(dir, 'p.json'), { policy, backend: fakeBackend(new Uint8Array(0)) });
    await ok.close();
    writeFileSync(join(dir, 'p.wasm'), evil);
    await refused(loadPlugin(join(dir, 'p.json'), { policy }), ModuleCheckError,
      `plugin "p": module sha256 is ${sha256(evil)} but the manifest pins ${sha256(good)}; rebuild the plugin or update the manifest`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('forbidden imports, a future ABI and an unbounded memory are refused by loadPlugin', async () => {
  const load = (bytes: Uint8Array) => loadPlugin({ manifest: manifestFor('h', bytes), wasm: bytes }, { policy });
  await refused(load(wat(plugin({ imports: '(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))' }))),
    ModuleCheckError, 'plugin "h": import wasi_snapshot_preview1.path_open is not allowed (ctplug ABI v1 allows: ctplug: dump, delete, update, create, subscribe, flush, emit, log, clock, config; wasi_snapshot_preview1: fd_write, proc_exit, clock_time_get, random_get)');
  await refused(load(wat(plugin({ marker: '(global (export "ctplug_abi_v7") i32 (i32.const 7))' }))), ModuleCheckError,
    'plugin "h" targets ctplug ABI v7; this host speaks v1');
  await refused(load(wat(plugin({ memory: '1' }))), ModuleCheckError,
    'plugin "h": memory has no declared maximum; the grant allows at most 256 pages (16 MiB); build with --maximumMemory 256 (or lower) or ask the operator to raise limits.memory_max_pages');
});

test('the grant is checked before the module: over-asking is a GrantError even for a hostile module', async () => {
  const bytes = wat(plugin({ imports: '(import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))' }));
  await refused(loadPlugin({ manifest: manifestFor('h', bytes, { operations: ['flush'] }), wasm: bytes }, { policy }), GrantError,
    'plugin "h" asks for more than the policy default allows: operations: asks [flush], allows [read, delete]');
});

test('memory grown during on_entries: later batches still land in the right place', async () => {
  const r = await runWat({
    init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(drop (memory.grow (i32.const 1))) (drop (call $emit (local.get $ptr) (local.get $len))) (i32.const 0)',
  }, { capabilities: { operations: ['read'], scope: { zones: [5, 7, 9] } }, entries: sampleEntries() });
  assert.is(r.stats.batches, 3);
  assert.is(r.stats.entries, 6);
  assert.equal([...splitMessages(r.output)].map((m) => describeEntry(m).zone), [5, 5, 7, 7, 9, 9]);
});

test.run();
