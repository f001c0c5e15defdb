// The conntrack operations against the fake kernel: no root needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { CtError } from '../../host/conntrack/errors.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { splitMessages } from '../../host/netlink/message.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';

const flows = (n: number, zone: number, proto = 'udp'): CreateSpec[] =>
  Array.from({ length: n }, (_, i) => ({ protocol: proto, src: '10.0.0.1', dst: `10.0.${zone}.${i % 250}`, sport: 1000 + i, dport: 53, timeout: 60, zone, mark: i % 2 }));

function open(k: FakeKernel) {
  return Conntrack.open({ socket: k.socket(), actionSocket: k.socket() });
}

function dumpAll(ct: Conntrack, filter = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  ct.dumpSync(filter, new Uint8Array(65536), (b) => {
    for (const m of splitMessages(b)) out.push(m.slice());
  });
  return out;
}

test('create in batches, each outcome matched: duplicates fail with EEXIST at their index', () => {
  const k = new FakeKernel();
  const ct = open(k);
  const specs = flows(1200, 5);
  const r = ct.createSync(specs);
  assert.equal(r, { ok: 1200, gone: 0, failed: [] });
  assert.ok(k.calls.sends >= 3, 'split into several sends of many requests');
  assert.ok(k.calls.sends < 10);
  const again = ct.createSync([specs[7], { ...specs[7], sport: 9 }, specs[9]]);
  assert.is(again.ok, 1);
  assert.equal(again.failed.map((f) => [f.index, f.errno]), [[0, 'EEXIST'], [2, 'EEXIST']]);
});

test('dump filtered by zone and by mark/mask; zone 0 entries carry no CTA_ZONE', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync([...flows(30, 0), ...flows(20, 5), ...flows(10, 7)]);
  assert.is(dumpAll(ct).length, 60);
  assert.is(dumpAll(ct, { zone: 5 }).length, 20);
  assert.is(dumpAll(ct, { zone: 0 }).length, 30);
  assert.is(dumpAll(ct, { zone: 7, mark: 1, markMask: 1 }).length, 5);
  const z0 = dumpAll(ct, { zone: 0 }).map(scanEntry);
  assert.ok(z0.every((s) => s && s.zone === 0 && s.zoneAttr === undefined));
  assert.is(ct.countSync(), 60);
});

test('the event-loop dump delivers the same entries as the blocking one, and can stop early', async () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync([...flows(300, 5), ...flows(50, 7)]);
  const ids: number[] = [];
  await ct.dump({ zone: 5 }, async (b) => {
    for (const m of splitMessages(b)) ids.push(scanEntry(m)!.id!);
  });
  assert.equal(ids.sort(), dumpAll(ct, { zone: 5 }).map((m) => scanEntry(m)!.id!).sort());
  let batches = 0;
  const p = await ct.dump({}, () => (batches++, false));
  assert.is(batches, 1, 'stopped after the first batch');
  assert.is(p.batches, 1);
  assert.is(ct.countSync(), 350, 'the connection is usable after an early stop (the rest was drained)');
});

test('delete from the entries as returned: exact zone removed, vanished entries counted as gone', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync([...flows(40, 5), ...flows(25, 7)]);
  const zone5 = dumpAll(ct, { zone: 5 });
  const r = ct.deleteSync(zone5);
  assert.equal(r, { ok: 40, gone: 0, failed: [] });
  assert.is(dumpAll(ct, { zone: 7 }).length, 25);
  assert.is(dumpAll(ct, { zone: 5 }).length, 0);
  const again = ct.deleteSync(zone5.slice(0, 3));
  assert.equal(again, { ok: 0, gone: 3, failed: [] });
});

test('delete refuses bytes that are not a conntrack entry, per index, and sends nothing for them', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync(flows(3, 5));
  const [a, b] = dumpAll(ct);
  const junk = new Uint8Array(40);
  const r = ct.deleteSync([a, junk, b]);
  assert.is(r.ok, 2);
  assert.equal(r.failed, [{ index: 1, errno: 'EINVAL', message: 'not a conntrack entry message' }]);
});

test('an entry re-created with the same tuple is not deleted by a stale id', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync(flows(1, 5));
  const [old] = dumpAll(ct);
  ct.deleteSync([old]);
  ct.createSync(flows(1, 5));
  assert.equal(ct.deleteSync([old]), { ok: 0, gone: 1, failed: [] });
  assert.is(ct.countSync(), 1);
});

test('kernel errors mid-batch are reported per request; the rest are carried out', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync(flows(10, 5));
  const all = dumpAll(ct);
  k.inject({ type: 'delete', errno: 16, count: 2 }); // EBUSY for the first two
  const r = ct.deleteSync(all);
  assert.is(r.ok, 8);
  assert.equal(r.failed.map((f) => [f.index, f.errno]), [[0, 'EBUSY'], [1, 'EBUSY']]);
  assert.is(ct.countSync(), 2, 'the two refused entries are still there and were not reported deleted');
});

test('without CAP_NET_ADMIN: one EPERM for the whole send, reported as a privilege error', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync(flows(5, 5));
  const all = dumpAll(ct);
  k.unprivileged = true;
  const r = ct.deleteSync(all);
  assert.is(r.ok, 0);
  assert.is(r.failed.length, 5);
  assert.ok(r.failed.every((f) => f.errno === 'EPERM'));
  try {
    ct.countSync();
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CtError);
    assert.is((e as CtError).kind, 'privilege');
    assert.match((e as Error).message, /count: EPERM.*needs CAP_NET_ADMIN/);
  }
});

test('flush: by zone leaves other zones; all empties the table', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync([...flows(10, 5), ...flows(10, 7), ...flows(10, 0)]);
  ct.flushSync({ zone: 7 });
  assert.is(ct.countSync(), 20);
  assert.is(dumpAll(ct, { zone: 7 }).length, 0);
  ct.flushSync();
  assert.is(ct.countSync(), 0);
});

test('get by tuple and zone; no entry is null, not an error', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync([{ protocol: 'tcp', src: '1.1.1.1', dst: '2.2.2.2', sport: 5, dport: 6, timeout: 9, zone: 4 }]);
  const t = { family: 'ipv4' as const, protocol: 6, src: Uint8Array.of(1, 1, 1, 1), dst: Uint8Array.of(2, 2, 2, 2), sport: 5, dport: 6 };
  assert.ok(ct.getSync({ tuple: t, direction: 'original', zone: 4 }));
  assert.is(ct.getSync({ tuple: t, direction: 'original', zone: 3 }), null);
});

test('a table given as a Buffer (pooled: a view at an offset, whose slice() is no copy) is dumped whole', () => {
  const seed = new FakeKernel();
  open(seed).createSync(flows(6, 3));
  const table = Buffer.concat(seed.messages()); // under 4 KiB: from Node's shared pool, at an offset
  assert.ok(table.byteOffset > 0 || table.buffer.byteLength > table.length, 'a pooled Buffer');
  const ct = open(FakeKernel.fromMessages(splitMessages(table)));
  assert.is(dumpAll(ct).length, 6);
});

test('a failed dump start is a typed error', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync(flows(1, 0)); // an empty namespace is not dumped at all
  k.inject({ type: 'dump', errno: 22, count: 1 });
  try {
    dumpAll(ct);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CtError);
    assert.is((e as CtError).op, 'dump');
    assert.is((e as CtError).code, 'EINVAL');
  }
});

test('update: masked mark change keeps the other bits; vanished entries count as gone', () => {
  const k = new FakeKernel();
  const ct = open(k);
  ct.createSync([{ protocol: 'udp', src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2, timeout: 9, mark: 0x1234 }]);
  const [e] = dumpAll(ct);
  assert.equal(ct.updateSync([{ entry: e, mark: 0xab00, markMask: 0xff00 }]), { ok: 1, gone: 0, failed: [] });
  assert.is(scanEntry(dumpAll(ct)[0])!.mark, 0xab34);
  ct.flushSync();
  assert.equal(ct.updateSync([{ entry: e, mark: 1 }]), { ok: 0, gone: 1, failed: [] });
});

test('bad input never reaches the kernel', () => {
  const k = new FakeKernel();
  const ct = open(k);
  const before = k.calls.sends;
  assert.throws(() => ct.dumpSync({ zone: 70000 }, new Uint8Array(100), () => {}), /zone/);
  assert.throws(() => ct.createSync([{ protocol: 'udp', src: '1.1.1.1', dst: '2.2.2.2', sport: -1, dport: 2, timeout: 1 }]), /not a port/);
  assert.is(k.calls.sends, before);
});

test.run();
