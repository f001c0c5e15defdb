// Issue 12, finding 4 (caps): operations queued during a call were unbounded (529 flushes in
// 10 ms; 67 updates of a 15 MiB entry reached 1 GB RSS; 491k creates took 622 MB). Every verb is
// now capped per call and per run, in operations and bytes, with E_LIMIT past the cap and nothing
// of the refused call queued. Fake kernel, no root; the time side is in queues-kernel.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi, field, flagBit } from '../../host/policy/abi.js';
import { runWat, sampleEntries } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';
import { record } from '../helpers/workers.js';

const { OK, E_LIMIT } = abi.status;

/** Calls `call` N times; reports how many returned `ok` and how many E_LIMIT (in that order). */
function loop(n: number, call: string, ok: number): string {
  return `(local $i i32) (local $r i32) (local $ok i32) (local $lim i32)
    (loop $l
      (local.set $r ${call})
      (if (i32.eq (local.get $r) (i32.const ${ok})) (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
      (if (i32.eq (local.get $r) (i32.const ${E_LIMIT})) (then (local.set $lim (i32.add (local.get $lim) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const ${n}))))
    (call $report (local.get $ok)) (call $report (local.get $lim))`;
}

function createRecord(): Uint8Array {
  const b = new Uint8Array(64), v = new DataView(b.buffer);
  v.setUint8(field('CreateRecord', 'family'), 2);
  v.setUint8(field('CreateRecord', 'protocol'), 17);
  v.setUint16(field('CreateRecord', 'srcPort'), 1111, true);
  v.setUint16(field('CreateRecord', 'dstPort'), 53, true);
  v.setUint32(field('CreateRecord', 'timeout'), 60, true);
  b.set([10, 0, 0, 1], field('CreateRecord', 'src'));
  b.set([10, 0, 0, 2], field('CreateRecord', 'dst'));
  return b;
}

test('flush: 600 in one call, 16 are queued, the rest E_LIMIT', async () => {
  const r = await runWat({ init: `${loop(600, '(call $flush (i32.const 0) (i32.const 16))', OK)} (i32.const 0)` },
    { name: 'flush-spam', capabilities: { operations: ['flush'], scope: { zones: [5] } }, entries: sampleEntries() });
  assert.equal(r.codes, [16, 584]);
  assert.is(r.stats.flushes, 16);
  assert.ok(r.logs.some((l) => l.text === 'flush refused (E_LIMIT): more than 16 flushes in one call'), JSON.stringify(r.logs));
  record({ kind: 'hostile', case: 'queue: 600 flushes in one call', outcome: '16 queued, 584 E_LIMIT', contained: true });
});

test('flush: across calls, 256 per run', async () => {
  // A flush that matches nothing (mark 0xdead/0xffff), 16 per on_entries call; every call also
  // schedules another dump of the same (unchanged) table, so calls keep coming until 64 dumps.
  const nothing = new Uint8Array(16), v = new DataView(nothing.buffer);
  v.setUint16(field('DumpRequest', 'flags'), flagBit('DumpRequest', 'flags', 'MARK'), true);
  v.setUint32(field('DumpRequest', 'mark'), 0xdead, true);
  v.setUint32(field('DumpRequest', 'markMask'), 0xffff, true);
  const r = await runWat({
    init: '(drop (call $dump (i32.const 32) (i32.const 16))) (i32.const 0)',
    onEntries: '(call $spam (local.get $ptr)) (drop (call $dump (i32.const 32) (i32.const 16))) (i32.const 0)',
    extra: `(func $spam (param $ptr i32) ${loop(20, '(call $flush (i32.const 0) (i32.const 16))', OK)}) (data (i32.const 0) ${dataString(nothing)})`,
  }, { name: 'flush-run', capabilities: { operations: ['read', 'flush'], scope: { zones: [5] } }, entries: sampleEntries() });
  const pairs = Array.from({ length: r.codes.length / 2 }, (_, i) => r.codes.slice(2 * i, 2 * i + 2));
  const queued = pairs.reduce((a, [ok]) => a + ok, 0);
  assert.is(queued, 256, JSON.stringify(pairs));
  assert.is(r.stats.flushes, 256);
  assert.equal(pairs.slice(0, 16), Array(16).fill([16, 4]), '16 per call ...');
  assert.ok(pairs.length > 17 && pairs.slice(16).every(([ok, lim]) => ok === 0 && lim === 20), `... then none: ${JSON.stringify(pairs)}`);
  record({ kind: 'hostile', case: 'queue: 20 flushes per call over 64 calls', outcome: '16 per call, 256 per run, then E_LIMIT', contained: true });
});

test('update: a 15 MiB entry 67 times in one call, one is queued (16 MiB per call), 66 E_LIMIT', async () => {
  const BIG = 1 << 20, FILL = 15 * 1024 * 1024;
  const rec = new Uint8Array(16), v = new DataView(rec.buffer);
  v.setUint32(field('UpdateRecord', 'flags'), flagBit('UpdateRecord', 'flags', 'TIMEOUT'), true);
  v.setUint32(field('UpdateRecord', 'timeout'), 100, true);
  // The delivered entry, grown to 15 MiB with attributes the host does not read (type 100).
  const build = `(local $p i32)
    (memory.copy (i32.const ${BIG}) (i32.const 512) (i32.const 16))
    (memory.copy (i32.const ${BIG + 16}) (local.get $ptr) (i32.load (local.get $ptr)))
    (local.set $p (i32.add (i32.const ${BIG + 16}) (i32.and (i32.add (i32.load (local.get $ptr)) (i32.const 3)) (i32.const -4))))
    (loop $f
      (i32.store16 (local.get $p) (i32.const 65532))
      (i32.store16 offset=2 (local.get $p) (i32.const 100))
      (local.set $p (i32.add (local.get $p) (i32.const 65532)))
      (br_if $f (i32.lt_u (local.get $p) (i32.const ${BIG + 16 + FILL}))))
    (i32.store (i32.const ${BIG + 16}) (i32.sub (local.get $p) (i32.const ${BIG + 16})))
    (global.set $len (i32.sub (local.get $p) (i32.const ${BIG})))`;
  const r = await runWat({
    init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(if (i32.eqz (global.get $len)) (then (call $build (local.get $ptr)) (call $spam (local.get $ptr)))) (i32.const 0)',
    extra: `(global $len (mut i32) (i32.const 0)) (func $build (param $ptr i32) ${build})
      (func $spam (param $ptr i32) ${loop(67, `(call $update (i32.const ${BIG}) (global.get $len))`, 1)}) (data (i32.const 512) ${dataString(rec)})`,
    memory: '288 288',
  }, { name: 'update-big', capabilities: { operations: ['read', 'update'], scope: { zones: [5] } }, limits: { memory_max_pages: 288 }, entries: sampleEntries() });
  assert.equal(r.codes, [1, 66]);
  assert.is(r.stats.updated, 1);
  assert.ok(r.logs.some((l) => /^update refused \(E_LIMIT\): more than 16777216 bytes of updates queued in one call$/.test(l.text)), JSON.stringify(r.logs));
  record({ kind: 'hostile', case: 'queue: 67 updates of a 15 MiB entry in one call', outcome: '1 queued, 66 E_LIMIT (16 MiB per call)', contained: true });
});

test('create: 100k single-record calls in one call, 65536 queued, the rest E_LIMIT', async () => {
  const r = await runWat({
    init: `${loop(100_000, '(call $create (i32.const 0) (i32.const 64))', 1)} (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(createRecord())})`,
  }, { name: 'create-spam', capabilities: { operations: ['create'] }, limits: { timeout_ms: 60_000 } });
  assert.equal(r.codes, [65_536, 100_000 - 65_536]);
  assert.is(r.stats.created + r.stats.failed, 65_536, 'one created, the rest EEXIST: every queued record was sent');
  record({ kind: 'hostile', case: 'queue: 100k creates in one call', outcome: '65536 queued, 34464 E_LIMIT', contained: true });
});

test('delete: 70k deletes of one delivered entry in one call, 65536 queued, the rest E_LIMIT', async () => {
  const r = await runWat({
    init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(if (i32.eqz (global.get $done)) (then (global.set $done (i32.const 1)) (call $spam (local.get $ptr)))) (i32.const 0)',
    extra: `(global $done (mut i32) (i32.const 0)) (func $spam (param $ptr i32) ${loop(70_000, '(call $delete (local.get $ptr) (i32.load (local.get $ptr)))', 1)})`,
  }, { name: 'delete-spam', capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, limits: { timeout_ms: 60_000 }, entries: sampleEntries() });
  assert.equal(r.codes, [65_536, 70_000 - 65_536]);
  assert.equal([r.stats.deleted, r.stats.gone], [1, 65_535]);
  record({ kind: 'hostile', case: 'queue: 70k deletes in one call', outcome: '65536 queued, 4464 E_LIMIT', contained: true });
});

test.run();
