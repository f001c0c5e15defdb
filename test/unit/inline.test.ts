// Plugins run on the calling thread (runtime/inline.ts), as the CLI runs its first-party ones:
// everything a worker run guarantees that does not depend on the thread holds here too, checked
// side by side with the worker: the grant narrows dumps and every entry is re-checked, deletes are
// re-derived, output and logs arrive, failures are the same errors. The deadline: a call that
// never returns is stopped (by node:vm's watchdog around each slice), the run fails with
// PluginTimeoutError, and this thread goes on (a next run works). No timing is asserted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { splitMessages } from '../../host/netlink/message.js';
import { PluginTimeoutError, PluginTrapError, ModuleCheckError } from '../../host/runtime/errors.js';
import { PluginFailedError } from '../../host/runtime/errors.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { loadWat, runWat, sampleEntries } from '../helpers/wasm-run.js';

const EMIT_BATCH = '(drop (call $emit (local.get $ptr) (local.get $len))) (i32.const 0)';
const DUMP_ALL = '(call $report (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)';
const DELETE_BATCH = '(call $report (call $delete (local.get $ptr) (local.get $len))) (i32.const 0)';
const SPIN = '(loop $l (br $l)) (i32.const 0)';
const LIMITS = { timeout_ms: 100 };

const zones = (out: Uint8Array) => [...splitMessages(out.subarray(4))].map((m) => describeEntry(m).zone).sort();

test('the same run inline and in a worker: dumps narrowed to the grant, every entry re-checked, output and codes', async () => {
  const o = { capabilities: { operations: ['read'], scope: { zones: [5, 9] } }, entries: sampleEntries() };
  const [inline, worker] = await Promise.all([true, false].map((i) => runWat({ init: DUMP_ALL, onEntries: EMIT_BATCH }, { ...o, inline: i })));
  assert.equal(zones(inline.output), [5, 5, 9, 9]);
  // The same entries, byte for byte past the netlink header (whose sequence number is the connection's).
  const bodies = (out: Uint8Array) => [...splitMessages(out.subarray(4))].map((m) => Buffer.from(m.subarray(16)).toString('hex'));
  assert.equal(bodies(inline.output), bodies(worker.output));
  assert.equal(inline.codes.slice(0, 1), [0]);
  assert.is(inline.stats.entries, worker.stats.entries);
  assert.is(inline.stats.batches, worker.stats.batches);
});

test('deletes go to the kernel after the call, re-derived and checked as in a worker', async () => {
  const o = { capabilities: { operations: ['read', 'delete'], scope: { zones: [7] } }, entries: sampleEntries(), inline: true };
  const r = await runWat({ init: DUMP_ALL, onEntries: DELETE_BATCH }, o);
  assert.is(r.stats.deleted, 2);
  assert.equal(r.table!.map((m) => describeEntry(m).zone).sort(), [5, 5, 9, 9]);
});

for (const [where, parts] of [
  ['ctplug_init', { init: SPIN }],
  ['ctplug_on_entries', { init: DUMP_ALL, onEntries: SPIN }],
  ['the start section', { extra: `(func $spin ${SPIN.replace(' (i32.const 0)', '')}) (start $spin)` }],
] as const) {
  test(`a call that never returns (${where}) is stopped: PluginTimeoutError, and this thread runs on`, async () => {
    const p = await loadWat(parts, { entries: sampleEntries(), limits: LIMITS, inline: true });
    try {
      const e = await p.run().then(() => undefined, (x: unknown) => x);
      assert.instance(e, PluginTimeoutError);
      assert.is((e as PluginTimeoutError).limitMs, 100);
    } finally {
      await p.close();
    }
    const ok = await runWat({ init: DUMP_ALL, onEntries: EMIT_BATCH }, { entries: sampleEntries(), inline: true });
    assert.is(zones(ok.output).length, 6);
  });
}

test('traps and failing statuses are the worker\'s errors', async () => {
  const trap = await runWat({ init: 'unreachable' }, { inline: true }).then(() => undefined, (x: unknown) => x);
  assert.instance(trap, PluginTrapError);
  assert.match((trap as Error).message, /trapped in ctplug_init: unreachable/);
  const failed = await runWat({ init: '(i32.const -1)' }, { inline: true }).then(() => undefined, (x: unknown) => x);
  assert.instance(failed, PluginFailedError);
});

test('the module checks are the loader\'s, before anything runs: memory beyond the grant is refused', async () => {
  const e = await loadWat({ memory: '1 65536' }, { inline: true, limits: { memory_max_pages: 16 } }).then(() => undefined, (x: unknown) => x);
  assert.instance(e, ModuleCheckError);
});

test('output waits for a slow consumer between slices (back-pressure), none is lost', async () => {
  const p = await loadWat({ init: DUMP_ALL, onEntries: EMIT_BATCH }, { entries: sampleEntries(), inline: true });
  const got: Uint8Array[] = [];
  try {
    await p.run({ onOutput: async (b) => { await new Promise((r) => setTimeout(r, 5)); got.push(b); } });
  } finally {
    await p.close();
  }
  assert.is(zones(Buffer.concat(got)).length, 6);
});

test.run();
