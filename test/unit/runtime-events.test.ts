// Event subscriptions: batches to ctplug_on_events re-checked against the grant, a RESYNC dump
// after lost events, stop from the embedder, and the refusals of subscribe.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { splitMessages } from '../../host/netlink/message.js';
import { AbortError } from '../../host/netlink/abort.js';
import { abi, field, flagBit } from '../../host/policy/abi.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { loadWat, runWat, sampleEntries } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';

const { OK, E_INVAL, E_DENIED, E_SCOPE, E_STATE } = abi.status;
const RESYNC = abi.batchFlags.RESYNC;

/** Each sample entry as an event message (CT_NEW), so zones 5, 5, 7, 7, 9, 9. */
const events = FakeKernel.fromSpecs(sampleEntries()).messages();
const destroy = (m: Uint8Array) => { const d = m.slice(); d[4] = 2; return d; }; // IPCTNL_MSG_CT_DELETE

function request(flags: number, zone?: number): Uint8Array {
  const b = new Uint8Array(16), v = new DataView(b.buffer);
  if (zone !== undefined) { flags |= flagBit('DumpRequest', 'flags', 'ZONE'); v.setUint16(field('DumpRequest', 'zone'), zone, true); }
  v.setUint16(field('DumpRequest', 'flags'), flags, true);
  return b;
}

/** Output records: [kind 1 = entries / 2 = events, flags, ...messages] per call, as the WAT below writes them. */
const TAGGED = (tag: number) => `(i32.store (i32.const 1000) (i32.const ${tag})) (i32.store (i32.const 1004) (local.get $flags))
  (drop (call $emit (i32.const 1000) (i32.const 8))) (drop (call $emit (local.get $ptr) (local.get $len))) (i32.const 0)`;

function calls(output: Uint8Array) {
  const out: { kind: string; flags: number; zones: number[] }[] = [];
  const v = new DataView(output.buffer, output.byteOffset, output.byteLength);
  let at = 4; // the subscribe status
  while (at < output.length) {
    const kind = v.getInt32(at, true) === 1 ? 'entries' : 'events', flags = v.getInt32(at + 4, true);
    at += 8;
    let end = at;
    // Messages run until the next 8-byte tag: walk by nlmsg_len.
    while (end < output.length && v.getUint32(end, true) > 8) end += (v.getUint32(end, true) + 3) & ~3;
    out.push({ kind, flags, zones: [...splitMessages(output.subarray(at, end))].map((m) => describeEntry(m).zone) });
    at = end;
  }
  return out;
}

const SUBSCRIBE = (req: Uint8Array) => ({
  init: '(call $report (call $subscribe (i32.const 0) (i32.const 16))) (i32.const 0)',
  extra: `(data (i32.const 0) ${dataString(req)})`,
  onEvents: TAGGED(2),
  onEntries: TAGGED(1),
});

test('events are delivered in batches, re-checked against the grant; lost events trigger a RESYNC dump', async () => {
  const r = await runWat(SUBSCRIBE(request(0)), {
    capabilities: { operations: ['read', 'events'], scope: { zones: [5, 7] } },
    entries: sampleEntries(),
    events: [Buffer.concat([events[0], events[4]]), 'overrun', Buffer.concat([destroy(events[2])])],
  });
  assert.is(r.codes[0], OK);
  assert.equal(calls(r.output), [
    { kind: 'events', flags: 0, zones: [5] }, // the zone 9 event never reaches the plugin
    { kind: 'entries', flags: RESYNC, zones: [5, 5] }, // resync: per-zone kernel dumps of the grant
    { kind: 'entries', flags: 0, zones: [7, 7] },
    { kind: 'events', flags: 0, zones: [7] },
  ]);
  assert.is(r.stats.events, 2);
  assert.is(r.stats.overruns, 1);
  assert.is(r.stats.filtered, 1);
  assert.equal(r.logs.map((l) => l.text), ['events were lost (kernel receive buffer overrun); the subscribed scope is dumped again (RESYNC)']);
});

test('a narrower subscription: one zone, only DESTROY events are asked of the kernel', async () => {
  const destroyBit = flagBit('DumpRequest', 'flags', 'EVENT_DESTROY');
  const r = await runWat(SUBSCRIBE(request(destroyBit, 7)), {
    capabilities: { operations: ['events'], scope: { zones: [5, 7] } },
    events: [Buffer.concat([events[0], destroy(events[2]), events[3]]), 'overrun'],
  });
  assert.equal(calls(r.output), [{ kind: 'events', flags: 0, zones: [7, 7] }]);
  assert.equal(r.logs.map((l) => l.text), ['events were lost (kernel receive buffer overrun)'], 'no read grant: no resync dump');
});

test('subscribe refusals: no grant, no on_events export, zone outside, twice, EVENT flags on dump', async () => {
  const denied = await runWat(SUBSCRIBE(request(0)), { capabilities: { operations: ['read'] } });
  assert.is(denied.codes[0], E_DENIED);
  const noExport = await runWat({ ...SUBSCRIBE(request(0)), onEvents: undefined }, { capabilities: { operations: ['events'] } });
  assert.is(noExport.codes[0], E_STATE);
  assert.equal(noExport.logs.map((l) => l.text), ['subscribe refused (E_STATE): the plugin does not export ctplug_on_events']);
  const outside = await runWat(SUBSCRIBE(request(0, 9)), { capabilities: { operations: ['events'], scope: { zones: [5] } } });
  assert.is(outside.codes[0], E_SCOPE);
  const twice = await runWat({
    ...SUBSCRIBE(request(0)),
    init: '(call $report (call $subscribe (i32.const 0) (i32.const 16))) (call $report (call $subscribe (i32.const 0) (i32.const 16))) (call $report (call $dump (i32.const 16) (i32.const 16))) (i32.const 0)',
    extra: `(data (i32.const 0) ${dataString(request(0))}) (data (i32.const 16) ${dataString(request(flagBit('DumpRequest', 'flags', 'EVENT_NEW')))})`,
  }, { capabilities: { operations: ['read', 'events'] } });
  assert.equal(twice.codes.slice(0, 3), [OK, E_STATE, E_INVAL]);
});

const SLOW_EVENTS = {
  ...SUBSCRIBE(request(0)),
  onEvents: '(local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 2000000)))) (i32.const 0)',
  finish: '(call $report (i32.const 77)) (i32.const 0)',
};
const manyEvents = () => Array.from({ length: 2000 }, () => events[0]);

test('stop() ends a subscribed run between batches; ctplug_finish still runs; the run resolves', async () => {
  const p = await loadWat(SLOW_EVENTS, { capabilities: { operations: ['events'] }, events: manyEvents() });
  const r = await p.run({ onProgress: (s) => { if (s.events >= 3) p.stop(); } });
  await p.close();
  assert.ok(r.stats.events >= 3 && r.stats.events < 2000, `stopped early (${r.stats.events} events)`);
  assert.equal([...new Int32Array(r.output.buffer, r.output.byteOffset, 2)], [OK, 77]);
});

test('an abort ends it the same way, but the run rejects with AbortError carrying what it did', async () => {
  const p = await loadWat(SLOW_EVENTS, { capabilities: { operations: ['events'] }, events: manyEvents() });
  const ac = new AbortController();
  const out: Uint8Array[] = [];
  const err = await p.run({ signal: ac.signal, onOutput: (b) => void out.push(b.slice()), onProgress: (s) => { if (s.events >= 3) ac.abort(); } }).catch((e) => e);
  await p.close();
  assert.instance(err, AbortError);
  assert.is(err.code, 'ABORTED');
  assert.ok(err.stats.events >= 3 && err.stats.events < 2000, `stopped early (${err.stats.events} events)`);
  const reported = Buffer.concat(out);
  assert.equal([...new Int32Array(reported.buffer, reported.byteOffset, 2)], [OK, 77], 'ctplug_finish ran');
});

test.run();
