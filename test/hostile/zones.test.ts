// Issue 12, finding 6: one rule for the zone of an entry with directional zones (CTA_TUPLE_ZONE),
// applied everywhere. An entry has one zone id, for both directions or one (the kernel's
// nf_conntrack_zone); ctplug's zone of an entry is that id, as the kernel's own dump and flush
// filters judge it. Every CLI verb with -w 7 takes the zone-7, orig-zone-7 and reply-zone-7
// entries; -w 0 none of them; a zone-0 plugin cannot touch a reply-zone-7 entry through its raw
// bytes (nor through those bytes with the zone removed). Real kernel, throwaway netns.
// (conntrack 1.4.7 -w reads CTA_ZONE only: a documented difference, so it is no oracle here.)
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { CTA_TUPLE } from '../../host/conntrack/constants.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { splitMessages } from '../../host/netlink/message.js';
import { abi, field, flagBit } from '../../host/policy/abi.js';
import { bundledCli } from '../helpers/cli.js';
import { exitWithin, listen, sawProbe, sleep, untilListening } from '../helpers/events.js';
import { conntrackIn, kernelSuite, makeNetns, removeNetns, seedNetns } from '../helpers/netns.js';
import { runWat } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';
import { record } from '../helpers/workers.js';

const { t, it, skip } = kernelSuite('zone rule across verbs (kernel)', 'test/hostile/zones.test.ts');
const cli = bundledCli('zones-test');
let ns = '';
const { E_SCOPE } = abi.status;

const flow = (n: number, z: Partial<CreateSpec>): CreateSpec => ({ protocol: 'udp', src: `10.0.0.${n}`, dst: '198.51.100.53', sport: 1000 + n, dport: 53, timeout: 600, ...z });
/** Zone 0, zone 7 (both directions), orig-zone-7, reply-zone-7, zone 5, reply-zone-5. */
const SPECS: CreateSpec[] = [flow(1, {}), flow(2, { zone: 7 }), flow(3, { origZone: 7 }), flow(4, { replyZone: 7 }), flow(5, { zone: 5 }), flow(6, { replyZone: 5 })];
const ZONE7 = ['10.0.0.2', '10.0.0.3', '10.0.0.4'];
const ZONE0 = ['10.0.0.1'];

const srcs = (text: string) => [...text.matchAll(/^\S+\s+\d+\s+\d+\s+src=(\S+)/gm)].map((m) => m[1]).sort();
const tableSrcs = () => srcs(conntrackIn(ns, ['-L']));
const ctplug = (...args: string[]) => cli.run([...args.slice(0, 1), '--netns', ns, ...args.slice(1)]);

if (!skip) {
  t.before(async () => { await cli.build(); ns = makeNetns(); });
  t.after(() => { removeNetns(ns); cli.remove(); });
  t.before.each(() => seedNetns(ns, SPECS));
}

it('measured: the kernel\'s zone filters match the zone id whatever the direction', () => {
  const ct = Conntrack.open({ netns: ns });
  try {
    const dumped = (zone: number) => { const out: string[] = []; ct.dumpSync({ zone }, new Uint8Array(65536), (b) => { for (const m of splitMessages(b)) out.push(`10.0.0.${Buffer.from(m)[Buffer.from(m).indexOf(Buffer.from([10, 0, 0])) + 3]}`); }); return out.sort(); };
    assert.equal(dumped(7), ZONE7);
    assert.equal(dumped(0), ZONE0);
    ct.flushSync({ zone: 7 });
    assert.equal(tableSrcs(), ['10.0.0.1', '10.0.0.5', '10.0.0.6']);
  } finally {
    ct.close();
  }
});

it('list, count: -w 7 includes the orig-zone-7 and reply-zone-7 entries; -w 0 excludes them', () => {
  const l7 = ctplug('list', '-w', '7'), l0 = ctplug('list', '-w', '0');
  assert.is(l7.code, 0, l7.stderr);
  assert.equal(srcs(l7.stdout), ZONE7);
  assert.equal(srcs(l0.stdout), ZONE0);
  assert.equal(srcs(ctplug('list', '-w', '7', '-p', 'udp').stdout), ZONE7, 'through the plugin filter too');
  assert.is(ctplug('count', '-w', '7').stdout.trim(), '3');
  assert.is(ctplug('count', '-w', '0').stdout.trim(), '1');
});

for (const [verb, extra] of [['delete', []], ['delete', ['-p', 'udp']], ['flush', []]] as [string, string[]][]) {
  it(`${verb} -w 7 ${extra.join(' ')}: exactly the entries list -w 7 shows`.replace(/ +:/, ':'), () => {
    const shown = srcs(ctplug('list', '-w', '7').stdout);
    assert.equal(shown, ZONE7);
    const r = ctplug(verb, '-w', '7', ...extra);
    assert.is(r.code, 0, r.stderr);
    assert.equal(tableSrcs(), SPECS.map((s) => s.src).filter((s) => !shown.includes(s)).sort());
  });
}

it('delete -w 0 -p udp and flush -w 0: the zone-0 entry only, no directional one', () => {
  assert.is(ctplug('delete', '-w', '0', '-p', 'udp').code, 0);
  assert.equal(tableSrcs(), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  seedNetns(ns, SPECS);
  assert.is(ctplug('flush', '-w', '0').code, 0);
  assert.equal(tableSrcs(), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
});

it('update -w 7: the same three entries', () => {
  const r = ctplug('update', '-w', '7', '-m', '0x77');
  assert.is(r.code, 0, r.stderr);
  const marked = [...conntrackIn(ns, ['-L']).matchAll(/src=(\S+) .* mark=119 /gm)].map((m) => m[1]).sort();
  assert.equal(marked, ZONE7);
});

it('events -w 7: NEW events of the zone-7, orig-zone-7 and reply-zone-7 entries; -w 0 only the zone-0 one', async () => {
  const ct = Conntrack.open({ netns: ns });
  const l7 = listen([process.execPath, cli.entry, 'events', '--netns', ns, '-w', '7', '-e', 'NEW']);
  const l0 = listen([process.execPath, cli.entry, 'events', '--netns', ns, '-w', '0', '-e', 'NEW']);
  const all = listen([process.execPath, cli.entry, 'events', '--netns', ns, '-e', 'NEW']);
  try {
    ct.flushSync();
    await untilListening(ct, [sawProbe(all.out)]);
    await sleep(300);
    assert.is(ct.createSync(SPECS).ok, SPECS.length);
    const got = (l: typeof l7) => srcs(l.out().split('\n').filter((x) => x.startsWith('    [NEW]') || x.startsWith(' [NEW]') || x.includes('[NEW]')).map((x) => x.replace(/^\s*\[NEW\]\s+/, '')).join('\n'));
    for (let i = 0; i < 100 && (got(l7).length < 3 || got(l0).length < 1); i++) await sleep(50);
    await sleep(300);
    assert.equal(got(l7), ZONE7, l7.out());
    assert.equal(got(l0), ZONE0, l0.out());
  } finally {
    for (const l of [l7, l0, all]) l.child.kill('SIGINT');
    await Promise.all([l7, l0, all].map((l) => exitWithin(l, 5000)));
    ct.close();
  }
});

/** The kernel's message of the entry with src 10.0.0.N. */
function kernelEntry(n: number): Uint8Array {
  const ct = Conntrack.open({ netns: ns });
  try {
    let found: Uint8Array | undefined;
    ct.dumpSync({}, new Uint8Array(65536), (b) => { for (const m of splitMessages(b)) if (Buffer.from(m).includes(Buffer.from([10, 0, 0, n]))) found = m.slice(); });
    return found!;
  } finally {
    ct.close();
  }
}

/** The same message with the CTA_TUPLE_ZONE of its reply tuple turned into padding attribute bytes the scanner ignores: bytes that claim zone 0. */
function zoneStripped(m: Uint8Array): Uint8Array {
  const s = scanEntry(m)!;
  const b = m.slice();
  const start = s.replyTupleOffset, end = start + s.replyTupleLength;
  for (let q = start + 4; q + 4 <= end; ) {
    const len = b[q] | (b[q + 1] << 8);
    if (((b[q + 2] | (b[q + 3] << 8)) & 0x3fff) === CTA_TUPLE.ZONE) { b[q + 2] = 31; b[q + 3] = 0; } // an unknown tuple attribute
    q += (len + 3) & ~3;
  }
  assert.is(scanEntry(b)!.zone, 0, 'the forged bytes say zone 0');
  return b;
}

function updateRecord(entry: Uint8Array): Uint8Array {
  const b = new Uint8Array(16 + ((entry.length + 3) & ~3)), v = new DataView(b.buffer);
  v.setUint32(field('UpdateRecord', 'flags'), flagBit('UpdateRecord', 'flags', 'TIMEOUT'), true);
  v.setUint32(field('UpdateRecord', 'timeout'), 0, true);
  b.set(entry, 16);
  return b;
}

it('a zone-0 plugin with the raw bytes of a reply-zone-7 entry: delete and update refused, entry intact', async () => {
  const raw = kernelEntry(4);
  assert.is(scanEntry(raw)!.zone, 7, 'the scanner judges a reply-zone-7 entry to be in zone 7');
  const upd = updateRecord(raw);
  const r = await runWat({
    init: `(call $report (call $delete (i32.const 0) (i32.const ${raw.length}))) (call $report (call $update (i32.const 1024) (i32.const ${upd.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(raw)}) (data (i32.const 1024) ${dataString(upd)})`,
    memory: '2 2',
  }, { name: 'zone0', capabilities: { operations: ['read', 'delete', 'update'], scope: { zones: [0] } }, netns: ns });
  assert.equal(r.codes, [E_SCOPE, E_SCOPE]);
  assert.ok(tableSrcs().includes('10.0.0.4'));
  record({ kind: 'hostile', case: 'kernel: zone-0 plugin deletes/updates a reply-zone-7 entry with its raw bytes', outcome: 'E_SCOPE x2 (zone 7 outside the grant); entry intact', contained: true });
});

it('a zone-0 plugin with those bytes claiming zone 0 (reply tuple zone removed): not deleted, not updated', async () => {
  const forged = zoneStripped(kernelEntry(4));
  const upd = updateRecord(forged);
  const r = await runWat({
    init: `(call $report (call $delete (i32.const 0) (i32.const ${forged.length}))) (call $report (call $update (i32.const 1024) (i32.const ${upd.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(forged)}) (data (i32.const 1024) ${dataString(upd)})`,
    memory: '2 2',
  }, { name: 'zone0', capabilities: { operations: ['read', 'delete', 'update'], scope: { zones: [0] } }, netns: ns });
  assert.equal(r.codes, [1, 1], 'both judged zone 0 by their bytes and queued ...');
  assert.equal([r.stats.deleted, r.stats.updated, r.stats.changed], [0, 0, 2], '... and refused when the kernel said which entry that lookup reaches');
  assert.ok(tableSrcs().includes('10.0.0.4'));
  record({ kind: 'hostile', case: 'kernel: zone-0 plugin with reply-zone-7 bytes relabelled zone 0', outcome: 'confirmed against the kernel: not deleted, not updated (stats.changed=2)', contained: true });
});

it('a zone-7 grant sees and flushes exactly what -w 7 names; its delete of a zone-0 entry\'s bytes is refused', async () => {
  const seen = await runWat({ init: '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)', onEntries: '(drop (call $emit (local.get $ptr) (local.get $len))) (i32.const 0)' },
    { name: 'zone7', capabilities: { operations: ['read'], scope: { zones: [7] } }, netns: ns });
  assert.equal([...splitMessages(seen.output)].map((m) => scanEntry(m)!.zone), [7, 7, 7]);
  const flushed = await runWat({ init: '(call $report (call $flush (i32.const 0) (i32.const 16))) (i32.const 0)' },
    { name: 'zone7', capabilities: { operations: ['flush'], scope: { zones: [7] } }, netns: ns });
  assert.equal(flushed.codes, [0]);
  assert.equal(tableSrcs(), ['10.0.0.1', '10.0.0.5', '10.0.0.6']);
  const zero = kernelEntry(1);
  const del = await runWat({ init: `(call $report (call $delete (i32.const 0) (i32.const ${zero.length}))) (i32.const 0)`, extra: `(data (i32.const 0) ${dataString(zero)})` },
    { name: 'zone7', capabilities: { operations: ['delete'], scope: { zones: [7] } }, netns: ns });
  assert.equal(del.codes, [E_SCOPE]);
});

t.run();
