// Watching through plugins against the real kernel: `ctplug events` prints the lines `conntrack -E`
// prints for the same changes (both listening at once); a plugin granted zone 5 receives only
// zone-5 events while zones 5 and 7 churn; with a tiny receive buffer a burst overruns, the overrun
// is reported, the resync dump arrives, and a stateful plugin's final view equals `conntrack -L`.
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { splitMessages } from '../../host/netlink/message.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import type { RunStats } from '../../host/runtime/protocol.js';
import { eventLines, exitWithin, listen, sawProbe, sleep, untilListening } from '../helpers/events.js';
import { conntrackIds, conntrackIn, conntrackSuite } from '../helpers/netns.js';
import { bundledCli } from '../helpers/cli.js';
import { root } from '../plugin/harness.js';

const { t, it, env, skip } = conntrackSuite('events: CLI vs conntrack -E, scope, loss (kernel)', 'test/integration/events-watch.test.ts');
/** The command built from the current sources (bin/ctplug.js would run the bundle built at install). */
const cli = bundledCli('events-watch-test');
if (!skip) {
  t.before(() => cli.build());
  t.after(() => cli.remove());
}
const probe = (i: number): CreateSpec => ({ family: 'ipv4', protocol: 'udp', src: '10.99.0.1', dst: '10.99.0.2', sport: 1000 + i, dport: 9, timeout: 30, zone: 99 });

it('ctplug events text lines equal conntrack -E lines for the same changes, both listening at once', async () => {
  const ctE = listen(['ip', 'netns', 'exec', env.ns, 'conntrack', '-E']);
  const ours = listen([process.execPath, cli.entry, 'events', '--netns', env.ns]);
  try {
    await untilListening(env.ct, [sawProbe(ctE.out), sawProbe(ours.out)]);
    const specs: CreateSpec[] = [
      { family: 'ipv4', protocol: 'tcp', src: '10.0.0.1', dst: '198.51.100.1', sport: 40001, dport: 443, tcpState: 'ESTABLISHED', timeout: 300, zone: 5, mark: 1 },
      { family: 'ipv4', protocol: 'udp', src: '10.0.0.2', dst: '198.51.100.53', sport: 5353, dport: 53, timeout: 30 },
      { family: 'ipv6', protocol: 'udp', src: '2001:db8::1', dst: '2001:db8::53', sport: 5353, dport: 53, timeout: 30, zone: 7 },
      { family: 'ipv4', protocol: 'icmp', src: '10.0.0.3', dst: '198.51.100.1', icmpType: 8, icmpCode: 0, icmpId: 7, timeout: 30 },
      { family: 'ipv4', protocol: 'tcp', src: '10.0.0.4', dst: '203.0.113.7', sport: 40100, dport: 22, tcpState: 'TIME_WAIT', timeout: 120, zone: 5 },
    ];
    assert.is(env.ct.createSync(specs).ok, specs.length);
    const tcp: Uint8Array[] = [];
    env.ct.dumpSync({ zone: 5 }, new Uint8Array(65536), (b) => { for (const m of splitMessages(b)) tcp.push(m.slice()); });
    assert.is(env.ct.updateSync(tcp.map((entry) => ({ entry, mark: 77 }))).ok, 2); // UPDATE x2 (the zone-5 tcp flows)
    conntrackIn(env.ns, ['-D', '-p', 'udp']); // DESTROY x2
    conntrackIn(env.ns, ['-D', '-w', '5']); // DESTROY x2
    const want = 5 + 2 + 4;
    for (let i = 0; i < 100 && (eventLines(ctE.out()).length < want || eventLines(ours.out()).length < want); i++) await sleep(50);
    await sleep(200);
    const theirs = eventLines(ctE.out()), mine = eventLines(ours.out());
    assert.is(theirs.length, want, ctE.out());
    assert.equal(mine, theirs);
    assert.equal(theirs.map((l) => l.match(/\[(\w+)\]/)![1]).sort(), [...Array(5).fill('NEW'), ...Array(2).fill('UPDATE'), ...Array(4).fill('DESTROY')].sort());
  } finally {
    ctE.child.kill('SIGINT');
    ours.child.kill('SIGINT');
  }
  // Ctrl-C ends ctplug events cleanly with its one-line summary.
  const code = await exitWithin(ours, 5000);
  assert.is(code, 0, ours.err());
  assert.match(ours.err(), /\d+ flow events have been shown\. \d+ events delivered, 0 overruns, 0 resyncs\.\n$/);
  ctE.child.kill('SIGKILL');
});

const flows = (n: number, zone: number, from = 0): CreateSpec[] =>
  Array.from({ length: n }, (_, i) => ({ family: 'ipv4', protocol: 'udp', src: '10.1.0.1', dst: `10.${zone}.${(from + i) >> 8}.${(from + i) & 255}`, sport: 1000, dport: 53, timeout: 120, zone }));

it('a plugin granted zone 5 receives only zone-5 events while zones 5 and 7 both churn', async () => {
  const p = await loadPlugin(join(root, 'dist', 'plugins', 'events.manifest.json'), {
    policy: { plugins: { events: { capabilities: { operations: ['read', 'events'], scope: { zones: [5] } } } } },
    netns: env.ns,
    config: { output: 'json' }, // asks for every zone: the grant narrows it to zone 5
  });
  let text = '';
  const running = p.run({ onOutput: (b) => (text += Buffer.from(b).toString('utf8')) });
  const rows = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  let stats: RunStats;
  try {
    for (let i = 0; i < 100 && !rows().length; i++) {
      env.ct.createSync([{ ...probe(i), zone: 5 }]);
      env.ct.flushSync({ zone: 5 });
      await sleep(100);
    }
    text = '';
    for (let round = 0; round < 4; round++) {
      assert.is(env.ct.createSync([...flows(50, 5, round * 50), ...flows(50, 7, round * 50)]).ok, 100);
      env.ct.flushSync({ zone: round % 2 ? 5 : 7 });
    }
    env.ct.flushSync();
    for (let i = 0; i < 100 && rows().length < 400; i++) await sleep(50);
    await sleep(300);
  } finally {
    p.stop(); // ends the event run normally: it resolves with what it did
    stats = (await running).stats;
    await p.close();
  }
  const got = rows();
  assert.is(got.length, 400, '200 NEW + 200 DESTROY in zone 5');
  assert.ok(got.every((r) => r.zone === 5), 'zone 5 only');
  assert.is(got.filter((r) => r.event === 'new').length, 200);
  assert.is(stats.overruns, 0);
});

it('tiny receive buffer + burst: overrun reported, resync dump arrives, the stateful view equals conntrack -L', async () => {
  const p = await loadPlugin(join(root, 'dist', 'test-plugins', 'flowview.manifest.json'), {
    policy: { plugins: { flowview: { capabilities: { operations: ['read', 'events'], scope: { zones: [5] } }, limits: { timeout_ms: 5000 } } } },
    netns: env.ns,
    backend: { kind: 'kernel', netns: env.ns, eventBufferBytes: 4096 },
  });
  let text = '', last: RunStats | undefined;
  const logs: string[] = [];
  const running = p.run({ onOutput: (b) => (text += Buffer.from(b).toString('utf8')), onLog: (l) => logs.push(l.text), onProgress: (s) => (last = s) });
  let stats: RunStats;
  try {
    for (let i = 0; i < 100 && !(last && last.events > 0); i++) {
      env.ct.createSync([{ ...probe(i), zone: 5 }]);
      await sleep(100);
    }
    // The burst: 3000 in zone 5, 1000 in zone 7, then a third of zone 5 deleted.
    assert.is(env.ct.createSync([...flows(3000, 5), ...flows(1000, 7)]).ok, 4000);
    const doomed = Array.from({ length: 1000 }, (_, i) => i * 3);
    const held: Uint8Array[] = [];
    env.ct.dumpSync({ zone: 5 }, new Uint8Array(65536), (b) => {
      for (const m of splitMessages(b)) held.push(m.slice());
    });
    env.ct.deleteSync(doomed.map((i) => held[i]).filter(Boolean));
    // Wait for an overrun, its resync, and quiet.
    for (let i = 0; i < 200 && !(last && last.overruns >= 1 && last.resyncs >= 1); i++) await sleep(50);
    await sleep(1500);
  } finally {
    p.stop(); // ends the event run normally: it resolves with what it did
    stats = (await running).stats;
    await p.close();
  }
  assert.ok(stats.overruns >= 1, `overrun reported (${stats.overruns})`);
  assert.ok(stats.resyncs >= 1 && stats.entries > 0, `resync dump arrived (${stats.resyncs} resyncs, ${stats.entries} entries)`);
  assert.ok(logs.some((l) => l.includes('events were lost (kernel receive buffer overrun); the subscribed scope is dumped again (RESYNC)')), logs.join('\n'));
  const view = text.split('\n').filter(Boolean).map(Number);
  const table = conntrackIds(env.ns, ['-w', '5']);
  assert.ok(table.length >= 2000, `zone 5 holds the 2000 survivors (+ probes): ${table.length}`);
  assert.equal(view, table, 'the view rebuilt from events + resync equals conntrack -L -w 5');
});

t.run();
