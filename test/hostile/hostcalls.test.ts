// Hostile hostcall arguments: pointers outside memory, crafted out-of-scope or non-conntrack
// bytes, operations the grant does not include. Each is refused with its status; nothing reaches
// the kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi, field } from '../../host/policy/abi.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { ALL_OPS, runWat, sampleEntries } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';

const { OK, E_INVAL, E_BOUNDS, E_DENIED, E_SCOPE } = abi.status;
const PAGE = 65536;

// (ptr, len) pairs that must all be E_BOUNDS for a 1-page memory: negative pointer, negative
// length, huge pointer, a range crossing the end, a range whose end overflows 32 bits.
const BAD_SPANS: [number, number][] = [[-1, 16], [0, -1], [0x7fffffff, 16], [PAGE - 8, 16], [PAGE, 1], [0xfffffff0 | 0, 32], [16, 0x7ffffff0]];

test('every hostcall bounds-checks its (ptr, len): E_BOUNDS, never a host crash', async () => {
  const calls: string[] = [];
  const expected: number[] = [];
  // Every hostcall that takes memory (clock takes no pointer).
  for (const name of Object.keys(abi.imports).filter((n) => abi.imports[n as keyof typeof abi.imports].params.length >= 2)) {
    for (const [ptr, len] of BAD_SPANS) {
      const args = name === 'log' ? `(i32.const 2) (i32.const ${ptr}) (i32.const ${len})` : `(i32.const ${ptr}) (i32.const ${len})`;
      calls.push(`(call $report (call $${name} ${args}))`);
      expected.push(E_BOUNDS);
    }
  }
  const r = await runWat({ memory: '1 1', init: `${calls.join('\n')} (i32.const 0)` }, { capabilities: { operations: ALL_OPS }, entries: sampleEntries() });
  assert.equal(r.codes, expected);
  assert.is(r.stats.refused, expected.length);
  assert.is(r.table!.length, 6, 'nothing was deleted, created or flushed');
});

const zone9 = FakeKernel.fromSpecs([sampleEntries()[4]]).messages()[0];
const zone5 = FakeKernel.fromSpecs([sampleEntries()[0]]).messages()[0];
const DELETE_GRANT = { operations: ['read', 'delete'], scope: { zones: [5, 7] } };

async function deleteBytes(bytes: Uint8Array) {
  return runWat({
    init: `(call $report (call $delete (i32.const 0) (i32.const ${bytes.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(bytes)})`,
    memory: '2 2',
  }, { capabilities: DELETE_GRANT, entries: sampleEntries() });
}

test('delete of a crafted out-of-scope entry is E_SCOPE and nothing is sent', async () => {
  assert.is(describeEntry(zone9).zone, 9);
  const r = await deleteBytes(zone9);
  assert.equal(r.codes, [E_SCOPE]);
  assert.is(r.stats.deleted, 0);
  assert.is(r.table!.length, 6);
  assert.equal(r.logs.map((l) => l.text), ['delete refused (E_SCOPE): zone 9 is outside the grant']);
});

test('one bad message refuses the whole call: nothing of an in-scope + out-of-scope buffer is queued', async () => {
  const both = Buffer.concat([zone5, zone9]);
  const r = await deleteBytes(both);
  assert.equal(r.codes, [E_SCOPE]);
  assert.is(r.table!.length, 6);
  const ok = await deleteBytes(zone5);
  assert.equal(ok.codes, [1]);
  assert.is(ok.stats.deleted, 1);
  assert.is(ok.table!.length, 5);
});

test('an entry whose zone attribute was rewritten into scope is still judged by its bytes', async () => {
  // A zone-9 entry with its CTA_ZONE patched to 5 passes the scope check, but the delete the host
  // derives from those bytes is a zone-5 delete: it cannot reach the zone-9 entry.
  const forged = zone9.slice();
  const at = Buffer.from(forged).indexOf(Buffer.from([6, 0, 18, 0, 0, 9])); // nla_len 6, CTA_ZONE, be16 9
  assert.ok(at > 0);
  forged[at + 5] = 5;
  const r = await deleteBytes(forged);
  assert.equal(r.codes, [1], 'now a zone-5 delete request: allowed, and it matches nothing');
  assert.is(r.stats.deleted + r.stats.gone, 1);
  assert.equal(r.table!.map((m) => describeEntry(m).zone).sort(), [5, 5, 7, 7, 9, 9], 'the zone 9 entry survives');
});

test('non-conntrack bytes, truncated messages and trailing junk are E_INVAL', async () => {
  assert.equal((await deleteBytes(new TextEncoder().encode('not a netlink message at all'))).codes, [E_INVAL]);
  assert.equal((await deleteBytes(zone5.subarray(0, zone5.length - 8))).codes, [E_INVAL]);
  assert.equal((await deleteBytes(Buffer.concat([zone5, Buffer.from('junkjunk')]))).codes, [E_INVAL]);
  const notEntry = zone5.slice();
  notEntry[4] = 3; // nlmsg_type: NLMSG_DONE
  assert.equal((await deleteBytes(notEntry)).codes, [E_INVAL]);
});

test('dump amplification is capped; unknown flag bits are E_INVAL', async () => {
  const r = await runWat({
    init: `(local $i i32) (local $limited i32)
      (loop $l
        (if (i32.eq (call $dump (i32.const 0) (i32.const 16)) (i32.const -5)) (then (local.set $limited (i32.add (local.get $limited) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
      (call $report (local.get $limited))
      (i32.store16 (i32.const 2) (i32.const 0x8000))
      (call $report (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)`,
    onEntries: '(i32.const 0)',
  }, { capabilities: { operations: ['read'], scope: { zones: [5] } }, entries: sampleEntries() });
  assert.equal(r.codes, [36, E_INVAL]);
  assert.is(r.stats.dumps, 64);
  assert.equal(r.logs.map((l) => l.text), ['dump refused (E_LIMIT): more than 64 dumps in one run', 'dump refused (E_INVAL): unknown DumpRequest flag bits 0x8000']);
});

test('operations outside the grant are E_DENIED: flush, create, delete, dump, update', async () => {
  const r = await runWat({
    init: `(call $report (call $flush (i32.const 0) (i32.const 16)))
           (call $report (call $create (i32.const 0) (i32.const 64)))
           (call $report (call $delete (i32.const 0) (i32.const 16)))
           (call $report (call $update (i32.const 0) (i32.const 16)))
           (call $report (call $dump (i32.const 0) (i32.const 16)))
           (i32.const 0)`,
  }, { capabilities: { operations: [] }, entries: sampleEntries() });
  assert.equal(r.codes, [E_DENIED, E_DENIED, E_DENIED, E_DENIED, E_DENIED]);
  assert.is(r.table!.length, 6, 'no flush happened');
  assert.equal(r.logs.map((l) => l.text), [
    'flush refused (E_DENIED): needs the "flush" operation, which the grant does not include',
    'create refused (E_DENIED): needs the "create" operation, which the grant does not include',
    'delete refused (E_DENIED): needs the "delete" operation, which the grant does not include',
    'update refused (E_DENIED): needs the "update" operation, which the grant does not include',
    'dump refused (E_DENIED): needs the "read" operation, which the grant does not include',
  ]);
});

test('flush is narrowed to the grant: "all zones" flushes only granted zones', async () => {
  const r = await runWat({ init: '(call $report (call $flush (i32.const 0) (i32.const 16))) (i32.const 0)' },
    { capabilities: { operations: ['flush'], scope: { zones: [5, 7] } }, entries: sampleEntries() });
  assert.equal(r.codes, [OK]);
  assert.equal(r.table!.map((m) => describeEntry(m).zone), [9, 9]);
  const byProto = await runWat({ init: '(call $report (call $flush (i32.const 0) (i32.const 16))) (i32.const 0)' },
    { capabilities: { operations: ['flush'], scope: { protocols: ['udp'] } }, entries: sampleEntries() });
  assert.equal(byProto.table!.map((m) => describeEntry(m).protocol), ['tcp', 'tcp', 'tcp'], 'protocol scope: dump + scanner + delete');
});

test('create outside the grant is E_SCOPE; malformed records E_INVAL', async () => {
  const rec = (zone: number, protocol = 17, tcpState = 0) => {
    const b = new Uint8Array(64), v = new DataView(b.buffer);
    v.setUint8(field('CreateRecord', 'family'), 2); v.setUint8(field('CreateRecord', 'protocol'), protocol);
    v.setUint8(field('CreateRecord', 'tcpState'), tcpState);
    v.setUint8(field('CreateRecord', 'flags'), 1); v.setUint16(field('CreateRecord', 'zone'), zone, true);
    v.setUint32(field('CreateRecord', 'timeout'), 30, true);
    return b;
  };
  const r = await runWat({
    init: `(call $report (call $create (i32.const 0) (i32.const 64)))
           (call $report (call $create (i32.const 64) (i32.const 64)))
           (call $report (call $create (i32.const 0) (i32.const 63)))
           (call $report (call $create (i32.const 0) (i32.const 128))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(rec(9))}) (data (i32.const 64) ${dataString(rec(5, 6, 200))})`,
  }, { capabilities: { operations: ['create'], scope: { zones: [5] } } });
  assert.equal(r.codes, [E_SCOPE, E_INVAL, E_INVAL, E_SCOPE]);
  assert.is(r.stats.created, 0);
});

test('update: only markBits may change, re-derived from the entry bytes; sent after the call', async () => {
  const upd = (mark: number, mask: number) => {
    const b = new Uint8Array(16 + zone5.length), v = new DataView(b.buffer);
    v.setUint32(field('UpdateRecord', 'flags'), 1, true);
    v.setUint32(field('UpdateRecord', 'mark'), mark, true);
    v.setUint32(field('UpdateRecord', 'markMask'), mask, true);
    b.set(zone5, 16);
    return b;
  };
  const bad = upd(0x100, 0x100), good = upd(0x2, 0x2);
  const r = await runWat({
    init: `(call $report (call $update (i32.const 0) (i32.const ${bad.length})))
           (call $report (call $update (i32.const 512) (i32.const ${good.length})))
           (call $report (call $update (i32.const 512) (i32.const ${good.length - 1}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(bad)}) (data (i32.const 512) ${dataString(good)})`,
    memory: '2 2',
  }, { capabilities: { operations: ['update'], scope: { zones: [5], markBits: 0xff } }, entries: sampleEntries() });
  assert.equal(r.codes, [E_SCOPE, 1, E_INVAL]);
  assert.equal(r.logs.map((l) => l.text), [
    'update refused (E_SCOPE): mark bits 0x100 may not be changed (grant allows 0xff)',
    'update refused (E_INVAL): entry message runs past the buffer',
  ]);
  assert.is(r.stats.updated, 1);
  assert.equal(r.table!.map(describeEntry).filter((e) => e.zone === 5).map((e) => e.mark).sort(), [0, 7], 'tcp zone-5 entry: mark 5 | 2');
});

test.run();
