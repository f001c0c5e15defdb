// The fleet against a real `nats-server -js` (its own temp dir and port, stopped even on failure) and
// three agents, one per throwaway network namespace (removed even on failure). conntrack -L in each
// namespace is the oracle for what a fleet purge did and for what was there.
import * as assert from 'uvu/assert';
import type { NatsConnection } from '@nats-io/nats-core';
import { Conntrack } from '../../host/conntrack/conntrack.js';
import type { Agent } from '../../host/fleet/agent.js';
import { fanOut } from '../../host/fleet/operator.js';
import { byHost, natsClient, readStream, startFlowingAgent, tempDir, udpSpecs, writePolicy } from '../helpers/fleet.js';
import { natsKernelSuite, startNats, type NatsServer } from '../helpers/nats.js';
import { conntrackIn, makeNetns, removeNetns } from '../helpers/netns.js';

const FILE = 'test/integration/fleet.test.ts';
const { t, it, skip } = natsKernelSuite('fleet (nats + kernel)', FILE);

const HOSTS = ['edge-a', 'edge-b', 'edge-c'];
const ABUSER = '203.0.113.7';

interface World { nats: NatsServer; nc: NatsConnection; dir: ReturnType<typeof tempDir>; ns: string[]; ct: Conntrack[]; agents: Agent[] }
let w: World | undefined;

/** The fleet entry: edge-c's policy does not list purge-remote. */
const fleetEntry = (ns: string, i: number) => ({
  capabilities: { operations: ['read', 'delete'], scope: { zones: 'any' } },
  netns: [ns],
  plugins: i === 2 ? ['list'] : ['purge-remote'],
});

if (!skip) {
  t.before(async () => {
    const world: Partial<World> = { ns: [], ct: [], agents: [] };
    w = world as World;
    world.dir = tempDir();
    world.nats = await startNats();
    world.nc = await natsClient(world.nats.url);
    for (const [i, name] of HOSTS.entries()) {
      const ns = makeNetns();
      world.ns!.push(ns);
      world.ct!.push(Conntrack.open({ netns: ns }));
      const policy = writePolicy(world.dir.dir, name, fleetEntry(ns, i));
      world.agents!.push(await startFlowingAgent({ nats: world.nats.url, name, policy, netns: ns }, world.ct![i]));
    }
  });
  t.after(async () => {
    if (!w) return;
    for (const a of w.agents) await a.close().catch(() => undefined);
    for (const c of w.ct) c.close();
    for (const ns of w.ns) removeNetns(ns);
    await w.nc?.close().catch(() => undefined);
    await w.nats?.stop();
    w.dir?.remove();
  });
}

it('flows from all three hosts reach the stream: every record, Ctplug-Seq without a hole, no gap marker', async () => {
  const { ct, agents, nc } = w!;
  const N = 300;
  for (const [i, c] of ct.entries()) {
    c.createSync(udpSpecs(N, 5 + i));
    c.flushSync({ zone: 5 + i });
  }
  await Promise.all(agents.map(async (a) => {
    for (let i = 0; i < 100 && (a.publishers.flows.stats.records < N + 1); i++) await new Promise((r) => setTimeout(r, 100));
    await a.flush();
  }));
  const hosts = byHost(await readStream(nc));
  for (const [i, name] of HOSTS.entries()) {
    const h = hosts.get(name);
    assert.ok(h, `${name} published nothing`);
    assert.equal(h!.gaps, [], `${name}: gap markers`);
    assert.ok(h!.contiguous, `${name}: Ctplug-Seq has a hole: ${h!.seqs.join(',')}`);
    const mine = h!.records.filter((r) => r.zone === 5 + i);
    assert.is(mine.length, N, `${name}: records of zone ${5 + i}`);
    assert.is(new Set(mine.map((r) => (r.orig as { dst: string }).dst)).size, N);
  }
});

it('a fleet purge removes the address from all three tables and reports each host\'s count; the refusing host keeps its table', async () => {
  const { ct, ns, nc } = w!;
  for (const [i, c] of ct.entries()) {
    c.createSync([...udpSpecs(10 + i, 1, ABUSER), ...udpSpecs(7, 1, '198.51.100.1', 1000)]);
  }
  const before = ns.map((n) => conntrackIn(n, ['-L', '-s', ABUSER]).trim().split('\n').filter(Boolean).length);
  assert.equal(before, [10, 11, 12]);
  const results = await fanOut(nc, 'run', { plugin: 'purge-remote', config: { addr: ABUSER } }, { timeoutMs: 20_000 });
  const by = Object.fromEntries(results.map((r) => [r.host, r]));
  assert.equal(Object.keys(by).sort(), HOSTS);
  assert.is(by['edge-a'].status, 'ok');
  assert.is(by['edge-a'].deleted, 10);
  assert.is(by['edge-b'].status, 'ok');
  assert.is(by['edge-b'].deleted, 11);
  assert.is(by['edge-c'].status, 'refused');
  assert.match(String(by['edge-c'].reason), /purge-remote.*clients\.fleet\.plugins/);
  const after = ns.map((n) => conntrackIn(n, ['-L', '-s', ABUSER]).trim().split('\n').filter(Boolean).length);
  assert.equal(after, [0, 0, 12], 'edge-a and edge-b purged, edge-c kept its table');
  const others = ns.map((n) => conntrackIn(n, ['-L', '-s', '198.51.100.1']).trim().split('\n').filter(Boolean).length);
  assert.equal(others, [7, 7, 7], 'nothing else was touched');
  for (const c of ct) c.flushSync();
});

it('nats-server stopped mid-burst: a small outage buffer reports counted gaps (published + lost = the burst), a large one loses nothing, both recover after the restart', async () => {
  const { ct, ns, nats, nc, dir } = w!;
  const small = await startFlowingAgent({
    nats: nats.url, name: 'edge-small', policy: writePolicy(dir.dir, 'edge-small'), netns: ns[0], bufferBytes: 32 * 1024,
  }, ct[0]);
  w!.agents.push(small);
  const big = w!.agents[0]; // edge-a: same namespace, default 64 MiB buffer
  const ZONE = 20, CHUNK = 1000, CHUNKS = 8;
  const total = CHUNK * CHUNKS;
  try {
    for (let c = 0; c < CHUNKS; c++) {
      if (c === 2) await nats.halt();
      ct[0].createSync(udpSpecs(CHUNK, ZONE, '10.1.0.1', c * CHUNK));
      ct[0].flushSync({ zone: ZONE });
      await new Promise((r) => setTimeout(r, 150));
    }
    const lostWhileDown = small.publishers.flows.stats.lostRecords;
    assert.ok(lostWhileDown > 0, 'the 32 KiB buffer overflowed while NATS was down');
  } finally {
    await nats.restart();
  }
  // After the restart both agents catch up: nothing is left buffered.
  for (const a of [small, big]) {
    for (let i = 0; i < 200 && (a.publishers.flows.stats.bufferedMessages > 0); i++) await new Promise((r) => setTimeout(r, 100));
    await a.flush();
  }
  const hosts = byHost(await readStream(nc));
  const s = hosts.get('edge-small')!;
  const got = s.records.filter((r) => r.zone === ZONE).length;
  const outage = s.gaps.filter((g) => g.gap === 'outage');
  const lost = outage.reduce((n, g) => n + Number(g.records), 0);
  assert.ok(outage.length >= 1, 'an outage gap marker is in the stream');
  assert.ok(s.contiguous, `edge-small: Ctplug-Seq has a hole: ${s.seqs.join(',')}`);
  assert.is(got + lost, total, `records in the stream (${got}) + records the markers count as lost (${lost}) = the burst`);
  assert.is(lost, small.publishers.flows.stats.lostRecords);
  const b = hosts.get('edge-a')!;
  assert.is(b.records.filter((r) => r.zone === ZONE).length, total, 'edge-a buffered the whole outage and lost nothing');
  assert.equal(b.gaps, []);
  assert.ok(b.contiguous);
  // Recovery: new flows after the restart arrive at once.
  const before = small.publishers.flows.stats.records;
  ct[0].createSync(udpSpecs(50, ZONE + 1));
  ct[0].flushSync({ zone: ZONE + 1 });
  for (let i = 0; i < 100 && small.publishers.flows.stats.records < before + 50; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(small.publishers.flows.stats.records >= before + 50, 'flows are published again after the restart');
});

it('a feed reaching its output_bytes limit is rotated: a "restart" gap marker, and records keep flowing', async () => {
  const { ct, ns, nats, nc, dir } = w!;
  const agent = await startFlowingAgent({
    nats: nats.url, name: 'edge-rotate', policy: writePolicy(dir.dir, 'edge-rotate', undefined, { output_bytes: 40_000 }), netns: ns[2],
  }, ct[2]);
  w!.agents.push(agent);
  for (let k = 0; k < 30; k++) {
    ct[2].createSync(udpSpecs(10, 30, '10.6.0.1', k * 10));
    ct[2].flushSync({ zone: 30 });
    await new Promise((r) => setTimeout(r, 150));
  }
  await new Promise((r) => setTimeout(r, 1000)); // the last rotated run is subscribed again
  ct[2].createSync(udpSpecs(10, 31, '10.6.0.1'));
  ct[2].flushSync({ zone: 31 });
  for (let i = 0; i < 50 && !(agent.publishers.flows.stats.records > 0 && agent.publishers.flows.stats.bufferedMessages === 0); i++) await new Promise((r) => setTimeout(r, 100));
  await agent.flush();
  const h = byHost(await readStream(nc)).get('edge-rotate')!;
  const restarts = h.gaps.filter((g) => g.gap === 'restart');
  assert.ok(restarts.length >= 1, 'the run was rotated');
  assert.match(String(restarts[0].why), /rotated at \d+ bytes of output \(limits\.output_bytes 40000\)/);
  assert.ok(h.contiguous);
  // ~300 records of ~250 bytes went through runs of at most 40 kB each; those after the last rotation arrive.
  assert.ok(h.records.filter((r) => r.zone === 30).length >= 250, 'most records crossed the rotations (only those at a restart may be missing, and each such place is marked)');
  for (let i = 0; i < 30 && byHost(await readStream(nc, 'flows', 500)).get('edge-rotate')!.records.filter((r) => r.zone === 31).length < 10; i++) await new Promise((r) => setTimeout(r, 200));
  assert.is(byHost(await readStream(nc, 'flows', 500)).get('edge-rotate')!.records.filter((r) => r.zone === 31).length, 10, 'records after the rotations all arrive');
});

/** Samples of one metric from the Prometheus text: [labels, value]. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const l of text.split('\n')) {
    const m = new RegExp(`^${name}(?:\\{(.*)\\})? (\\S+)$`).exec(l);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const kv of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}
const sum = (xs: { value: number }[]) => xs.reduce((n, x) => n + x.value, 0);
const lines = (ns: string, args: string[]) => conntrackIn(ns, ['-L', ...args]).split('\n').filter(Boolean).length;

it('/metrics scraped during a burst: entries per zone and TCP state equal conntrack -L; events, published records and gaps equal the burst', async () => {
  const { ct, ns, nats, dir } = w!;
  const c = ct[1], n = ns[1];
  c.flushSync();
  c.createSync([...udpSpecs(30, 1), ...udpSpecs(20, 2, '10.3.0.1')]);
  c.createSync(Array.from({ length: 12 }, (_, i) => ({ family: 'ipv4', protocol: 'tcp', src: '10.4.0.1', dst: '10.4.1.1', sport: 30000 + i, dport: 443, timeout: 300, zone: 2, state: i < 5 ? 'SYN_SENT' : 'ESTABLISHED' }) as const));
  const agent = await startFlowingAgent({
    nats: nats.url, name: 'edge-metrics', policy: writePolicy(dir.dir, 'edge-metrics'), netns: n,
    metrics: { host: '127.0.0.1', port: 0 }, censusMs: 200,
  }, c);
  w!.agents.push(agent);
  const url = `http://127.0.0.1:${agent.metricsAddress!.port}/metrics`;
  const scrape = async () => (await fetch(url)).text();
  const mine = (xs: ReturnType<typeof samples>) => xs.filter((s) => s.labels.host === 'edge-metrics');
  await new Promise((r) => setTimeout(r, 500)); // a census after the probes are gone
  const before = await scrape();
  const eventsBefore = sum(mine(samples(before, 'ctplug_events_total')).filter((s) => s.labels.kind === 'DESTROY'));
  const recordsBefore = sum(mine(samples(before, 'ctplug_nats_published_records_total')));

  const ZONE = 40, CHUNK = 1000, CHUNKS = 6;
  let midBurst = '';
  for (let k = 0; k < CHUNKS; k++) {
    c.createSync(udpSpecs(CHUNK, ZONE, '10.5.0.1', k * CHUNK));
    c.flushSync({ zone: ZONE });
    if (k === CHUNKS / 2) midBurst = await scrape();
  }
  for (const text of [midBurst]) {
    const entries = samples(text, 'ctplug_conntrack_entries').filter((s) => s.labels.netns === n);
    for (const z of [1, 2]) {
      assert.is(sum(entries.filter((s) => s.labels.zone === String(z))), lines(n, ['-w', String(z)]), `zone ${z}: entries = conntrack -L -w ${z} | wc -l`);
    }
    for (const st of ['ESTABLISHED', 'SYN_SENT']) {
      assert.is(sum(entries.filter((s) => s.labels.zone === '2' && s.labels.protocol === 'tcp' && s.labels.state === st)), lines(n, ['-w', '2', '-p', 'tcp', '--state', st]), `zone 2 tcp ${st}`);
    }
    assert.is(sum(entries.filter((s) => s.labels.zone === '1' && s.labels.protocol === 'udp')), 30);
  }
  const burst = CHUNK * CHUNKS;
  for (let i = 0; i < 100 && agent.publishers.flows.stats.records < recordsBefore + burst; i++) await new Promise((r) => setTimeout(r, 100));
  await agent.flush();
  const after = await scrape();
  assert.is(sum(mine(samples(after, 'ctplug_events_total')).filter((s) => s.labels.kind === 'DESTROY')) - eventsBefore, burst, 'DESTROY events counted = the burst');
  assert.is(sum(mine(samples(after, 'ctplug_nats_published_records_total'))) - recordsBefore, burst, 'records acked by JetStream = the burst');
  assert.is(sum(mine(samples(after, 'ctplug_nats_gaps_total'))), 0);
  assert.is(sum(mine(samples(after, 'ctplug_event_overruns_total'))), 0);
  assert.ok(samples(after, 'ctplug_conntrack_max').length === 1);
  assert.ok(samples(after, 'ctplug_nats_publish_lag_seconds_count').length >= 1);
  assert.is((await fetch(url.replace('/metrics', '/other'))).status, 404);
});

t.run();
