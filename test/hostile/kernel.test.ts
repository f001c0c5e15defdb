// Hostile plugins against the REAL kernel (root, own netns): out-of-scope dumps, crafted deletes
// of another zone's entry (real kernel bytes in the plugin's data segment), bytes that are not a
// conntrack entry, flush/create without a grant, mark bits outside markBits, bad pointers, and
// plugins killed with operations queued. For every case the table is compared with
// `conntrack -L -o id` (timeouts stripped) before and after: it must be exactly as before, except
// for the positive controls, whose one allowed change is asserted exactly.
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { splitMessages } from '../../host/netlink/message.js';
import { abi, field, flagBit } from '../../host/policy/abi.js';
import { PluginTimeoutError, PluginTrapError } from '../../host/runtime/errors.js';
import { conntrackIn, kernelSuite, makeNetns, removeNetns } from '../helpers/netns.js';
import { ALL_OPS, runWat, type WatRun } from '../helpers/wasm-run.js';
import { dataString, type PluginParts } from '../helpers/wasm.js';
import { killed, record, settled, workers } from '../helpers/workers.js';

const { t, it, skip } = kernelSuite('hostile plugins (kernel)', 'test/hostile/kernel.test.ts');
const { OK, E_INVAL, E_BOUNDS, E_DENIED, E_SCOPE } = abi.status;
let ns = '';

/** Zones 0, 5 and 7: tcp with marks 0x100 / 0x1, udp, IPv6 udp. */
const SPECS: CreateSpec[] = [0, 5, 7].flatMap((zone) => [
  { protocol: 'tcp', src: `10.${zone}.0.1`, dst: '198.51.100.1', sport: 40001, dport: 443, tcpState: 'ESTABLISHED', timeout: 600, zone, mark: 0x100 },
  { protocol: 'tcp', src: `10.${zone}.0.2`, dst: '198.51.100.1', sport: 40002, dport: 443, tcpState: 'ESTABLISHED', timeout: 600, zone, mark: 0x1 },
  { protocol: 'udp', src: `10.${zone}.0.3`, dst: '198.51.100.53', sport: 50003, dport: 53, timeout: 600, zone },
  { protocol: 'udp', src: `2001:db8:${zone}::4`, dst: '2001:db8:ffff::53', sport: 50004, dport: 53, timeout: 600, zone },
]);

function withCt<T>(fn: (ct: Conntrack) => T): T {
  const ct = Conntrack.open({ netns: ns });
  try { return fn(ct); } finally { ct.close(); }
}

function seed(extra: CreateSpec[] = []): void {
  withCt((ct) => {
    ct.flushSync();
    const specs = [...SPECS, ...extra];
    const r = ct.createSync(specs);
    if (r.ok !== specs.length) throw new Error(`seeding: ${JSON.stringify(r.failed.slice(0, 3))}`);
  });
}

/** `conntrack -L -o id` lines without the (ticking) timeout column, sorted: the table's identity. */
function snapshot(): string[] {
  return conntrackIn(ns, ['-L', '-o', 'id']).split('\n').filter(Boolean)
    .map((l) => l.replace(/^((?:ipv[46]\s+\d+\s+)?\S+\s+\d+\s+)\d+ /, '$1')).sort();
}
const zoneOfLine = (l: string) => Number(l.match(/ zone=(\d+)/)?.[1] ?? 0);

/** Real kernel messages of one zone, as a dump delivers them. */
function kernelEntries(zone: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  withCt((ct) => ct.dumpSync({ zone }, new Uint8Array(65536), (b) => { for (const m of splitMessages(b)) out.push(m.slice()); }));
  return out;
}

function dumpRequest(o: { zone?: number; family?: number } = {}): Uint8Array {
  const b = new Uint8Array(16), v = new DataView(b.buffer);
  if (o.family) v.setUint8(field('DumpRequest', 'family'), o.family);
  if (o.zone !== undefined) {
    v.setUint16(field('DumpRequest', 'flags'), flagBit('DumpRequest', 'flags', 'ZONE'), true);
    v.setUint16(field('DumpRequest', 'zone'), o.zone, true);
  }
  return b;
}

/** Runs a WAT plugin with the kernel backend; asserts the table is exactly `expected(before)` afterwards. */
async function contained(name: string, parts: PluginParts, o: WatRun, expected = (before: string[]) => before) {
  const before = snapshot();
  assert.ok(before.length >= SPECS.length, 'table seeded');
  let result: Awaited<ReturnType<typeof runWat>> | undefined, error: unknown;
  try { result = await runWat(parts, { ...o, netns: ns }); } catch (e) { error = e; }
  const after = snapshot();
  assert.equal(after, expected(before).sort(), `${name}: the kernel table is exactly as expected`);
  return { result, error, before, after };
}

function codesOf(output: Uint8Array, n: number): number[] {
  const v = new DataView(output.buffer, output.byteOffset, output.byteLength);
  return Array.from({ length: n }, (_, i) => v.getInt32(4 * i, true));
}

if (!skip) {
  t.before(() => { ns = makeNetns(); });
  t.after(() => removeNetns(ns));
  t.before.each(() => seed());
}

it('dump of "all zones" by a zone-5 plugin delivers only zone 5; an explicit zone 7 is E_SCOPE', async () => {
  const { result } = await contained('dump', {
    init: '(call $report (call $dump (i32.const 0) (i32.const 16))) (call $report (call $dump (i32.const 16) (i32.const 16))) (i32.const 0)',
    onEntries: '(drop (call $emit (local.get $ptr) (local.get $len))) (i32.const 0)',
    extra: `(data (i32.const 0) ${dataString(dumpRequest())}) (data (i32.const 16) ${dataString(dumpRequest({ zone: 7 }))})`,
  }, { capabilities: { operations: ['read'], scope: { zones: [5] } } });
  const r = result!;
  assert.equal(codesOf(r.output, 2), [OK, E_SCOPE]);
  const seen = [...splitMessages(r.output.subarray(8))].map((m) => scanEntry(m)!);
  assert.is(seen.length, conntrackIn(ns, ['-L', '-w', '5']).split('\n').filter(Boolean).length);
  assert.ok(seen.every((s) => s.zone === 5), 'zone 5 only');
  assert.is(r.stats.entries, 4);
  assert.is(r.stats.filtered, 0, 'the kernel filter already narrowed it (CTA_ZONE dump)');
  record({ kind: 'hostile', case: 'kernel: dump all zones with a zone-5 grant / explicit zone 7', outcome: `saw ${seen.length} zone-5 entries only; zone 7 E_SCOPE; table unchanged`, contained: true });
});

it('delete of a real zone-7 entry (kernel bytes in the data segment) by a zone-5 plugin: E_SCOPE, table unchanged', async () => {
  const zone7 = kernelEntries(7);
  assert.is(zone7.length, 4);
  const one = zone7[0], all7 = Buffer.concat(zone7.map((m) => Buffer.concat([m, Buffer.alloc((4 - (m.length % 4)) % 4)])));
  const zone5 = kernelEntries(5)[0];
  const mixed = Buffer.concat([zone5, one]);
  const { result } = await contained('delete zone 7', {
    init: `(call $report (call $delete (i32.const 0) (i32.const ${one.length})))
           (call $report (call $delete (i32.const 2048) (i32.const ${all7.length})))
           (call $report (call $delete (i32.const 8192) (i32.const ${mixed.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(one)}) (data (i32.const 2048) ${dataString(all7)}) (data (i32.const 8192) ${dataString(mixed)})`,
    memory: '1 1',
  }, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } } });
  const r = result!;
  assert.equal(r.codes, [E_SCOPE, E_SCOPE, E_SCOPE], 'one zone-7 entry, all four, and zone 5 + zone 7 together: all refused whole');
  assert.is(r.stats.deleted + r.stats.gone + r.stats.failed, 0, 'nothing was sent');
  assert.equal(r.logs.map((l) => l.text), ['delete refused (E_SCOPE): zone 7 is outside the grant']);
  record({ kind: 'hostile', case: 'kernel: crafted delete of zone-7 entries by a zone-5 plugin', outcome: 'E_SCOPE x3; nothing sent; table unchanged', contained: true });
});

it('zone-7 bytes with CTA_ZONE rewritten to 5: a zone-5 delete that finds nothing (gone); zone 7 intact', async () => {
  const forged = kernelEntries(7)[2].slice(); // udp 10.7.0.3 (no zone-5 entry has that tuple)
  const at = Buffer.from(forged).indexOf(Buffer.from([6, 0, 18, 0, 0, 7]));
  assert.ok(at > 0, 'CTA_ZONE found');
  forged[at + 5] = 5;
  const { result } = await contained('forged zone', {
    init: `(call $report (call $delete (i32.const 0) (i32.const ${forged.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(forged)})`,
  }, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } } });
  assert.equal(result!.codes, [1], 'judged by its bytes: a zone-5 entry, queued');
  assert.equal([result!.stats.deleted, result!.stats.gone, result!.stats.failed], [0, 1, 0], 'the kernel looked in zone 5: ENOENT, counted gone');
  record({ kind: 'hostile', case: 'kernel: zone-7 bytes relabelled zone 5', outcome: 'queued as a zone-5 delete, kernel ENOENT (gone); zone 7 unchanged', contained: true });
});

it('zone-7 bytes relabelled zone 5 with a CTA_TUPLE_ZONE 7 smuggled into the original tuple: refused', async () => {
  // The kernel looks a tuple up in its CTA_TUPLE_ZONE when present: a top-level zone of 5 with a
  // tuple zone of 7 would reach zone 7. An entry has one zone: bytes naming two are not an entry.
  const m = kernelEntries(7)[0];
  assert.is(new DataView(m.buffer).getUint16(22, true) & 0x7fff, 1, 'first attribute is CTA_TUPLE_ORIG');
  const nest = new DataView(m.buffer).getUint16(20, true);
  const extra = new Uint8Array([6, 0, 3, 0, 0, 7, 0, 0]); // nla_len 6, CTA_TUPLE_ZONE, be16 7, pad
  const smuggled = new Uint8Array(m.length + 8);
  smuggled.set(m.subarray(0, 20 + nest));
  smuggled.set(extra, 20 + nest);
  smuggled.set(m.subarray(20 + nest), 28 + nest);
  const v = new DataView(smuggled.buffer);
  v.setUint32(0, m.length + 8, true);
  v.setUint16(20, nest + 8, true);
  const at = Buffer.from(smuggled).indexOf(Buffer.from([6, 0, 18, 0, 0, 7]));
  assert.ok(at > 0);
  smuggled[at + 5] = 5;
  assert.is(scanEntry(smuggled), null, 'the host scanner refuses two zones');
  const { result } = await contained('tuple zone', {
    init: `(call $report (call $delete (i32.const 0) (i32.const ${smuggled.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(smuggled)})`,
  }, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } } });
  assert.equal(result!.codes, [E_INVAL]);
  assert.equal(result!.logs.map((l) => l.text), ['delete refused (E_INVAL): not a conntrack entry message']);
  record({ kind: 'hostile', case: 'kernel: zone-7 entry relabelled zone 5 with CTA_TUPLE_ZONE 7 in its tuple', outcome: 'E_INVAL (two zones: not an entry); table unchanged', contained: true });
});

it('delete of bytes that are not a conntrack entry: E_INVAL for each, nothing sent', async () => {
  const good = kernelEntries(5)[0];
  const text = new TextEncoder().encode('DELETE FROM conntrack WHERE 1=1;;;');
  const done = new Uint8Array(20); new DataView(done.buffer).setUint32(0, 20, true); done[4] = 3; // NLMSG_DONE
  const exp = good.slice(); exp[5] = 2; // nfnl subsystem CTNETLINK_EXP (an expectation, not an entry)
  const truncated = good.subarray(0, good.length - 12);
  const lenTooBig = good.slice(); new DataView(lenTooBig.buffer).setUint32(0, good.length + 64, true);
  const junkTail = Buffer.concat([good, Buffer.from('junkjunk')]);
  const items = [text, done, exp, truncated, lenTooBig, junkTail];
  let at = 0;
  const placed = items.map((b) => { const p = at; at += (b.length + 7) & ~7; return { p, n: b.length, b }; });
  const { result } = await contained('non-entries', {
    init: placed.map(({ p, n }) => `(call $report (call $delete (i32.const ${p}) (i32.const ${n})))`).join('\n') + ' (i32.const 0)',
    extra: placed.map(({ p, b }) => `(data (i32.const ${p}) ${dataString(b)})`).join('\n'),
    memory: '1 1',
  }, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } } });
  assert.equal(result!.codes, items.map(() => E_INVAL));
  assert.is(result!.stats.deleted + result!.stats.gone + result!.stats.failed, 0);
  record({ kind: 'hostile', case: 'kernel: delete of non-entry bytes (text, DONE, expectation, truncated, bad length, trailing junk)', outcome: 'E_INVAL x6; nothing sent; table unchanged', contained: true });
});

it('flush without the flush grant: E_DENIED; granted for zone 5 only: explicit zone 7 E_SCOPE, "all" empties zone 5 only', async () => {
  const denied = await contained('flush denied', {
    init: '(call $report (call $flush (i32.const 0) (i32.const 16))) (i32.const 0)',
  }, { capabilities: { operations: ['read', 'delete', 'create', 'update'] } });
  assert.equal(denied.result!.codes, [E_DENIED]);
  const scoped = await contained('flush zone 7', {
    init: '(call $report (call $flush (i32.const 16) (i32.const 16))) (call $report (call $flush (i32.const 0) (i32.const 15))) (i32.const 0)',
    extra: `(data (i32.const 16) ${dataString(dumpRequest({ zone: 7 }))})`,
  }, { capabilities: { operations: ['flush'], scope: { zones: [5] } } });
  assert.equal(scoped.result!.codes, [E_SCOPE, E_INVAL]);
  assert.is(scoped.result!.stats.flushes, 0);
  // Positive control: the same plugin's "flush everything" removes zone 5 and nothing else.
  const all = await contained('flush all (zone-5 grant)', {
    init: '(call $report (call $flush (i32.const 0) (i32.const 16))) (i32.const 0)',
  }, { capabilities: { operations: ['flush'], scope: { zones: [5] } } }, (before) => before.filter((l) => zoneOfLine(l) !== 5));
  assert.equal(all.result!.codes, [OK]);
  assert.is(all.before.length - all.after.length, 4);
  record({ kind: 'hostile', case: 'kernel: flush without grant / outside zone', outcome: 'E_DENIED, E_SCOPE, E_INVAL; table unchanged; control flush removed zone 5 only', contained: true });
});

function createRecord(zone: number, a: number): Uint8Array {
  const b = new Uint8Array(64), v = new DataView(b.buffer);
  v.setUint8(field('CreateRecord', 'family'), 2);
  v.setUint8(field('CreateRecord', 'protocol'), 17);
  v.setUint8(field('CreateRecord', 'flags'), 1); // ZONE
  v.setUint16(field('CreateRecord', 'zone'), zone, true);
  v.setUint16(field('CreateRecord', 'srcPort'), 1111, true);
  v.setUint16(field('CreateRecord', 'dstPort'), 2222, true);
  v.setUint32(field('CreateRecord', 'timeout'), 600, true);
  b.set([10, zone & 255, 99, a], field('CreateRecord', 'src'));
  b.set([10, zone & 255, 99, 254], field('CreateRecord', 'dst'));
  return b;
}

it('create without the create grant: E_DENIED; granted for zone 5: zone 7 E_SCOPE, zone 5 creates exactly one entry', async () => {
  const rec7 = createRecord(7, 1), rec5 = createRecord(5, 2);
  const denied = await contained('create denied', {
    init: '(call $report (call $create (i32.const 0) (i32.const 64))) (i32.const 0)',
    extra: `(data (i32.const 0) ${dataString(rec5)})`,
  }, { capabilities: { operations: ['read', 'delete', 'flush', 'update'] } });
  assert.equal(denied.result!.codes, [E_DENIED]);
  const scoped = await contained('create zone 7', {
    init: `(call $report (call $create (i32.const 0) (i32.const 64)))
           (call $report (call $create (i32.const 0) (i32.const 128)))
           (call $report (call $create (i32.const 64) (i32.const 63))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(rec7)}) (data (i32.const 64) ${dataString(rec5)})`,
  }, { capabilities: { operations: ['create'], scope: { zones: [5] } } });
  assert.equal(scoped.result!.codes, [E_SCOPE, E_SCOPE, E_INVAL], 'zone 7 alone; zone 7 + zone 5 together (whole call refused); a partial record');
  assert.is(scoped.result!.stats.created, 0);
  // Positive control: the same record in zone 5 creates exactly that one entry.
  const before = snapshot();
  const ok = await runWat({
    init: '(call $report (call $create (i32.const 0) (i32.const 64))) (i32.const 0)',
    extra: `(data (i32.const 0) ${dataString(rec5)})`,
  }, { capabilities: { operations: ['create'], scope: { zones: [5] } }, netns: ns });
  assert.equal(ok.codes, [1]);
  assert.is(ok.stats.created, 1);
  const added = snapshot().filter((l) => !before.includes(l));
  assert.is(added.length, 1);
  assert.match(added[0], /^udp\s+17\s+src=10\.5\.99\.2 dst=10\.5\.99\.254 sport=1111 dport=2222 .* zone=5 /);
  assert.is(snapshot().length, before.length + 1, 'nothing else changed');
  record({ kind: 'hostile', case: 'kernel: create without grant / outside zone', outcome: 'E_DENIED, E_SCOPE x2, E_INVAL; table unchanged; control created exactly one zone-5 entry', contained: true });
});

function updateRecord(entry: Uint8Array, mark: number, mask: number): Uint8Array {
  const b = new Uint8Array(16 + ((entry.length + 3) & ~3)), v = new DataView(b.buffer);
  v.setUint32(field('UpdateRecord', 'flags'), flagBit('UpdateRecord', 'flags', 'MARK'), true);
  v.setUint32(field('UpdateRecord', 'mark'), mark, true);
  v.setUint32(field('UpdateRecord', 'markMask'), mask, true);
  b.set(entry, 16);
  return b;
}

it('update of mark bits outside markBits (grant 0xff00): 0x1, 0xff01, 0xffffffff and a zone-7 entry refused; 0xff00 allowed', async () => {
  const e5 = kernelEntries(5).find((m) => scanEntry(m)!.mark === 0x100)!;
  const e7 = kernelEntries(7).find((m) => scanEntry(m)!.mark === 0x100)!;
  const recs = [updateRecord(e5, 0x1, 0x1), updateRecord(e5, 0xff01, 0xff01), updateRecord(e5, 0xffffffff, 0xffffffff), updateRecord(e7, 0x4200, 0xff00)];
  let at = 0;
  const placed = recs.map((b) => { const p = at; at += b.length; return { p, b }; });
  const caps = { operations: ['read', 'update'], scope: { zones: [5], markBits: 0xff00 } };
  const refused = await contained('update outside markBits', {
    init: placed.map(({ p, b }) => `(call $report (call $update (i32.const ${p}) (i32.const ${b.length})))`).join('\n') + ' (i32.const 0)',
    extra: placed.map(({ p, b }) => `(data (i32.const ${p}) ${dataString(b)})`).join('\n'),
    memory: '1 1',
  }, { capabilities: caps });
  assert.equal(refused.result!.codes, [E_SCOPE, E_SCOPE, E_SCOPE, E_SCOPE]);
  assert.is(refused.result!.stats.updated, 0);
  assert.equal(refused.result!.logs.map((l) => l.text), ['update refused (E_SCOPE): mark bits 0x1 may not be changed (grant allows 0xff00)']);
  // Positive control: bits inside markBits change exactly that entry's mark: 0x100 -> 0x4200.
  const id = scanEntry(e5)!.id!;
  const good = updateRecord(e5, 0x4200, 0xff00);
  const ok = await contained('update inside markBits', {
    init: `(call $report (call $update (i32.const 0) (i32.const ${good.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(good)})`,
  }, { capabilities: caps }, (before) => before.map((l) => (l.endsWith(` id=${id}`) ? l.replace(' mark=256 ', ' mark=16896 ') : l)));
  assert.equal(ok.result!.codes, [1]);
  assert.is(ok.result!.stats.updated, 1);
  record({ kind: 'hostile', case: 'kernel: update of mark bits outside markBits / other zone', outcome: 'E_SCOPE x4; table unchanged; control changed exactly one mark', contained: true });
});

it('every hostcall with pointers/lengths outside memory, negative or huge: E_BOUNDS, table unchanged', async () => {
  const PAGE = 65536;
  const spans: [number, number][] = [[-1, 16], [0, -1], [0x7fffffff, 16], [PAGE - 8, 16], [PAGE, 1], [0xfffffff0 | 0, 32], [16, 0x7ffffff0], [-16, -16]];
  const calls: string[] = [];
  // Every hostcall that takes memory (clock takes no pointer).
  for (const name of Object.keys(abi.imports).filter((n) => abi.imports[n as keyof typeof abi.imports].params.length >= 2)) {
    for (const [ptr, len] of spans) {
      calls.push(`(call $report (call $${name} ${name === 'log' ? '(i32.const 2) ' : ''}(i32.const ${ptr}) (i32.const ${len})))`);
    }
  }
  const { result } = await contained('bounds', { memory: '1 1', init: `${calls.join('\n')} (i32.const 0)` }, { capabilities: { operations: ALL_OPS } });
  assert.equal(result!.codes, calls.map(() => E_BOUNDS));
  assert.is(result!.stats.refused, calls.length);
  // Overlapping and in-bounds-but-wrong: the dump request's length is not a DumpRequest, the
  // batch buffer handed back to delete runs into unallocated bytes.
  const more = await contained('overlap', {
    init: '(call $report (call $dump (i32.const 0) (i32.const 17))) (call $report (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(call $report (call $delete (local.get $ptr) (i32.add (local.get $len) (i32.const 64)))) (call $report (call $delete (i32.add (local.get $ptr) (i32.const 4)) (local.get $len))) (i32.const 0)',
  }, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } } });
  assert.equal(more.result!.codes, [E_INVAL, OK, E_INVAL, E_INVAL]);
  record({ kind: 'hostile', case: 'kernel: bad pointers/lengths on every hostcall, misaligned/overlong batch spans', outcome: `E_BOUNDS x${calls.length}, E_INVAL x3; table unchanged`, contained: true });
});

it('deletes queued in a call that then loops forever are never sent; the plugin is stopped at the deadline', async () => {
  const from = workers.length;
  const { error } = await contained('queue then loop', {
    init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(drop (call $delete (local.get $ptr) (local.get $len))) (loop $l (br $l)) (i32.const 0)',
  }, { name: 'queue-spin', capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, limits: { timeout_ms: 300 } });
  assert.instance(error, PluginTimeoutError);
  assert.is((error as Error).message, 'plugin "queue-spin" exceeded 300 ms in ctplug_on_entries');
  await settled();
  const k = killed(from);
  assert.is(k.length, 1);
  assert.ok(k[0].heldMs! >= 300 && k[0].heldMs! < 3000, `held ${k[0].heldMs} ms`);
  record({ kind: 'hostile', case: 'kernel: deletes queued, then infinite loop in on_entries', outcome: `${(error as Error).message}; nothing sent; table unchanged`, contained: true, heldMs: k[0].heldMs, limitMs: 300 });
});

it('deletes queued in a call that then traps are never sent', async () => {
  const { error } = await contained('queue then trap', {
    init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(drop (call $delete (local.get $ptr) (local.get $len))) (unreachable)',
  }, { name: 'queue-trap', capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } } });
  assert.instance(error, PluginTrapError);
  assert.is((error as Error).message, 'plugin "queue-trap" trapped in ctplug_on_entries: unreachable');
  record({ kind: 'hostile', case: 'kernel: deletes queued, then trap', outcome: `${(error as Error).message}; nothing sent; table unchanged`, contained: true });
});

it('a dump never drained (loops on the first of many batches) is released at the deadline; the next run works', async () => {
  const big: CreateSpec[] = Array.from({ length: 3000 }, (_, i) => ({ protocol: 'udp', src: `10.55.${i >> 8}.${i & 255}`, dst: '192.0.2.1', sport: 1000, dport: 53, timeout: 600, zone: 5 }));
  seed(big);
  const from = workers.length;
  const t0 = Date.now();
  const { error } = await contained('undrained dump', {
    init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(loop $l (br $l)) (i32.const 0)',
  }, { name: 'hold-dump', capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, limits: { timeout_ms: 1000 } });
  const took = Date.now() - t0;
  assert.instance(error, PluginTimeoutError);
  assert.is((error as Error).message, 'plugin "hold-dump" exceeded 1000 ms in ctplug_on_entries');
  await settled();
  const k = killed(from);
  assert.is(k.length, 1);
  // The dump socket died with the worker; a new plugin in the same netns reads the whole zone.
  const next = await runWat({ init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)' },
    { capabilities: { operations: ['read'], scope: { zones: [5] } }, netns: ns });
  assert.is(next.stats.entries, 3004);
  assert.ok(next.stats.batches > 1, 'many batches: the first plugin held an unfinished multi-part dump');
  record({ kind: 'hostile', case: 'kernel: dump never drained (3004 entries, loop in first batch)', outcome: `${(error as Error).message} after ${took} ms (incl. worker start); next run read all ${next.stats.entries}`, contained: true, heldMs: k[0].heldMs, limitMs: 1000 });
});

t.run();
