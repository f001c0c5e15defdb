// Host guards that used to be covered only by kernel tests (root), or not at all, checked without
// root against the fake kernel: the update scope check, the "new mark stays inside the grant's
// mark filter" check, and the kernel-version gate before a kernel-side zone flush (a kernel before
// 6.8 ignores CTA_ZONE in a filtered delete and empties the whole table; the fake kernel does the
// same when told it is 6.7).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { flushRequest } from '../../host/conntrack/request.js';
import { NetlinkConnection } from '../../host/netlink/connection.js';
import { abi, field, flagBit } from '../../host/policy/abi.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { runWat, sampleEntries } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';

const { E_SCOPE } = abi.status;
const entries = sampleEntries(); // zones 5, 7, 9: one tcp (mark = zone), one udp each
const zoneOf = (n: number) => FakeKernel.fromSpecs(entries).messages().filter((m) => describeEntry(m).zone === n);
const zones = (table: Uint8Array[] | undefined) => (table ?? []).map((m) => describeEntry(m).zone).sort();

function updateRecord(entry: Uint8Array, mark: number, mask: number): Uint8Array {
  const b = new Uint8Array(16 + ((entry.length + 3) & ~3)), v = new DataView(b.buffer);
  v.setUint32(field('UpdateRecord', 'flags'), flagBit('UpdateRecord', 'flags', 'MARK'), true);
  v.setUint32(field('UpdateRecord', 'mark'), mark, true);
  v.setUint32(field('UpdateRecord', 'markMask'), mask, true);
  b.set(entry, 16);
  return b;
}

test('update of another zone\'s entry is E_SCOPE and nothing changes (the update scope check)', async () => {
  const rec = updateRecord(zoneOf(7)[0], 0x1, 0x1);
  const r = await runWat({ init: `(call $report (call $update (i32.const 0) (i32.const ${rec.length}))) (i32.const 0)`, extra: `(data (i32.const 0) ${dataString(rec)})`, memory: '2 2' },
    { capabilities: { operations: ['update'], scope: { zones: [5], markBits: 0xff } }, entries });
  assert.equal(r.codes, [E_SCOPE]);
  assert.equal(r.logs.map((l) => l.text), ['update refused (E_SCOPE): zone 7 is outside the grant']);
  assert.is(r.stats.updated, 0);
});

test('update that would move an entry out of the grant\'s mark filter (mark 0x10/0xf0, markBits 0xff) is E_SCOPE', async () => {
  const specs: CreateSpec[] = [{ protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, timeout: 60, mark: 0x10 }];
  const m = FakeKernel.fromSpecs(specs).messages()[0];
  const out = updateRecord(m, 0x20, 0xf0), inside = updateRecord(m, 0x1f, 0x0f);
  const r = await runWat({
    init: '(drop (call $dump (i32.const 2048) (i32.const 16))) (i32.const 0)',
    onEntries: `(call $report (call $update (i32.const 0) (i32.const ${out.length}))) (call $report (call $update (i32.const 512) (i32.const ${inside.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(out)}) (data (i32.const 512) ${dataString(inside)})`,
    memory: '2 2',
  }, { capabilities: { operations: ['read', 'update'], scope: { mark: { value: 0x10, mask: 0xf0 }, markBits: 0xff } }, entries: specs });
  assert.equal(r.codes, [E_SCOPE, 1], JSON.stringify(r.logs));
  assert.equal(r.logs.map((l) => l.text), ['update refused (E_SCOPE): new mark 0x20 would be outside the grant']);
  assert.equal(r.table!.map((e) => describeEntry(e).mark), [0x1f], 'only the update inside the filter was applied');
});

for (const release of ['6.7.0', '6.8.0']) {
  test(`a zone-5 flush grant on a ${release} kernel removes zone 5 only`, async () => {
    const r = await runWat({ init: '(drop (call $flush (i32.const 0) (i32.const 16))) (i32.const 0)' },
      { capabilities: { operations: ['flush'], scope: { zones: [5] } }, entries, kernelRelease: release });
    assert.is(r.stats.flushes, 1);
    assert.equal(zones(r.table), [7, 7, 9, 9]);
  });

  test(`deleteZoneSync on a ${release} kernel removes that zone only`, () => {
    const k = FakeKernel.fromSpecs(entries, { release });
    const ct = Conntrack.open({ socket: k.socket(), actionSocket: k.socket(), kernelRelease: release });
    ct.deleteZoneSync(7);
    assert.equal(zones(k.messages()), [5, 5, 9, 9]);
  });
}

test('the fake kernel models the old kernels the gate is for: a zone-filtered flush request on 6.7 empties the table', () => {
  const k = FakeKernel.fromSpecs(entries, { release: '6.7.0' });
  new NetlinkConnection(k.socket()).requestSync((enc, seq) => flushRequest(enc, seq, { zone: 5 }));
  assert.is(k.size, 0);
});

test('Conntrack.flushSync({ zone }) on a 6.7 kernel removes that zone only, and says how many', () => {
  const k = FakeKernel.fromSpecs(entries, { release: '6.7.0' });
  const r = Conntrack.open({ socket: k.socket(), actionSocket: k.socket(), kernelRelease: '6.7.0' }).flushSync({ zone: 5 });
  assert.is(r?.ok, 2);
  assert.equal(zones(k.messages()), [7, 7, 9, 9]);
});

test.run();
