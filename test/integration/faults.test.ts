// Faults (issue 5 §3): kernel errors in the middle of a batch, entries vanishing between dump and
// delete, the namespace removed during a dump, the worker killed mid-batch, lost events. Each must
// leave a clear account of what was done and what was not, and the invariant everywhere:
// a batch delete never reports an entry deleted that is still in the table.
//
// The fake-kernel cases run everywhere; the kernel cases need root (own netns, removed after).
import { spawnSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { CtError } from '../../host/conntrack/errors.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { AbortError } from '../../host/netlink/abort.js';
import { splitMessages } from '../../host/netlink/message.js';
import { PluginError } from '../../host/policy/errors.js';
import type { RunStats } from '../../host/runtime/protocol.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { conntrackIds, conntrackIn, kernelSuite, makeNetns, removeNetns, seedNetns } from '../helpers/netns.js';
import { loadWat, runWat } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';
import { record, settled, workers } from '../helpers/workers.js';

const { t, it, skip } = kernelSuite('faults', 'test/integration/faults.test.ts');

const EPERM = 1, ENOENT = 2, EBUSY = 16;

/** Dumps everything in scope; every batch is emitted (so the test knows what was asked) and deleted whole. */
const DELETE_ALL = {
  init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)',
  onEntries: '(drop (call $emit (local.get $ptr) (local.get $len))) (drop (call $delete (local.get $ptr) (local.get $len))) (i32.const 0)',
};

/** WASI clock: spin for N ms inside the export call (the deadline is the test's to choose). */
const CLOCK_IMPORT = '(import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))';
const SPIN = '(func $spin (param $ms i64) (local $end i64) (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 900))) ' +
  '(local.set $end (i64.add (i64.load (i32.const 900)) (i64.mul (local.get $ms) (i64.const 1000000)))) ' +
  '(loop $l (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 900))) (br_if $l (i64.lt_u (i64.load (i32.const 900)) (local.get $end)))))';

const udp = (n: number, zone: number, net = 10): CreateSpec[] =>
  Array.from({ length: n }, (_, i) => ({ protocol: 'udp', src: `${net}.${zone}.${(i >> 8) & 255}.${i & 255}`, dst: '192.0.2.53', sport: 1024 + (i >> 16), dport: 53, timeout: 600, zone }));

const idsOf = (bytes: Uint8Array[]) => bytes.flatMap((b) => [...splitMessages(b)].map((m) => scanEntry(m)!.id!));
const keyOf = (m: Uint8Array) => { const s = scanEntry(m)!; return `${s.zone}/${Buffer.from(s.origTuple).toString('hex')}`; };

// ---- fake kernel: scripted errnos mid-batch ------------------------------------------------

t('fake kernel: ENOENT and EBUSY in the middle of one delete batch: stats say exactly what happened', async () => {
  const specs = udp(12, 5);
  const table = FakeKernel.fromSpecs(specs).messages();
  const script = [0, 0, ENOENT, 0, EBUSY, 0, 0, 0, ENOENT, 0, 0, EBUSY];
  const progress: RunStats[] = [];
  const p = await loadWat(DELETE_ALL, { entries: specs, capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, harness: { deleteErrnos: script } });
  const r = await p.run({ onProgress: (s) => progress.push({ ...s }) }).finally(() => p.close());
  assert.is(r.stats.entries, 12);
  assert.is(r.stats.deleted, 8, 'answered 0');
  assert.is(r.stats.gone, 2, 'answered ENOENT: already gone, counted apart, not an error');
  assert.is(r.stats.failed, 2, 'EBUSY x2');
  // Exactly the entries answered 0 left the table; the failed and "gone" ones are still there
  // (the fake answers the injected errno without touching its table).
  const left = new Set(r.table!.map(keyOf));
  script.forEach((e, i) => assert.is(left.has(keyOf(table[i])), e !== 0, `entry ${i} (errno ${e})`));
  assert.is(r.table!.length, 12 - r.stats.deleted, 'never reported deleted while still in the table');
  assert.equal(r.logs.map((l) => l.text), ['delete failed: EBUSY']);
  assert.equal(progress[progress.length - 1], r.stats, 'the last progress report is the final account');
  record({ kind: 'fault', case: 'fake: ENOENT+EBUSY mid-batch', outcome: `deleted ${r.stats.deleted}, gone ${r.stats.gone}, failed ${r.stats.failed} of ${r.stats.entries}; exact; table matches` });
});

t('fake kernel: one EPERM in the middle of a batch fails that request alone; the account is exact', async () => {
  const specs = udp(12, 5);
  const script = [0, 0, ENOENT, 0, EBUSY, 0, EPERM, 0, ENOENT, 0, 0, EBUSY];
  const r = await runWat(DELETE_ALL, { entries: specs, capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, harness: { deleteErrnos: script } });
  const reallyDeleted = 12 - r.table!.length;
  assert.is(reallyDeleted, 7, 'the fake carried out the 7 requests answered 0');
  assert.is(r.stats.deleted, reallyDeleted, 'exactly what left the table is reported deleted');
  assert.equal([r.stats.gone, r.stats.failed], [2, 3], 'two ENOENT (gone), EBUSY twice and EPERM once (failed)');
  // Only an EPERM answering the first request of a send is nfnetlink's whole-send refusal.
  record({ kind: 'fault', case: 'fake: EPERM mid-batch', outcome: `reported deleted ${r.stats.deleted}, gone ${r.stats.gone}, failed ${r.stats.failed}; really deleted ${reallyDeleted}; exact` });
});

t('fake kernel: the second dump fails (EBUSY): typed error; what the first dump deleted is in the progress account', async () => {
  const specs = [...udp(4, 5), ...udp(4, 7)];
  const progress: RunStats[] = [];
  const p = await loadWat(DELETE_ALL, { entries: specs, capabilities: { operations: ['read', 'delete'], scope: { zones: [5, 7] } }, harness: { dumpErrnos: [0, EBUSY] } });
  let err: unknown;
  try { await p.run({ onProgress: (s) => progress.push({ ...s }) }); } catch (e) { err = e; } finally { await p.close(); }
  // The same class a direct Conntrack call raises for the same cause, with the run's account on it.
  assert.instance(err, CtError);
  assert.match((err as Error).message, /^dump: EBUSY/);
  assert.is((err as CtError).stats?.deleted, 4);
  const last = progress[progress.length - 1];
  assert.is(last.dumps, 1, 'one planned dump: per-zone kernel dumps 5 then 7');
  assert.is(last.batches, 1);
  assert.is(last.deleted, 4, 'zone 5 was deleted before zone 7 failed to dump');
  record({ kind: 'fault', case: 'fake: dump EBUSY after a completed batch', outcome: `typed ${(err as Error).name}: ${(err as Error).message}; progress says deleted ${last.deleted}` });
});

t('fake kernel without CAP_NET_ADMIN (every send EPERM): typed error with the hint, nothing deleted', async () => {
  const specs = udp(3, 5);
  let err: unknown;
  try { await runWat(DELETE_ALL, { entries: specs, harness: { unprivileged: true } }); } catch (e) { err = e; }
  assert.instance(err, CtError);
  assert.is((err as CtError).kind, 'privilege');
  assert.match((err as Error).message, /EPERM/);
  assert.match((err as Error).message, /CAP_NET_ADMIN/);
  record({ kind: 'fault', case: 'fake: no CAP_NET_ADMIN', outcome: `typed ${(err as Error).name}: ${(err as Error).message}` });
});

// A run that fails part-way still says what it did: PluginError.stats is the worker's last account.
t('a run that deleted entries and then trapped: the error says what was done', async () => {
  const specs = udp(6, 5);
  let err: unknown;
  try {
    await runWat({ ...DELETE_ALL, finish: '(unreachable)' }, { entries: specs, capabilities: { operations: ['read', 'delete'] } });
  } catch (e) { err = e; }
  assert.instance(err, PluginError);
  assert.is((err as PluginError).stats?.deleted, 6, 'the 6 deletes sent after on_entries are in the account');
});

// ---- real kernel ----------------------------------------------------------------------------

let ns = '';
if (!skip) {
  t.before(() => { ns = makeNetns(); });
  t.after(() => removeNetns(ns));
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = (netns: string, args: string[]) => conntrackIn(netns, ['-L', ...args]).split('\n').filter(Boolean).length;

/** Rejects when `p` does not settle within `ms`: a hang is a failure, not a stuck test run. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: no result after ${ms} ms (hang)`)), ms); })])
    .finally(() => clearTimeout(timer));
}

it('kernel: entries deleted by someone else between dump and delete are counted gone, not deleted and not failed', async () => {
  seedNetns(ns, [...udp(100, 5), ...udp(10, 7)]);
  const zone7 = conntrackIds(ns, ['-w', '7']);
  let other = -1;
  const p = await loadWat({
    imports: CLOCK_IMPORT, extra: SPIN,
    init: DELETE_ALL.init,
    onEntries: '(call $spin (i64.const 1500)) ' + DELETE_ALL.onEntries,
  }, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, limits: { timeout_ms: 5000 }, netns: ns });
  let fired = false;
  const r = await p.run({
    onProgress: () => {
      if (fired) return;
      fired = true;
      // The plugin now holds the dump and spins for 1.5 s before asking for the deletes.
      setTimeout(() => {
        const d = spawnSync('ip', ['netns', 'exec', ns, 'conntrack', '-D', '-w', '5', '-s', '10.5.0.0/28'], { encoding: 'utf8' });
        other = Number(d.stderr.match(/(\d+) flow entries have been deleted/)?.[1] ?? -1);
      }, 300);
    },
  }).finally(() => p.close());
  assert.is(other, 16, 'conntrack -D removed 16 while the plugin held them');
  assert.is(r.stats.deleted, 100 - other, 'exactly the entries still there were deleted');
  assert.is(r.stats.gone, r.stats.entries - r.stats.deleted, 'the rest were already gone');
  assert.ok(r.stats.gone >= 1, `the plugin held some of them (gone ${r.stats.gone})`);
  assert.is(r.stats.failed, 0, 'vanished entries are not failures');
  assert.is(count(ns, ['-w', '5']), 0);
  assert.equal(conntrackIds(ns, ['-w', '7']), zone7, 'zone 7 untouched');
  record({ kind: 'fault', case: 'kernel: entries vanish between dump and delete', outcome: `delivered ${r.stats.entries}, deleted ${r.stats.deleted}, gone ${r.stats.gone}, failed 0; ${other} removed by conntrack -D meanwhile` });
});

it('kernel: the same entries deleted twice in one batch: each counted deleted once and gone once, never twice deleted', async () => {
  seedNetns(ns, [...udp(50, 5), ...udp(5, 7)]);
  const zone7 = conntrackIds(ns, ['-w', '7']);
  const r = await runWat({
    init: DELETE_ALL.init,
    onEntries: '(call $report (call $delete (local.get $ptr) (local.get $len))) (call $report (call $delete (local.get $ptr) (local.get $len))) (i32.const 0)',
  }, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, netns: ns });
  assert.is(r.stats.entries, 50);
  assert.equal([r.stats.deleted, r.stats.gone, r.stats.failed], [50, 50, 0]);
  assert.is(count(ns, ['-w', '5']), 0);
  assert.equal(conntrackIds(ns, ['-w', '7']), zone7);
  record({ kind: 'fault', case: 'kernel: duplicate deletes in one batch', outcome: `deleted ${r.stats.deleted}, gone ${r.stats.gone} of ${r.stats.entries} (each entry deleted once)` });
});

it('kernel: the netns is removed while a dump runs: the run ends cleanly (the socket keeps the netns alive); a new run is a typed error', async () => {
  const gone = makeNetns();
  try {
    seedNetns(gone, udp(20000, 5));
    const p = await loadWat({
      imports: CLOCK_IMPORT, extra: SPIN,
      init: DELETE_ALL.init,
      onEntries: '(call $spin (i64.const 10)) (i32.const 0)',
    }, { capabilities: { operations: ['read'] }, limits: { timeout_ms: 5000 }, netns: gone });
    let removedAt = 0, batchesThen = 0;
    const t0 = Date.now();
    let outcome: string;
    try {
      const r = await within(p.run({
        onProgress: (s) => {
          if (!removedAt && s.batches >= 3) { removeNetns(gone); removedAt = Date.now(); batchesThen = s.batches; }
        },
      }), 60000, 'run after netns removal');
      assert.ok(removedAt > 0, 'the netns was removed during the dump');
      assert.ok(r.stats.batches > batchesThen, 'batches kept coming after the removal');
      assert.is(r.stats.entries, 20000, 'the whole dump was delivered');
      outcome = `run ended cleanly: ${r.stats.entries} entries in ${r.stats.batches} batches (netns removed after batch ${batchesThen}), ${Date.now() - t0} ms`;
    } catch (e) {
      assert.instance(e, PluginError, `typed error, got ${e}`);
      outcome = `typed ${(e as Error).name}: ${(e as Error).message}`;
    } finally {
      await p.close();
    }
    let err: unknown;
    try { await runWat(DELETE_ALL, { netns: gone }); } catch (e) { err = e; }
    assert.instance(err, CtError); // as Conntrack.open({ netns }) raises it
    assert.is((err as CtError).kind, 'environment');
    assert.match((err as Error).message, /does not exist/);
    record({ kind: 'fault', case: 'kernel: netns removed while a dump runs', outcome: `${outcome}; next run: ${(err as Error).message}` });
  } finally {
    removeNetns(gone);
  }
});

it('kernel: the worker is killed mid-run (close() during a long delete run): the progress account never claims an entry that is still there', async () => {
  seedNetns(ns, [...udp(30000, 5), ...udp(10, 7)]);
  const zone7 = conntrackIds(ns, ['-w', '7']);
  const before = count(ns, ['-w', '5']);
  const from = workers.length;
  const p = await loadWat(DELETE_ALL, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, limits: { timeout_ms: 5000 }, netns: ns });
  const chunks: Uint8Array[] = [];
  let last: RunStats | undefined, chunksAtLast = 0, closing: Promise<void> | undefined;
  let err: unknown;
  try {
    await p.run({
      onOutput: (b) => chunks.push(b.slice()),
      onProgress: (s) => {
        last = { ...s };
        chunksAtLast = chunks.length;
        if (!closing && s.deleted >= 3000) closing = p.close();
      },
    });
  } catch (e) { err = e; }
  await closing;
  await settled();
  assert.instance(err, AbortError);
  assert.match((err as Error).message, /the plugin was closed/);
  const after = count(ns, ['-w', '5']);
  assert.ok(last && last.deleted >= 3000 && last.deleted < 30000, `killed mid-run (${last?.deleted} reported deleted)`);
  assert.is(last!.failed + last!.gone, 0);
  const reported = idsOf(chunks.slice(0, chunksAtLast));
  assert.is(reported.length, last!.deleted, 'every batch handed to delete before the last report was carried out');
  const remaining = new Set(conntrackIds(ns, ['-w', '5']));
  assert.is(reported.filter((id) => remaining.has(id)).length, 0, 'no entry reported deleted is still in the table');
  assert.ok(before - after >= last!.deleted, `${before - after} really gone >= ${last!.deleted} reported`);
  assert.equal(conntrackIds(ns, ['-w', '7']), zone7, 'zone 7 untouched');
  const k = workers.slice(from)[0];
  record({ kind: 'fault', case: 'kernel: worker killed during a 30k-entry delete run', outcome: `reported deleted ${last!.deleted} (all verified gone), really gone ${before - after}; unreported in-flight ${before - after - last!.deleted}; error: ${(err as Error).message}; killed ${k?.killedIn ? `inside ${k.killedIn}` : 'in host code (between export calls)'}` });
});

it('kernel: event receive buffer overrun (ENOBUFS) is reported and followed by a RESYNC dump', async () => {
  seedNetns(ns, udp(5, 5));
  const sub = new Uint8Array(16); // all kinds, all zones (narrowed to the grant)
  const p = await loadWat({
    imports: CLOCK_IMPORT,
    extra: `${SPIN} (data (i32.const 0) ${dataString(sub)})`,
    init: '(call $report (call $subscribe (i32.const 0) (i32.const 16))) (i32.const 0)',
    onEntries: '(call $report (i32.add (i32.const 100) (local.get $flags))) (i32.const 0)',
    onEvents: '(call $spin (i64.const 150)) (call $report (i32.const 200)) (i32.const 0)',
  }, { capabilities: { operations: ['read', 'events'], scope: { zones: [5] } }, limits: { timeout_ms: 5000 }, netns: ns, harness: { eventBufferBytes: 4096 } });
  let last: RunStats | undefined;
  const run = p.run({ onProgress: (s) => { last = { ...s }; } });
  let created = 0;
  const ct = Conntrack.open({ netns: ns });
  try {
    for (let round = 0; round < 40; round++) {
      await sleep(100);
      if (last && last.overruns >= 1 && last.entries > 0) break;
      const r = ct.createSync(udp(300, 5, 20 + round));
      created += r.ok;
    }
  } finally {
    ct.close();
  }
  await sleep(300);
  p.stop(); // ends the event run normally: it resolves with what it did
  const r = await within(run, 20000, 'subscribed run after stop').finally(() => p.close());
  const codes = statusesOf(r.output);
  assert.is(codes[0], 0, 'subscribed');
  assert.ok(r.stats.overruns >= 1, `overrun reported (${r.stats.overruns})`);
  assert.ok(codes.includes(101), 'an on_entries batch flagged RESYNC followed');
  assert.ok(r.stats.entries >= 5, 'the resync dump delivered the zone');
  assert.ok(r.stats.events < created, `events were really lost (${r.stats.events} of ${created})`);
  assert.ok(r.logs.some((l) => l.text === 'events were lost (kernel receive buffer overrun); the subscribed scope is dumped again (RESYNC)'));
  record({ kind: 'fault', case: 'kernel: event receive buffer overrun (ENOBUFS)', outcome: `${r.stats.overruns} overrun(s) reported, ${r.stats.events} of ${created} events delivered, RESYNC dump delivered ${r.stats.entries} entries` });
});

function statusesOf(output: Uint8Array): number[] {
  const v = new DataView(output.buffer, output.byteOffset, output.byteLength);
  return Array.from({ length: output.length >> 2 }, (_, i) => v.getInt32(4 * i, true));
}

t.run();
