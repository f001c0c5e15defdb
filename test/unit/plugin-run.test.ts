// The plugin runtime's parts without a worker thread: a PluginRun (call context, hostcalls,
// output, delivery) driven on the main thread over a fake ConntrackOps that records what reaches
// it, and the call context alone. Nothing here spawns a thread: the same code a worker runs,
// as a main-thread runner (trusted first-party plugins) would run it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BatchResult } from '../../host/conntrack/conntrack.js';
import type { ConntrackOps, EventStream } from '../../host/conntrack/ops.js';
import type { KernelFilter } from '../../host/conntrack/request.js';
import { abi } from '../../host/policy/abi.js';
import { parseScope, type Operation, type ScopeDocument } from '../../host/policy/capabilities.js';
import { DEFAULT_LIMITS } from '../../host/policy/limits.js';
import { CallContext, RunFailure } from '../../host/runtime/call-context.js';
import { LogSink } from '../../host/runtime/log-sink.js';
import { PluginRun } from '../../host/runtime/plugin-run.js';
import { emptyStats, type LogLine } from '../../host/runtime/protocol.js';
import { CallClock } from '../../host/runtime/watchdog.js';
import { batch, type EntrySpec } from '../helpers/ctmsg.js';
import { plugin, statuses, wat } from '../helpers/wasm.js';

const { OK, E_BOUNDS, E_SCOPE, STOP } = abi.status;
const ENTRIES: EntrySpec[] = [
  { proto: 'tcp', src: '10.0.0.1', dst: '10.0.5.2', sport: 1, dport: 80, zone: 5, id: 1 },
  { proto: 'udp', src: '10.0.0.1', dst: '10.0.7.2', sport: 2, dport: 53, zone: 7, id: 2 },
  { proto: 'tcp', src: '10.0.0.1', dst: '10.0.5.3', sport: 3, dport: 80, zone: 5, id: 3 },
];

const compile = (source: string) => new WebAssembly.Module(wat(source) as Uint8Array<ArrayBuffer>);

/** A ConntrackOps that serves one dump batch (whatever the filter: the gate must narrow) and records every call. */
function fakeOps() {
  const calls: string[] = [];
  const deleted: Uint8Array[] = [];
  const none: BatchResult = { ok: 0, gone: 0, failed: [] };
  const ops: ConntrackOps = {
    dump(filter: KernelFilter) {
      calls.push(`dump ${JSON.stringify(filter)}`);
      let given = false;
      return { next: () => (given ? null : ((given = true), { entries: batch(ENTRIES), count: ENTRIES.length })), stop: () => void calls.push('stop') };
    },
    delete(entries) {
      calls.push(`delete ${entries.length}`);
      deleted.push(...entries);
      return { ...none, ok: entries.length };
    },
    update: (items) => (calls.push(`update ${items.length}`), none),
    create: (entries) => (calls.push(`create ${entries.length}`), none),
    flush: (f) => (calls.push(`flush ${JSON.stringify(f)}`), undefined),
    subscribe: (): EventStream => { throw new Error('not subscribed in these tests'); },
  };
  return { ops, calls, deleted };
}

function runOf(source: string, operations: Operation[], scope: ScopeDocument = {}) {
  const fake = fakeOps();
  const out: Uint8Array[] = [];
  const logs: LogLine[] = [];
  const grant = { plugin: 't', operations, scope: parseScope(scope, 'scope', (m) => { throw new Error(m); }), limits: { ...DEFAULT_LIMITS } };
  const run = new PluginRun({ plugin: 't', grant, module: compile(source), usesWasi: false, config: '{}' }, {
    ops: fake.ops, clock: new CallClock(),
    sink: { logs: (l) => logs.push(...l), output: (b) => out.push(b.slice()), progress: () => undefined },
  });
  return { run, ...fake, out, logs, output: () => statuses(Buffer.concat(out)) };
}

// init: dump everything (a zero DumpRequest at 0); on_entries: report the batch length, delete the batch.
const DUMP_AND_DELETE = plugin({
  init: '(call $report (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
  onEntries: '(call $report (local.get $len)) (call $report (call $delete (local.get $ptr) (local.get $len))) (i32.const 0)',
});

test('a run on the main thread: only granted entries reach the plugin, its deletes reach the ops after the call', async () => {
  const r = runOf(DUMP_AND_DELETE, ['read', 'delete'], { zones: [5] });
  await r.run.execute();
  const [dumped, len, queued] = r.output();
  assert.is(dumped, OK);
  assert.is(len, batch([ENTRIES[0], ENTRIES[2]]).length, 'the zone-7 entry was dropped by the gate before the plugin saw the batch');
  assert.is(queued, 2);
  assert.equal(r.calls, ['dump {"zone":5}', 'delete 2']);
  assert.is(r.run.stats.entries, 2);
  assert.is(r.run.stats.filtered, 1);
  assert.is(r.run.stats.deleted, 2);
});

test('a trap in on_entries: the run fails as a trap and what the call queued is not sent', async () => {
  const r = runOf(plugin({
    init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(drop (call $delete (local.get $ptr) (local.get $len))) unreachable',
  }), ['read', 'delete']);
  const e = await r.run.execute().then(() => undefined, (x: unknown) => x);
  assert.ok(e instanceof RunFailure);
  assert.is((e as RunFailure).error.kind, 'trap');
  assert.is((e as RunFailure).error.call, 'ctplug_on_entries');
  assert.equal(r.calls, ['dump {}'], 'the delete queued by the trapping call never reached the ops');
});

test('hostcalls: out-of-bounds and out-of-scope requests are refused with their status, counted and logged once', async () => {
  const r = runOf(plugin({
    init: `(call $report (call $delete (i32.const 65530) (i32.const 100)))
           (call $report (call $dump (i32.const -4) (i32.const 16)))
           (call $report (call $flush (i32.const 0) (i32.const 16)))
           (i32.const 0)`,
  }), ['read', 'flush'], { zones: [5], protocols: ['tcp'] });
  await r.run.execute();
  assert.equal(r.output().slice(0, 3), [abi.status.E_DENIED, E_BOUNDS, OK]);
  assert.is(r.run.stats.refused, 2);
  assert.equal(r.logs.map((l) => l.text), [
    'delete refused (E_DENIED): needs the "delete" operation, which the grant does not include',
    'dump refused (E_BOUNDS): request out of bounds',
  ]);
  // A protocol-limited grant: the kernel cannot flush exactly, so the gate dumps and deletes the granted entries.
  assert.equal(r.calls, ['dump {"zone":5}', 'delete 2']);
});

test('STOP from on_entries ends the dump: the ops cursor is stopped', async () => {
  const r = runOf(plugin({ init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)', onEntries: `(i32.const ${STOP})` }), ['read']);
  await r.run.execute();
  assert.equal(r.calls, ['dump {}', 'stop']);
  assert.is(r.run.stats.batches, 1);
});

test('a dump outside the grant is E_SCOPE and nothing is dumped', async () => {
  const r = runOf(plugin({ init: '(i32.store16 (i32.const 2) (i32.const 1)) (i32.store16 (i32.const 4) (i32.const 7)) (call $report (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)' }), ['read'], { zones: [5] });
  await r.run.execute();
  assert.equal(r.output(), [E_SCOPE]);
  assert.equal(r.calls, []);
});

test('the call context alone: every call runs under the clock; imports called from a start section fail the run', () => {
  const seen: string[] = [];
  const clock = { enter: (n: string) => seen.push(`enter ${n}`), hostWork: () => seen.push('host'), leave: () => seen.push('leave'), stopRequested: () => false, whenStopped: () => ({ signal: new AbortController().signal, dispose() {} }) };
  const logs = new LogSink(100, emptyStats());
  const ctx = new CallContext(clock, logs, () => seen.push('unfinished'));
  const f = ctx.guarded('ctplug.log', () => 1);
  const start = compile('(module (import "ctplug" "log" (func $log (result i32))) (memory (export "memory") 1) (func $s (drop (call $log))) (start $s))');
  const e = (() => { try { ctx.instantiate(start, { ctplug: { log: f } }); } catch (x) { return x; } })();
  assert.ok(e instanceof RunFailure && e.error.kind === 'status' && /start section called ctplug.log/.test((e.error as { detail: string }).detail));
  const ok = compile('(module (memory (export "memory") 1) (func (export "f") (result i32) (i32.const 7)) (func (export "t") (result i32) unreachable))');
  const ctx2 = new CallContext(clock, logs, () => seen.push('unfinished'));
  seen.length = 0;
  ctx2.instantiate(ok, {});
  assert.is(ctx2.call('f'), 7);
  assert.throws(() => ctx2.call('t'), (x: unknown) => x instanceof RunFailure && x.error.kind === 'trap');
  assert.equal(seen, ['enter instantiation (start section)', 'host', 'enter f', 'host', 'enter t', 'unfinished', 'host']);
  assert.ok(ctx2.span(0, 65536) && !ctx2.span(1, 65536) && !ctx2.span(-1, 1));
});

test.run();
