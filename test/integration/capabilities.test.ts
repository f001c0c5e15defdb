// Capability enforcement against the real kernel (issue 3), with the first-party AssemblyScript
// plugins run through the embedder API (loadPlugin) and hand-written WAT where a plugin must do
// what the SDK would never do. `conntrack -L` is the oracle throughout.
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { splitMessages } from '../../host/netlink/message.js';
import { abi } from '../../host/policy/abi.js';
import { loadPlugin, type RunResult } from '../../host/runtime/plugin.js';
import { PluginError } from '../../host/policy/errors.js';
import { conntrackIn, kernelSuite, listingLines, seedNetns, twinNetns } from '../helpers/netns.js';
import { runWat } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';

const { t, it, skip } = kernelSuite('capabilities (kernel)', 'test/integration/capabilities.test.ts');
const { E_SCOPE, E_DENIED } = abi.status;
let A = '', B = '';

/** Zones 0, 5, 7: tcp (ESTABLISHED/TIME_WAIT, marks), udp, icmp, IPv6 udp/tcp. 12 per zone. */
const SPECS: CreateSpec[] = [0, 5, 7].flatMap((zone) => [
  ...[1, 2, 3].flatMap((i): CreateSpec[] => [
    { protocol: 'tcp', src: `10.${zone}.0.${i}`, dst: '198.51.100.1', sport: 40000 + i, dport: 443, tcpState: 'ESTABLISHED', timeout: 600, zone, mark: i },
    { protocol: 'udp', src: `10.${zone}.1.${i}`, dst: '198.51.100.53', sport: 50000 + i, dport: 53, timeout: 600, zone },
    { protocol: 'udp', src: `2001:db8:${zone}::${i}`, dst: '2001:db8:ffff::53', sport: 50000 + i, dport: 53, timeout: 600, zone, mark: 16 },
  ]),
  { protocol: 'icmp', src: `10.${zone}.2.9`, dst: '198.51.100.1', icmpType: 8, icmpCode: 0, icmpId: 7, timeout: 600, zone },
  { protocol: 'tcp', src: `2001:db8:${zone}::9`, dst: '2001:db8:ffff::1', sport: 40009, dport: 22, tcpState: 'TIME_WAIT', timeout: 600, zone },
  { protocol: 'tcp', src: `10.${zone}.3.1`, dst: '203.0.113.7', sport: 40100, dport: 8080, tcpState: 'ESTABLISHED', timeout: 600, zone, mark: 0x1001 },
]);

/** conntrack -L lines without timeouts and ids, sorted: entries by tuple (ids differ per netns). */
const normalize = (text: string) => listingLines(text, ['id']);
const table = (ns: string, args: string[] = []) => normalize(conntrackIn(ns, ['-L', ...args]));
const zoneOf = (l: string) => Number(l.match(/ zone=(\d+)/)?.[1] ?? 0);

const policy = (operations: string[], scope: object = {}) => ({ default: { capabilities: { operations, scope } } });

async function runBuilt(name: string, ns: string, pol: Record<string, unknown>, config: object): Promise<RunResult> {
  const p = await loadPlugin(`dist/plugins/${name}.manifest.json`, { policy: pol, netns: ns, config });
  try { return await p.run(); } finally { await p.close(); }
}

if (!skip) twinNetns(t, SPECS, (a, b) => { A = a; B = b; });

it('list granted zone 5 sees only zone 5 although it asks for all: its output is conntrack -L -w 5', async () => {
  const before = table(A);
  const r = await runBuilt('list', A, policy(['read'], { zones: [5] }), {});
  const lines = normalize(new TextDecoder().decode(r.output));
  assert.is(lines.length, 12);
  assert.ok(lines.every((l) => zoneOf(l) === 5), 'zone 5 only');
  assert.equal(lines, table(A, ['-w', '5']));
  assert.is(r.stats.entries, 12);
  assert.equal(table(A), before, 'read-only: nothing changed');
});

it('list granted zone 5 asking explicitly for zone 7: refused, nothing of zone 7 shown', async () => {
  let r: RunResult | undefined, err: unknown;
  try { r = await runBuilt('list', A, policy(['read'], { zones: [5] }), { zone: 7 }); } catch (e) { err = e; }
  if (r) {
    // The SDK asks the host for what it may see (or for zone 7 and is refused); either way the
    // host delivers zone-5 entries at most, and the plugin's own zone-7 filter prints nothing.
    assert.is(new TextDecoder().decode(r.output), '', 'nothing printed');
    assert.ok(r.stats.entries === 0 || r.stats.entries === 12, `delivered ${r.stats.entries}: zone 5 at most`);
    assert.ok(r.stats.entries > 0 || r.stats.refused >= 1);
  } else {
    assert.instance(err, PluginError);
  }
});

it('a zone-5 plugin deleting a zone-7 entry with crafted (real kernel) bytes is refused; other zones untouched', async () => {
  const zone7: Uint8Array[] = [];
  const ct = Conntrack.open({ netns: A });
  try { ct.dumpSync({ zone: 7 }, new Uint8Array(65536), (b) => { for (const m of splitMessages(b)) zone7.push(m.slice()); }); } finally { ct.close(); }
  const victim = zone7[0];
  const before = table(A);
  const r = await runWat({
    init: `(call $report (call $delete (i32.const 0) (i32.const ${victim.length}))) (call $report (call $flush (i32.const 0) (i32.const 16))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(victim)})`,
  }, { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } }, netns: A });
  assert.equal(r.codes, [E_SCOPE, E_DENIED], 'delete out of scope; flush not granted');
  assert.equal(table(A), before, 'table exactly as before');
  // And the first-party match plugin told to delete that entry by id: it never even sees it.
  const id = scanEntry(victim)!.id!;
  const m = await runBuilt('match', A, policy(['read', 'delete'], { zones: [5] }), { action: 'delete', id });
  assert.is(m.stats.deleted, 0);
  assert.equal(table(A), before, 'still exactly as before');
  assert.match(conntrackIn(A, ['-L', '-w', '7', '-o', 'id']), new RegExp(` id=${id}\\n`));
});

it('match delete granted zone 5 with filters removes only zone-5 matches; zones 0 and 7 untouched', async () => {
  const before = table(A);
  const r = await runBuilt('match', A, policy(['read', 'delete'], { zones: [5] }), { action: 'delete', proto: 'tcp', print: false });
  assert.is(r.stats.deleted, 5, 'zone 5: 3 ESTABLISHED + TIME_WAIT + 8080');
  const after = table(A);
  assert.equal(after.filter((l) => zoneOf(l) !== 5), before.filter((l) => zoneOf(l) !== 5), 'other zones exactly as before');
  assert.equal(after.filter((l) => zoneOf(l) === 5), before.filter((l) => zoneOf(l) === 5 && !/^tcp /.test(l)));
});

// The same filter in conntrack -D syntax and in match's config. Both netns are seeded identically;
// what remains afterwards (compared by tuple: ids differ per netns) must be the same.
const CASES: [string[], object][] = [
  [['-p', 'udp', '-w', '5'], { proto: 'udp', zone: 5 }],
  [['-s', '10.7.0.0/24', '-p', 'tcp'], { src: '10.7.0.0/24', proto: 'tcp' }],
  [['-p', 'tcp', '--dport', '443', '-m', '2'], { proto: 'tcp', dport: 443, mark: 2 }],
  [['-f', 'ipv6', '-p', 'udp', '--sport', '50002'], { family: 'ipv6', proto: 'udp', sport: 50002 }],
  [['-p', 'tcp', '--state', 'TIME_WAIT'], { proto: 'tcp', state: 'TIME_WAIT' }],
  [['-d', '203.0.113.7', '-w', '0'], { dst: '203.0.113.7', zone: 0 }],
  [['-p', 'icmp'], { proto: 'icmp' }],
  [['-m', '0x1001'], { mark: 0x1001 }],
];

it('match (action delete) deletes exactly what conntrack -D with the same filters deletes', async () => {
  for (const [args, config] of CASES) {
    seedNetns(A, SPECS);
    seedNetns(B, SPECS);
    const r = await runBuilt('match', A, policy(['read', 'delete']), { action: 'delete', print: false, ...config });
    const theirs = conntrackIn(B, ['-D', ...args], { allowFail: true });
    void theirs;
    const a = table(A), b = table(B);
    assert.equal(a, b, `${args.join(' ')}: remaining entries`);
    assert.is(r.stats.deleted, SPECS.length - a.length, `${args.join(' ')}: the plugin's count is what left the table`);
    assert.ok(r.stats.deleted > 0, `${args.join(' ')}: the case deletes something`);
  }
});

t.run();
