// The runtime end to end against the fake kernel: push-model dumps narrowed to the grant,
// deletes and creates sent after each call, config, logs, WASI stdout, errors, the test kit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { splitMessages } from '../../host/netlink/message.js';
import { field } from '../../host/policy/abi.js';
import type { CapabilitiesDocument } from '../../host/policy/capabilities.js';
import { PluginError, PolicyError } from '../../host/policy/errors.js';
import type { PolicyDocument } from '../../host/policy/policy.js';
import { PluginFailedError } from '../../host/runtime/errors.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import { Host } from '../../host/runtime/host.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { runPlugin } from '../../sdk/testkit/index.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { runWat, sampleEntries } from '../helpers/wasm-run.js';
import { dataString, manifestFor, plugin, wat } from '../helpers/wasm.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

const EMIT_BATCH = '(drop (call $emit (local.get $ptr) (local.get $len))) (i32.const 0)';
const DUMP_ALL = '(call $report (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)';

/** The entries a plugin echoed with EMIT_BATCH, after the 4-byte status DUMP_ALL reported. */
function echoed(output: Uint8Array) {
  return [...splitMessages(output.subarray(4))].map(describeEntry);
}

function dumpRequest(r: { family?: number; protocol?: number; zone?: number }): Uint8Array {
  const b = new Uint8Array(16), v = new DataView(b.buffer);
  v.setUint8(field('DumpRequest', 'family'), r.family ?? 0);
  v.setUint8(field('DumpRequest', 'protocol'), r.protocol ?? 0);
  if (r.zone !== undefined) {
    v.setUint16(field('DumpRequest', 'flags'), 1, true);
    v.setUint16(field('DumpRequest', 'zone'), r.zone, true);
  }
  return b;
}

test('push model: an "all zones" dump is narrowed to the granted zones, one call per buffer', async () => {
  const r = await runWat({ init: DUMP_ALL, onEntries: EMIT_BATCH }, {
    capabilities: { operations: ['read'], scope: { zones: [5, 7] } }, entries: sampleEntries(),
  });
  assert.is(r.codes[0], 0);
  const got = echoed(r.output);
  assert.equal(got.map((e) => e.zone).sort(), [5, 5, 7, 7]);
  assert.is(r.stats.entries, 4);
  assert.is(r.stats.batches, 2, 'one kernel dump per granted zone');
  assert.is(r.stats.filtered, 0, 'the kernel filtered by zone');
});

test('push model: a wide grant is one full dump, the scanner drops what is outside', async () => {
  const entries = [...sampleEntries(), { protocol: 'udp', src: '10.1.1.1', dst: '10.1.1.2', sport: 1, dport: 2, zone: 5000, timeout: 30 }];
  const r = await runWat({ init: DUMP_ALL, onEntries: EMIT_BATCH }, {
    capabilities: { operations: ['read'], scope: { zones: [{ from: 4097, to: 65535 }, 7], protocols: ['udp'] } }, entries,
  });
  assert.equal(echoed(r.output).map((e) => [e.zone, e.protocol]).sort(), [[5000, 'udp'], [7, 'udp']]);
  assert.is(r.stats.batches, 1);
  assert.is(r.stats.filtered, 5, 'zone 5 and 9 entries and the zone 7 tcp entry never reach the plugin');
});

test('push model: an explicit zone inside the grant is dumped; outside is E_SCOPE and nothing is delivered', async () => {
  const req = (zone: number) => ({
    init: `(call $report (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)`, onEntries: EMIT_BATCH,
    extra: `(data (i32.const 0) ${dataString(dumpRequest({ zone }))})`,
  });
  const caps = { operations: ['read'], scope: { zones: [5, 7] } };
  const ok = await runWat(req(7), { capabilities: caps, entries: sampleEntries() });
  assert.equal(echoed(ok.output).map((e) => e.zone), [7, 7]);
  const no = await runWat(req(9), { capabilities: caps, entries: sampleEntries() });
  assert.equal(no.codes, [-4]);
  assert.is(no.stats.entries, 0);
  assert.equal(no.logs.map((l) => l.text), ['dump refused (E_SCOPE): zone 9 is outside the grant']);
});

test('deletes queued during on_entries are sent after the call, in one batch', async () => {
  const r = await runWat({ init: DUMP_ALL, onEntries: '(call $report (call $delete (local.get $ptr) (local.get $len))) (i32.const 0)' }, {
    capabilities: { operations: ['read', 'delete'], scope: { zones: [5, 7] } }, entries: sampleEntries(),
  });
  assert.equal(r.codes, [0, 2, 2], 'dump OK, then 2 entries queued per zone batch');
  assert.is(r.stats.deleted, 4);
  assert.equal(r.table!.map((m) => describeEntry(m).zone), [9, 9]);
});

test('STOP from on_entries ends the dump; a negative status fails the run', async () => {
  const stop = await runWat({ init: DUMP_ALL, onEntries: '(i32.const 1)' }, { entries: sampleEntries() });
  assert.is(stop.stats.batches, 1);
  try {
    await runWat({ init: '(i32.const -1)' });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, PluginFailedError);
    assert.is((e as Error).message, 'plugin "t" failed in ctplug_init: returned E_INVAL');
  }
});

test('config: copied as JSON when it fits; the full length is returned either way', async () => {
  const r = await runWat({
    init: `(call $report (call $config (i32.const 100) (i32.const 2)))
           (call $report (call $config (i32.const 100) (i32.const 200)))
           (drop (call $emit (i32.const 100) (i32.const 12))) (i32.const 0)`,
  }, { config: { zone: 5 } });
  assert.equal(r.codes.slice(0, 2), [10, 10]);
  assert.is(new TextDecoder().decode(r.output.subarray(8)), '{"zone":5}\0\0');
});

test('log lines are tagged with the plugin and level; WASI stdout/stderr become log lines', async () => {
  const r = await runWat({
    imports: '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))',
    init: `(drop (call $log (i32.const 0) (i32.const 100) (i32.const 4)))
           (drop (call $log (i32.const 3) (i32.const 104) (i32.const 5)))
           (call $report (call $log (i32.const 9) (i32.const 100) (i32.const 4)))
           (i32.store (i32.const 200) (i32.const 110)) (i32.store (i32.const 204) (i32.const 12))
           (call $report (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 300)))
           (call $report (i32.load (i32.const 300)))
           (call $report (call $fd_write (i32.const 2) (i32.const 200) (i32.const 1) (i32.const 300)))
           (call $report (call $fd_write (i32.const 3) (i32.const 200) (i32.const 1) (i32.const 300)))
           (call $report (call $fd_write (i32.const 1) (i32.const 65530) (i32.const 1) (i32.const 300)))
           (i32.const 0)`,
    extra: '(data (i32.const 100) "oopsdebug") (data (i32.const 110) "out\\nand more")',
  });
  assert.equal(r.codes, [-1, 0, 12, 0, 8, 21], 'bad level E_INVAL; fd_write ok and 12 bytes written; EBADF; EFAULT');
  assert.equal(r.logs.map(({ plugin, level, source, text }) => `${plugin} ${level} ${source} ${text}`), [
    't error log oops',
    't debug log debug',
    't warn host log refused (E_INVAL): unknown log level 9',
    't info stdout out',
    't warn stderr out',
    't info stdout and more',
    't warn stderr and more',
  ]);
});

test('proc_exit with a non-zero code fails the run with the last stderr line', async () => {
  try {
    await runWat({
      imports: `(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
                (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))`,
      init: `(i32.store (i32.const 200) (i32.const 100)) (i32.store (i32.const 204) (i32.const 22))
             (drop (call $fd_write (i32.const 2) (i32.const 200) (i32.const 1) (i32.const 300)))
             (call $exit (i32.const 3)) (i32.const 0)`,
      extra: '(data (i32.const 100) "abort: bad config zone")',
    });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, PluginFailedError);
    assert.is((e as Error).message, 'plugin "t" failed in ctplug_init: exit code 3: abort: bad config zone');
  }
});

test('create: records inside the grant are created after the call', async () => {
  const rec = new Uint8Array(64), v = new DataView(rec.buffer);
  const f = (n: string) => field('CreateRecord', n);
  v.setUint8(f('family'), 2); v.setUint8(f('protocol'), 17); v.setUint8(f('flags'), 1); v.setUint16(f('zone'), 5, true);
  v.setUint16(f('srcPort'), 1000, true); v.setUint16(f('dstPort'), 53, true); v.setUint32(f('timeout'), 60, true);
  rec.set([192, 168, 0, 1], f('src')); rec.set([192, 168, 0, 2], f('dst'));
  const r = await runPlugin(wat(plugin({
    init: '(call $report (call $create (i32.const 0) (i32.const 64))) (i32.const 0)',
    extra: `(data (i32.const 0) ${dataString(rec)})`,
  })), { capabilities: { operations: ['create'], scope: { zones: [5] } } });
  assert.is(r.stats.created, 1);
  assert.equal(r.created, [{ family: 'ipv4', protocol: 'udp', src: '192.168.0.1', dst: '192.168.0.2', sport: 1000, dport: 53, zone: 5, mark: 0, timeout: 60 }]);
});

test('test kit: entries in, output/deleted/logs out', async () => {
  const entries = sampleEntries();
  const bytes = wat(plugin({ init: DUMP_ALL, onEntries: '(drop (call $delete (local.get $ptr) (local.get $len))) (i32.const 0)' }));
  const r = await runPlugin(bytes, { entries, capabilities: { operations: ['read', 'delete'], scope: { zones: [7] } } });
  assert.equal(r.deleted, [entries[2], entries[3]]);
  assert.is(r.stats.deleted, 2);
  assert.is(r.output.length, 4);
});

test('test kit: recorded fixture buffers', async () => {
  const k = FakeKernel.fromSpecs(sampleEntries());
  const buf = Buffer.concat(k.messages());
  const bytes = wat(plugin({ init: DUMP_ALL, onEntries: '(drop (call $delete (local.get $ptr) (local.get $len))) (i32.const 0)' }));
  const r = await runPlugin(bytes, { fixtures: [buf], capabilities: { operations: ['read', 'delete'], scope: { zones: [9] } } });
  assert.equal(r.deleted.map((e) => [e.zone, e.protocol]), [[9, 'tcp'], [9, 'udp']]);
});

test('loadPlugin validates the embedder\'s limits and config', async () => {
  const bytes = wat(plugin());
  const src = { manifest: manifestFor('x', bytes), wasm: bytes };
  const policy: PolicyDocument = { default: { capabilities: { operations: ['read'] } } };
  for (const [opts, cls, message] of [
    [{ limits: { timeout_ms: -5 } }, PolicyError, 'loadPlugin options: limits.timeout_ms must be an integer in 1..600000, got -5'],
    [{ config: { big: 1n } }, PluginError, 'plugin "x": config is not JSON: Do not know how to serialize a BigInt'],
  ] as const) {
    try {
      await loadPlugin(src, { policy, ...opts });
      assert.unreachable();
    } catch (e) {
      assert.instance(e, cls);
      assert.is((e as Error).message, message);
    }
  }
});

test('Host: load/run with a policy; output as an async iterator; a plugin runs again in its worker', async () => {
  const bytes = wat(plugin({ init: DUMP_ALL, onEntries: EMIT_BATCH }));
  const caps: CapabilitiesDocument = { operations: ['read'], scope: { zones: [5] } };
  const host = new Host({ policy: { default: { capabilities: caps } }, backend: fakeBackend(Buffer.concat(FakeKernel.fromSpecs(sampleEntries()).messages())) });
  const p = await host.load({ manifest: manifestFor('it', bytes, caps), wasm: bytes });
  const { output, result } = p.stream();
  const chunks: Uint8Array[] = [];
  for await (const c of output) chunks.push(c);
  assert.is(chunks.length, 2, 'one chunk per export call that emitted');
  assert.is((await result).stats.entries, 2);
  const again = await p.run();
  assert.is(again.stats.entries, 2);
  await host.close();
});

test.run();
