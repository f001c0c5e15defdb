// The zone rule (issue 12, finding 6) without root: the fake kernel looks entries up the way
// Linux does (a zone-0 lookup finds an entry whose zone applies to the other direction only), so
// the host's guards are exercised here too: the scanner's rule, the scope check on raw bytes, the
// confirmation of zone-0 lookups, the kernel dump filter and the SDK's zone filter.
import { existsSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { CTA_TUPLE } from '../../host/conntrack/constants.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { abi, field, flagBit } from '../../host/policy/abi.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { runPlugin } from '../../sdk/testkit/index.js';
import { runWat } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';

const { E_SCOPE } = abi.status;
const flow = (n: number, z: Partial<CreateSpec>): CreateSpec => ({ protocol: 'udp', src: `10.0.0.${n}`, dst: '198.51.100.53', sport: 1000 + n, dport: 53, timeout: 600, ...z });
const SPECS: CreateSpec[] = [flow(1, {}), flow(2, { zone: 7 }), flow(3, { origZone: 7 }), flow(4, { replyZone: 7 }), flow(5, { zone: 5 })];
const entryOf = (n: number) => FakeKernel.fromSpecs(SPECS).messages().find((m) => describeEntry(m).src === `10.0.0.${n}`)!;
const srcs = (table: Uint8Array[] | undefined) => (table ?? []).map((m) => describeEntry(m).src).sort();

test('the scanner\'s zone of each entry (scope.ts entryZone)', () => {
  assert.equal([1, 2, 3, 4, 5].map((n) => scanEntry(entryOf(n))!.zone), [0, 7, 7, 7, 5]);
});

function updateRecord(entry: Uint8Array): Uint8Array {
  const b = new Uint8Array(16 + ((entry.length + 3) & ~3)), v = new DataView(b.buffer);
  v.setUint32(field('UpdateRecord', 'flags'), flagBit('UpdateRecord', 'flags', 'TIMEOUT'), true);
  b.set(entry, 16);
  return b;
}

async function zone0Plugin(bytes: Uint8Array) {
  const upd = updateRecord(bytes);
  return runWat({
    init: `(call $report (call $delete (i32.const 0) (i32.const ${bytes.length}))) (call $report (call $update (i32.const 1024) (i32.const ${upd.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(bytes)}) (data (i32.const 1024) ${dataString(upd)})`,
    memory: '2 2',
  }, { name: 'zone0', capabilities: { operations: ['read', 'delete', 'update'], scope: { zones: [0] } }, entries: SPECS });
}

test('a zone-0 plugin with the raw bytes of a reply-zone-7 entry: E_SCOPE for delete and update', async () => {
  const r = await zone0Plugin(entryOf(4));
  assert.equal(r.codes, [E_SCOPE, E_SCOPE]);
  assert.equal(srcs(r.table), SPECS.map((s) => s.src).sort());
});

test('the same bytes relabelled zone 0: the zone-0 lookup reaches the reply-zone-7 entry, so it is confirmed first and refused', async () => {
  const b = entryOf(4).slice();
  const s = scanEntry(b)!;
  for (let q = s.replyTupleOffset + 4; q + 4 <= s.replyTupleOffset + s.replyTupleLength; ) {
    const len = b[q] | (b[q + 1] << 8);
    if ((b[q + 2] & 0x3f) === CTA_TUPLE.ZONE && b[q + 3] === 0) b[q + 2] = 31;
    q += (len + 3) & ~3;
  }
  assert.is(scanEntry(b)!.zone, 0);
  const r = await zone0Plugin(b);
  assert.equal(r.codes, [1, 1]);
  assert.equal([r.stats.deleted, r.stats.updated, r.stats.changed], [0, 0, 2]);
  assert.equal(srcs(r.table), SPECS.map((s) => s.src).sort());
});

test('bytes that misstate the entry\'s zone are not acted on, even when both zones are granted: the confirmed entry must be the held one', async () => {
  const b = entryOf(4).slice(); // reply-zone-7, relabelled zone 0 as above
  const s = scanEntry(b)!;
  for (let q = s.replyTupleOffset + 4; q + 4 <= s.replyTupleOffset + s.replyTupleLength; ) {
    const len = b[q] | (b[q + 1] << 8);
    if ((b[q + 2] & 0x3f) === CTA_TUPLE.ZONE && b[q + 3] === 0) b[q + 2] = 31;
    q += (len + 3) & ~3;
  }
  const r = await runWat({ init: `(call $report (call $delete (i32.const 0) (i32.const ${b.length}))) (i32.const 0)`, extra: `(data (i32.const 0) ${dataString(b)})` },
    { capabilities: { operations: ['delete'], scope: { zones: [0, 7] } }, entries: SPECS });
  assert.equal(r.codes, [1]);
  assert.equal([r.stats.deleted, r.stats.changed], [0, 1]);
  assert.match(r.logs.map((l) => l.text).join('\n'), /the entry is in zone 7 now, not 0/);
});

test('a zone-7 grant: its dump delivers the three zone-7 entries; its flush removes exactly those', async () => {
  const seen = await runWat({ init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)', onEntries: '(drop (call $emit (local.get $ptr) (local.get $len))) (i32.const 0)' },
    { name: 'z7', capabilities: { operations: ['read', 'flush'], scope: { zones: [7] } }, entries: SPECS });
  assert.is(seen.stats.entries, 3);
  const flushed = await runWat({ init: '(drop (call $flush (i32.const 0) (i32.const 16))) (i32.const 0)' },
    { name: 'z7', capabilities: { operations: ['flush'], scope: { zones: [7] } }, entries: SPECS });
  assert.equal(srcs(flushed.table), ['10.0.0.1', '10.0.0.5']);
});

const LIST = 'dist/plugins/list.manifest.json';
if (existsSync(LIST)) {
  test('the list plugin (SDK Filter "zone", as -w sets it) matches the same rule', async () => {
    const lines = async (zone: number) => (await runPlugin(LIST, { entries: SPECS, config: { zone, output: 'text' } })).output.split('\n').filter(Boolean).map((l) => l.match(/src=(\S+)/)![1]).sort();
    assert.equal(await lines(7), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    assert.equal(await lines(0), ['10.0.0.1']);
  });
}

test.run();
