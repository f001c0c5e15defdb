// The capability gate (host/scoped) on its own: no Wasm, no worker. It is driven as a plugin's
// hostcalls or a daemon's session would drive it, over ConntrackOps backed by the fake kernel,
// once synchronously (Conntrack: nothing is a promise) and once through an asynchronous
// transport (every answer a promise, as a daemon client's): the same requests, the same outcome.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { decodeFlow } from '../../host/conntrack/flow.js';
import { type ConntrackOps, kernelOps, type OpsCursor } from '../../host/conntrack/ops.js';
import { splitMessages } from '../../host/netlink/message.js';
import { abi } from '../../host/policy/abi.js';
import { parseScope, type Operation, type ScopeDocument } from '../../host/policy/capabilities.js';
import type { Grant } from '../../host/policy/grant.js';
import { DEFAULT_LIMITS } from '../../host/policy/limits.js';
import { Refusal, ScopedConntrack } from '../../host/scoped/gate.js';
import { emptyOpStats } from '../../host/scoped/stats.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { dumpRequest, flags, record, withMessages } from '../helpers/records.js';

const { OK, E_SCOPE, E_DENIED, E_INVAL, E_STATE } = abi.status;

const entries: CreateSpec[] = [5, 7].flatMap((zone) => [
  { protocol: 'tcp', src: '10.0.0.1', dst: `10.0.${zone}.2`, sport: 1234, dport: 80, zone, mark: 0x10 | zone, tcpState: 'ESTABLISHED', timeout: 120 },
  { protocol: 'udp', src: '10.0.0.1', dst: `10.0.${zone}.3`, sport: 5353, dport: 53, zone, mark: 0x20 | zone, timeout: 30 },
]);

function grantOf(operations: Operation[], scope: ScopeDocument = {}): Grant {
  return { plugin: 't', operations, scope: parseScope(scope, 'scope', (m) => { throw new Error(m); }), limits: { ...DEFAULT_LIMITS } };
}

/** The same operations, every answer a promise (as over a socket). */
function asynchronous(ops: ConntrackOps): ConntrackOps {
  const later = <T>(x: T | Promise<T>) => new Promise<T>((r) => setImmediate(() => r(x)));
  return {
    dump(filter, onRestart): OpsCursor {
      const c = ops.dump(filter, onRestart);
      return { next: () => later(c.next()), stop: () => later(c.stop()) };
    },
    delete: (e, c) => later(ops.delete(e, c)),
    update: (i, c) => later(ops.update(i, c)),
    create: (e) => later(ops.create(e)),
    flush: (f, c) => later(ops.flush(f, c)),
    subscribe: (k, f) => ops.subscribe(k, f),
  };
}

function setup(operations: Operation[], scope: ScopeDocument, async: boolean) {
  const k = FakeKernel.fromSpecs(entries);
  const direct = kernelOps(Conntrack.open({ socket: k.socket(), actionSocket: k.socket() }));
  const stats = emptyOpStats();
  const notes: string[] = [];
  const gate = new ScopedConntrack(async ? asynchronous(direct) : direct, grantOf(operations, scope), stats, (_k, _l, t) => notes.push(t));
  return { k, gate, stats, notes };
}

/** Every batch the gate hands out for its scheduled dumps (copies). */
async function delivered(gate: ScopedConntrack): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const buf = new Uint8Array(128 * 1024);
  for (const plan of gate.dumps) {
    await gate.deliver(plan, { into: () => buf, batch: (len) => (out.push(...[...splitMessages(buf.subarray(0, len))].map((m) => m.slice())), true), stopped: () => false });
  }
  return out;
}

for (const async of [false, true]) {
  const mode = async ? 'asynchronous ops' : 'synchronous ops';

  test(`${mode}: a dump is narrowed to the grant and every entry handed out is inside it`, async () => {
    const { gate, stats } = setup(['read'], { zones: [5], mark: { value: 0x10, mask: 0xf0 } }, async);
    assert.is(gate.dump(dumpRequest()), OK);
    const refused = gate.dump(dumpRequest({ zone: 7 }));
    assert.ok(refused instanceof Refusal);
    assert.is((refused as Refusal).status, E_SCOPE);
    const got = (await delivered(gate)).map(describeEntry);
    assert.equal(got.map((e) => [e.zone, e.mark]), [[5, 0x15]]);
    assert.is(stats.entries, 1);
    assert.is(stats.dumps, 1);
  });

  test(`${mode}: deliver is synchronous exactly when the ops are`, () => {
    const { gate } = setup(['read'], {}, async);
    gate.dump(dumpRequest());
    const r = gate.deliver(gate.dumps[0], { into: () => new Uint8Array(128 * 1024), batch: () => true, stopped: () => false });
    assert.is(r instanceof Promise, async);
    return r instanceof Promise ? r.then(() => undefined) : undefined;
  });

  test(`${mode}: a delete of an entry outside the grant refuses the whole request; inside, it is sent after send()`, async () => {
    const { k, gate, stats } = setup(['read', 'delete'], { zones: [5] }, async);
    const all = k.messages();
    const zone7 = all.filter((m) => describeEntry(m).zone === 7);
    const zone5 = all.filter((m) => describeEntry(m).zone === 5);
    const out = gate.delete(Buffer.concat([zone5[0], zone7[0]]));
    assert.ok(out instanceof Refusal && out.status === E_SCOPE, 'refused');
    assert.is(gate.delete(Buffer.concat(zone5)), 2);
    assert.is(k.size, 4, 'nothing sent before send()');
    await gate.send();
    assert.is(stats.deleted, 2);
    assert.equal(k.messages().map((m) => describeEntry(m).zone), [7, 7]);
  });

  test(`${mode}: update may change only the grant's mark bits; a discarded call sends nothing`, async () => {
    const { k, gate, stats } = setup(['read', 'update'], { markBits: 0xff00 }, async);
    const m = k.messages()[0];
    const upd = (mark: number, mask: number) => withMessages([[record('UpdateRecord', { flags: flags('UpdateRecord', 'MARK'), mark, markMask: mask }), m]]);
    const out = gate.update(upd(1, 0xff));
    assert.ok(out instanceof Refusal && out.status === E_SCOPE && /mark bits 0xff may not be changed/.test(out.why));
    assert.is(gate.update(upd(0x4200, 0xff00)), 1);
    gate.discard();
    await gate.send();
    assert.is(stats.updated, 0);
    assert.is(gate.update(upd(0x4200, 0xff00)), 1);
    await gate.send();
    assert.is(stats.updated, 1);
    assert.is(describeEntry(k.messages().find((x) => describeEntry(x).dst === describeEntry(m).dst)!).mark, 0x4215);
  });

  test(`${mode}: operations the grant lacks are E_DENIED, malformed requests E_INVAL, a second subscribe E_STATE`, () => {
    const { gate } = setup(['read', 'events'], {}, async);
    for (const [r, status] of [
      [gate.delete(new Uint8Array(4)), E_DENIED], [gate.flush(dumpRequest()), E_DENIED], [gate.create(new Uint8Array(64)), E_DENIED],
      [gate.dump(new Uint8Array(15)), E_INVAL], [gate.dump(dumpRequest({ events: ['NEW'] })), E_INVAL],
      [gate.subscribe(dumpRequest({ events: ['NEW'] })), OK], [gate.subscribe(dumpRequest()), E_STATE],
    ] as const) assert.is(r instanceof Refusal ? r.status : r, status);
    assert.equal(gate.subscription!.kinds, ['NEW']);
  });

  test(`${mode}: a flush the kernel cannot filter exactly (a protocol-limited grant) deletes only the granted entries`, async () => {
    const { k, gate, stats } = setup(['flush'], { protocols: ['udp'] }, async);
    assert.is(gate.flush(dumpRequest({ zone: 5 })), OK);
    await gate.send();
    assert.is(stats.flushes, 1);
    assert.is(stats.deleted, 1);
    assert.equal(k.messages().map((m) => { const e = describeEntry(m); return `${e.protocol}/${e.zone}`; }).sort(), ['tcp/5', 'tcp/7', 'udp/7']);
  });

  test(`${mode}: create is checked against the grant's scope`, async () => {
    const { k, gate, stats } = setup(['create'], { zones: [5] }, async);
    const rec = (zone: number) => record('CreateRecord', {
      family: 2, protocol: 17, flags: flags('CreateRecord', 'ZONE'), zone, srcPort: 1, dstPort: 2, timeout: 60,
      src: new Uint8Array([10, 9, 0, 1]), dst: new Uint8Array([10, 9, 0, 2]),
    });
    const out = gate.create(rec(7));
    assert.ok(out instanceof Refusal && out.status === E_SCOPE);
    assert.is(gate.create(rec(5)), 1);
    await gate.send();
    assert.is(stats.created, 1);
    assert.is(k.size, 5);
  });
}

test('update records: conntrack\'s mark rule (MARK_XOR) may change MASK | VALUE bits; the extension sets status, labels, state', async () => {
  const { k, gate, stats } = setup(['read', 'update'], { markBits: 0xffff }, false);
  const tcp = k.messages().find((m) => describeEntry(m).protocol === 'tcp' && describeEntry(m).zone === 5)!;
  const udp = k.messages().find((m) => describeEntry(m).protocol === 'udp')!;
  const rec = (f: string[], x: Record<string, number> = {}) => record('UpdateRecord', { flags: flags('UpdateRecord', ...f), ...x });
  const ext = (f: string[], x: Record<string, number | Uint8Array> = {}) => record('UpdateExt', { flags: flags('UpdateExt', ...f), ...x });
  const one = (parts: Uint8Array[], m: Uint8Array) => withMessages([[Buffer.concat(parts), m]]);
  const status = (r: unknown) => (r instanceof Refusal ? r.status : r);
  assert.is(status(gate.update(one([rec(['MARK', 'MARK_XOR'], { mark: 1, markMask: 1 })], tcp))), E_INVAL, 'MARK and MARK_XOR exclude each other');
  const outside = gate.update(one([rec(['MARK_XOR'], { mark: 0x10301, markMask: 0xff00 })], tcp));
  assert.ok(outside instanceof Refusal && outside.status === E_SCOPE && /0x10000 may not be changed/.test(outside.why), 'VALUE bits outside MASK are changed bits too');
  assert.is(status(gate.update(one([rec(['EXT']), ext(['STATUS'], { status: 1 << 9 })], tcp))), E_INVAL, 'DYING cannot be set');
  assert.is(status(gate.update(one([rec(['EXT']), ext(['STATE'], { state: 3 })], udp))), E_INVAL, 'udp has no state');
  assert.is(status(gate.update(one([rec(['EXT']), ext(['STATE'], { state: 99 })], tcp))), E_INVAL, 'no tcp state 99');
  assert.is(status(gate.update(one([rec(['EXT']), ext([])], tcp))), E_INVAL, 'an extension that sets nothing');
  assert.is(status(gate.update(Buffer.concat([rec(['EXT']), new Uint8Array(8)]))), E_INVAL, 'truncated extension');
  assert.is(gate.update(one([rec(['MARK_XOR', 'EXT'], { mark: 0x301, markMask: 0xff00 }), ext(['STATUS', 'LABELS'], { status: 4, labels: new Uint8Array([2]), labelsMask: new Uint8Array([2]) })], tcp)), 1);
  await gate.send();
  assert.is(stats.updated, 1);
  const after = decodeFlow(k.messages().find((m) => describeEntry(m).dst === describeEntry(tcp).dst)!)!;
  assert.is(after.mark, (0x15 & ~0xff00) ^ 0x301);
  assert.ok(after.flags.includes('ASSURED'), JSON.stringify(after.flags));
  assert.equal(after.labels, [1]);
});

test.run();
