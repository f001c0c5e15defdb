// Held entries (issue 12, finding 1) without root. The fake kernel's table and the event script
// are independent, so an event can show the plugin an entry as it no longer is in the table:
// mark 0x10 (inside the grant) where the table now has 0x20, or an id the table's entry with that
// tuple no longer has. The host must confirm the table's current entry before acting; bytes of a
// DESTROY event and entry bytes without CTA_ID are refused outright.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { abi, field, flagBit } from '../../host/policy/abi.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { runWat } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';

const { E_SCOPE, E_INVAL } = abi.status;
const GRANT = { zones: [5], mark: { value: 0x10, mask: 0xff }, markBits: 0xff00 };
const flow = (mark: number): CreateSpec => ({ protocol: 'udp', src: '10.5.0.1', dst: '198.51.100.9', sport: 4001, dport: 53, timeout: 600, zone: 5, mark });
const tableEntry = (mark: number) => FakeKernel.fromSpecs([flow(mark)]).messages()[0];

/** The table's message as an event says it: mark and/or id rewritten, or turned into a DESTROY. */
function asEvent(m: Uint8Array, o: { mark?: number; id?: number; destroy?: boolean }): Uint8Array {
  const b = m.slice(), v = new DataView(b.buffer);
  const s = scanEntry(b)!;
  if (o.id !== undefined) v.setUint32(s.idOffset + 4, o.id, false);
  if (o.mark !== undefined) {
    const at = Buffer.from(b).indexOf(Buffer.from([8, 0, 8, 0])); // CTA_MARK
    v.setUint32(at + 4, o.mark, false);
  }
  v.setUint16(4, o.destroy ? (1 << 8) | 2 : (1 << 8), true);
  v.setUint16(6, o.destroy ? 0 : 0x600, true); // NEW: CREATE|EXCL
  return b;
}

const SUB = (() => {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint16(field('DumpRequest', 'flags'), flagBit('DumpRequest', 'flags', 'EVENT_NEW') | flagBit('DumpRequest', 'flags', 'EVENT_DESTROY'), true);
  return b;
})();

/** An UpdateRecord (mark 0x4200/0xff00, timeout 0) written in front of the event's bytes. */
const UPDATE_REC = (() => {
  const b = new Uint8Array(16), v = new DataView(b.buffer);
  v.setUint32(field('UpdateRecord', 'flags'), flagBit('UpdateRecord', 'flags', 'MARK') | flagBit('UpdateRecord', 'flags', 'TIMEOUT'), true);
  v.setUint32(field('UpdateRecord', 'mark'), 0x4200, true);
  v.setUint32(field('UpdateRecord', 'markMask'), 0xff00, true);
  return b;
})();

/** A plugin that acts (delete, or update) on every event batch it gets, with the event's own bytes. */
async function actOnEvent(verb: 'delete' | 'update', tableMark: number, event: Uint8Array) {
  const act = verb === 'delete'
    ? '(call $report (call $delete (local.get $ptr) (local.get $len)))'
    : `(memory.copy (i32.const 16) (local.get $ptr) (local.get $len)) (call $report (call $update (i32.const 0) (i32.add (i32.const 16) (local.get $len))))`;
  return runWat({
    init: '(drop (call $subscribe (i32.const 512) (i32.const 16))) (i32.const 0)',
    onEvents: `${act} (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(UPDATE_REC)}) (data (i32.const 512) ${dataString(SUB)})`,
    memory: '8 8',
  }, { name: `held-${verb}`, capabilities: { operations: ['events', verb], scope: GRANT }, entries: [flow(tableMark)], events: [event] });
}

for (const verb of ['delete', 'update'] as const) {
  test(`${verb}: an event shows mark 0x10, the table's entry has 0x20 now: confirmed and left alone`, async () => {
    const r = await actOnEvent(verb, 0x20, asEvent(tableEntry(0x20), { mark: 0x10 }));
    assert.equal(r.codes, [1], 'queued: the bytes are in scope and were shown');
    assert.equal([r.stats.deleted, r.stats.updated, r.stats.changed], [0, 0, 1]);
    assert.equal(r.table!.map((m) => describeEntry(m).mark), [0x20], 'the entry is as it was');
  });

  test(`${verb}: an event shows id 99, the table's entry with that tuple is another one (id 1): confirmed and left alone`, async () => {
    const r = await actOnEvent(verb, 0x10, asEvent(tableEntry(0x10), { id: 99 }));
    assert.equal(r.codes, [1]);
    assert.equal([r.stats.deleted, r.stats.updated, r.stats.changed], [0, 0, 1]);
    assert.equal(r.table!.map((m) => describeEntry(m).mark), [0x10]);
  });

  test(`${verb}: the bytes of a DESTROY event are refused (E_SCOPE)`, async () => {
    const r = await actOnEvent(verb, 0x10, asEvent(tableEntry(0x10), { destroy: true }));
    assert.equal(r.codes, [E_SCOPE]);
    assert.match(r.logs.map((l) => l.text).join('\n'), /bytes of a DESTROY event: that entry no longer exists/);
    assert.is(r.table!.length, 1);
  });
}

test('entry bytes without CTA_ID are refused (E_INVAL): every delete and update carries the id', async () => {
  const m = tableEntry(0x10);
  const s = scanEntry(m)!;
  const noId = new Uint8Array(m.length - 8);
  noId.set(m.subarray(0, s.idOffset));
  noId.set(m.subarray(s.idOffset + 8), s.idOffset);
  new DataView(noId.buffer).setUint32(0, noId.length, true);
  const r = await runWat({ init: `(call $report (call $delete (i32.const 0) (i32.const ${noId.length}))) (i32.const 0)`, extra: `(data (i32.const 0) ${dataString(noId)})` },
    { capabilities: { operations: ['delete'], scope: { zones: [5] } }, entries: [flow(0x10)] });
  assert.equal(r.codes, [E_INVAL]);
  assert.equal(r.logs.map((l) => l.text), ['delete refused (E_INVAL): the entry message has no CTA_ID (the kernel sends one with every entry)']);
});

test.run();
