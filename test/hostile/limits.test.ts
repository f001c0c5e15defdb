// Plugins that loop, grow, trap and flood. The host must stop them with the exact error users
// see, stay alive, and keep running other plugins.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PluginTimeoutError, PluginTrapError } from '../../host/runtime/errors.js';
import { loadWat, runWat, sampleEntries } from '../helpers/wasm-run.js';

const DUMP_ALL = '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)';
const LOOP = '(loop $l (br $l)) (i32.const 0)';

async function rejects<E extends Error>(p: Promise<unknown>, cls: new (...a: never[]) => E, message: string): Promise<E> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, cls);
    assert.is((e as Error).message, message);
    return e as E;
  }
  assert.unreachable(`should have failed: ${message}`);
  throw new Error('unreachable');
}

test('infinite loop in ctplug_init: terminated at the deadline, named, the host keeps going', async () => {
  const t0 = Date.now();
  await rejects(runWat({ init: LOOP }, { name: 'spin' }), PluginTimeoutError, 'plugin "spin" exceeded 1000 ms in ctplug_init');
  const took = Date.now() - t0;
  assert.ok(took < 5000, `stopped promptly (${took} ms including worker start)`);
});

test('infinite loop in ctplug_on_entries, while another plugin runs to completion', async () => {
  const looping = runWat({ init: DUMP_ALL, onEntries: LOOP }, { name: 'spin', limits: { timeout_ms: 300 }, entries: sampleEntries() });
  const healthy = runWat({ init: DUMP_ALL, onEntries: '(i32.const 0)' }, { name: 'fine', entries: sampleEntries() });
  const err = await rejects(looping, PluginTimeoutError, 'plugin "spin" exceeded 300 ms in ctplug_on_entries');
  assert.is(err.plugin, 'spin');
  assert.is(err.exportName, 'ctplug_on_entries');
  const ok = await healthy;
  assert.is(ok.stats.entries, 6);
  // And a plugin loaded after the timeout still works.
  assert.is((await runWat({ init: DUMP_ALL }, { name: 'after', entries: sampleEntries() })).stats.entries, 6);
});

test('a hostcall-heavy loop (log in a loop) is terminated too', async () => {
  await rejects(runWat({ init: '(loop $l (drop (call $log (i32.const 2) (i32.const 0) (i32.const 8))) (br $l)) (i32.const 0)' }, { name: 'chatty', limits: { timeout_ms: 300 } }),
    PluginTimeoutError, 'plugin "chatty" exceeded 300 ms in ctplug_init');
});

test('a plugin that timed out runs again in a fresh worker', async () => {
  const p = await loadWat({ init: LOOP }, { name: 'again', limits: { timeout_ms: 200 } });
  await rejects(p.run(), PluginTimeoutError, 'plugin "again" exceeded 200 ms in ctplug_init');
  await rejects(p.run(), PluginTimeoutError, 'plugin "again" exceeded 200 ms in ctplug_init');
  await p.close();
});

test('memory growth beyond the declared maximum fails cleanly (memory.grow returns -1)', async () => {
  const r = await runWat({
    memory: '1 4',
    init: '(call $report (memory.grow (i32.const 2))) (call $report (memory.grow (i32.const 100))) (call $report (memory.size)) (i32.const 0)',
  });
  assert.equal(r.codes, [1, -1, 3]);
  // The skeleton's allocator traps when it cannot grow: that is a trap, not a host problem.
  await rejects(runWat({ memory: '1 2', init: '(drop (call $alloc (i32.const 1000000))) (i32.const 0)' }, { name: 'greedy' }),
    PluginTrapError, 'plugin "greedy" trapped in ctplug_init: unreachable');
});

test('traps are named: unreachable (with the wasm function in the stack), divide by zero, stack overflow', async () => {
  const e = await rejects(runWat({ init: DUMP_ALL, onEntries: '(unreachable)' }, { name: 'trap', entries: sampleEntries() }),
    PluginTrapError, 'plugin "trap" trapped in ctplug_on_entries: unreachable');
  assert.match(e.stack!, /on_entries/);
  assert.match(e.stack!, /wasm-function/);
  await rejects(runWat({ init: '(i32.div_s (i32.const 1) (i32.const 0))' }, { name: 'div' }), PluginTrapError, 'plugin "div" trapped in ctplug_init: divide by zero');
  await rejects(runWat({ init: '(call $deep)', extra: '(func $deep (result i32) (i32.add (call $deep) (i32.const 1)))' }, { name: 'deep' }),
    PluginTrapError, 'plugin "deep" trapped in ctplug_init: Maximum call stack size exceeded');
  await rejects(runWat({ init: '(i32.load (i32.const 70000))' }, { name: 'oob' }), PluginTrapError, 'plugin "oob" trapped in ctplug_init: memory access out of bounds');
});

test('log flood: capped per second, the plugin sees E_LIMIT, one notice says how many were dropped', async () => {
  const r = await runWat({
    init: `(local $i i32) (local $limited i32)
      (loop $l
        (if (i32.eq (call $log (i32.const 2) (i32.const 0) (i32.const 4)) (i32.const -5)) (then (local.set $limited (i32.add (local.get $limited) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 10000))))
      (call $report (local.get $limited)) (i32.const 0)`,
  }, { limits: { log_lines_per_s: 100 } });
  assert.equal(r.codes, [9900]);
  assert.is(r.logs.filter((l) => l.source === 'log').length, 100);
  assert.equal(r.logs.filter((l) => l.source === 'host').map((l) => l.text), ['9900 log lines dropped (limit 100/s)']);
  assert.is(r.stats.droppedLogLines, 9900);
});

test('stdout flood through WASI fd_write is capped the same way', async () => {
  const r = await runWat({
    imports: '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))',
    init: `(local $i i32)
      (i32.store (i32.const 200) (i32.const 100)) (i32.store (i32.const 204) (i32.const 2))
      (loop $l
        (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 300)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 5000))))
      (i32.const 0)`,
    extra: '(data (i32.const 100) "x\\n")',
  }, { limits: { log_lines_per_s: 50 } });
  assert.is(r.logs.filter((l) => l.source === 'stdout').length, 50);
  assert.equal(r.logs.filter((l) => l.source === 'host').map((l) => l.text), ['4950 log lines dropped (limit 50/s)']);
});

test('a single huge line without a newline is cut, not buffered without bound', async () => {
  const r = await runWat({
    imports: '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))',
    memory: '2 2',
    init: `(i32.store (i32.const 200) (i32.const 1024)) (i32.store (i32.const 204) (i32.const 100000))
      (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 300))) (i32.const 0)`,
  });
  const out = r.logs.filter((l) => l.source === 'stdout');
  assert.is(out.length, 1);
  assert.is(out[0].text.length, 4097, '4096 characters and an ellipsis');
});

test('emit flood: output is capped, the plugin sees E_LIMIT, one notice', async () => {
  const r = await runWat({
    init: `(local $i i32)
      (loop $l
        (drop (call $emit (i32.const 0) (i32.const 100)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))
      (i32.const 0)`,
  }, { limits: { output_bytes: 1000 } });
  assert.is(r.stats.refused, 40);
  assert.is(r.output.length, 1000);
  assert.is(r.stats.emittedBytes, 1000);
  assert.equal(r.logs.map((l) => l.text), ['output limit reached (1000 bytes); further output is dropped']);
});

test.run();
