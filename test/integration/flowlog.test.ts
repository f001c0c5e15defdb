// flowlog against the real kernel: flows created and deleted in a netns with nf_conntrack_acct=1 and nf_conntrack_timestamp=1 give one NDJSON
// record each, with the right tuples, zone and counters; through the embedder API (loadPlugin,
// kernel backend) and through the CLI (`ctplug --plugin flowlog`).
// These flows are created through netlink, so their counters are present but zero; records with
// the counters of real packets are tested in test/integration/traffic.test.ts.
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { enableConntrackSwitch, conntrackSwitches } from '../../host/conntrack/events.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import { conntrackIn, kernelSuite, makeNetns, removeNetns } from '../helpers/netns.js';
import { root } from '../plugin/harness.js';
import { bundledCli } from '../helpers/cli.js';

const { t, it, skip } = kernelSuite('flowlog (kernel)', 'test/integration/flowlog.test.ts');
let ns = '';
let ct: Conntrack;
const MANIFEST = join(root, 'dist', 'plugins', 'flowlog.manifest.json');
/** The command built from the current sources (bin/ctplug.js would run the bundle built at install). */
const cli = bundledCli('flowlog-test');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (!skip) {
  t.before(async () => {
    await cli.build();
    ns = makeNetns();
    spawnSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    enableConntrackSwitch('acct', ns);
    enableConntrackSwitch('timestamp', ns);
    ct = Conntrack.open({ netns: ns });
  });
  t.after(() => {
    ct?.close();
    removeNetns(ns);
    cli.remove();
  });
  t.before.each(() => { ct.flushSync(); });
}

const flows: CreateSpec[] = [
  { family: 'ipv4', protocol: 'tcp', src: '10.5.0.1', dst: '198.51.100.1', sport: 40001, dport: 443, tcpState: 'ESTABLISHED', timeout: 600, zone: 5, mark: 0x42 },
  { family: 'ipv6', protocol: 'udp', src: '2001:db8:5::1', dst: '2001:db8::53', sport: 5353, dport: 53, timeout: 600, zone: 5 },
  { family: 'ipv4', protocol: 'udp', src: '10.7.0.1', dst: '198.51.100.53', sport: 5000, dport: 53, timeout: 600, zone: 7 },
];
const probe: CreateSpec = { family: 'ipv4', protocol: 'udp', src: '10.5.9.9', dst: '10.5.9.9', sport: 1, dport: 1, timeout: 60, zone: 5 };

it('records for flows created and deleted while listening: tuples, zone, mark, state, counters, start/stop', async () => {
  assert.equal(conntrackSwitches(ns), { events: true, acct: true, timestamp: true });
  const p = await loadPlugin(MANIFEST, {
    policy: { plugins: { flowlog: { capabilities: { operations: ['events'], scope: { zones: [0, 5, 7] } } } } },
    netns: ns,
    config: { zones: [0, 5] }, // several zones: filtered in the plugin (zone 7 is granted but not asked for)
  });
  let text = '';
  const running = p.run({ onOutput: (b) => (text += Buffer.from(b).toString('utf8')) });
  const records = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  try {
    // The subscription opens once init has run: churn a probe flow until its record shows up.
    for (let i = 0; i < 100 && !records().some((r) => r.orig.sport === 1); i++) {
      ct.createSync([probe]);
      ct.flushSync({ zone: 5 });
      await sleep(50);
    }
    text = '';
    assert.is(ct.createSync(flows).ok, 3);
    conntrackIn(ns, ['-D', '-w', '5']);
    conntrackIn(ns, ['-D', '-w', '7']);
    for (let i = 0; i < 100 && records().length < 2; i++) await sleep(50);
    await sleep(200); // a zone-7 record would have arrived by now
  } finally {
    p.stop(); // ends the event run normally: it resolves with what it did
  }
  const r = await running;
  await p.close();
  const got = records();
  assert.is(got.length, 2, `zone 5 only: ${text}`);
  const [tcp, udp6] = [got.find((x) => x.proto === 'tcp'), got.find((x) => x.family === 'ipv6')];
  assert.ok(tcp && udp6, text);
  assert.equal(tcp.orig, { src: '10.5.0.1', dst: '198.51.100.1', sport: 40001, dport: 443 });
  assert.equal(tcp.reply, { src: '198.51.100.1', dst: '10.5.0.1', sport: 443, dport: 40001 });
  assert.is(tcp.zone, 5);
  assert.is(tcp.mark, 0x42);
  assert.is(tcp.state, 'ESTABLISHED');
  assert.equal(udp6.orig, { src: '2001:db8:5::1', dst: '2001:db8::53', sport: 5353, dport: 53 });
  assert.is(udp6.zone, 5);
  // Created flows carry zero counters (accounting is on, no packet passed).
  for (const x of [tcp, udp6]) assert.equal([x.packets_orig, x.bytes_orig, x.packets_reply, x.bytes_reply], [0, 0, 0, 0]);
  const now = BigInt(Date.now()) * 1_000_000n;
  for (const x of got) {
    assert.ok(typeof x.start_ns === 'number' && typeof x.stop_ns === 'number', `timestamps in ${JSON.stringify(x)}`);
    assert.ok(x.stop_ns >= x.start_ns && Math.abs(Number(BigInt(x.stop_ns) - now)) < 60e9, 'stop is about now');
    assert.is(x.duration_ms, Math.floor((x.stop_ns - x.start_ns) / 1e6));
    assert.ok(x.id > 0);
  }
  assert.ok(r.stats.events >= 4, `events delivered: ${r.stats.events}`);
  assert.is(r.stats.overruns, 0);
});

it('ctplug --plugin flowlog (CLI): the zone picks the flows; limit ends the run with the summary', async () => {
  const child = spawn(process.execPath, [cli.entry, '--plugin', 'flowlog', '--netns', ns, '--config', '{"zones":[5],"limit":3}'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  try {
    // Zone 7 and zone 5 flows come and go until three zone-5 records ended the run.
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      ct.createSync([{ ...probe, zone: 7, sport: 100 + i }, { ...probe, zone: 5, sport: 100 + i }]);
      ct.flushSync();
      await sleep(100);
    }
    const code = await Promise.race([done, sleep(5000).then(() => -2)]);
    assert.is(code, 0, `exit ${code}; stdout ${out}; stderr ${err}`);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    assert.is(lines.length, 3, out);
    for (const r of lines) {
      assert.is(r.zone, 5);
      assert.equal(Object.keys(r.orig), ['src', 'dst', 'sport', 'dport']);
      assert.ok('bytes_orig' in r && 'start_ns' in r, JSON.stringify(r));
    }
    assert.match(err, /\[flowlog\] 3 flows logged/);
  } finally {
    child.kill('SIGKILL');
  }
});

t.run();
