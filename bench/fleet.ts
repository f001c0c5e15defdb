// Fleet benchmark: a real nats-server -js (temp dir, free port) and `ctplug fleet agent` processes
// (the bundled CLI), each in a throwaway netns; everything is removed at the end.
//   node --import ./scripts/ts-register.mjs bench/fleet.ts [entries=100000] [purge rounds=5]
//  1. Flow records into JetStream: N entries deleted (one kernel flush: N DESTROY events); time until
//     JetStream acked all N records (the agent's /metrics), and, in the same burst, what
//     `conntrack -E -e DESTROY` received (its default buffer) for reference.
//  2. Fleet purge end-to-end over three hosts (1000 entries of the address + 10000 others each):
//     `fanOut` run purge-remote, median of R rounds; next to `conntrack -D -s ADDR` in the three
//     namespaces one after the other (local, no network) in the same run.
//  3. The agent's memory while NATS is down: VmRSS before, after each N-record burst with the server
//     stopped (default 64 MiB outage buffer), and after the restart; records kept vs counted lost.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Conntrack } from '../host/conntrack/conntrack.js';
import { fanOut } from '../host/fleet/operator.js';
import { startNats, freePort } from '../test/helpers/nats.js';
import { natsClient, probe, tempDir, udpSpecs, writePolicy } from '../test/helpers/fleet.js';
import { makeNetns, removeNetns } from '../test/helpers/netns.js';
// @ts-expect-error: plain ESM script without typings
import { bundle } from '../scripts/bundle.mjs';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dist = join(root, 'dist', `.bench-fleet-${process.pid}`);
const dir = tempDir();
const namespaces: string[] = [];
const agents: ChildProcess[] = [];
const cts: Conntrack[] = [];
const maxPath = '/proc/sys/net/netfilter/nf_conntrack_max';
const oldMax = readFileSync(maxPath, 'utf8').trim();
const nats = await startNats();
const nc = await natsClient(nats.url);

interface AgentProc { name: string; ns: string; ct: Conntrack; proc: ChildProcess; port: number }

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const l of text.split('\n')) if (l.startsWith(name + '{') || l.startsWith(name + ' ')) sum += Number(l.split(' ').pop());
  return sum;
}

const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function startAgent(name: string, fleet: boolean): Promise<AgentProc> {
  const ns = makeNetns();
  namespaces.push(ns);
  const ct = Conntrack.open({ netns: ns });
  cts.push(ct);
  const port = await freePort();
  const policy = writePolicy(dir.dir, name, fleet ? { capabilities: { operations: ['read', 'delete'], scope: { zones: 'any' } }, netns: [ns], plugins: ['purge-remote'] } : undefined);
  const proc = spawn(process.execPath, [join(dist, 'cli.cjs'), 'fleet', 'agent', '--nats', nats.url, '--name', name, '--policy', policy, '--netns', ns, '--metrics', `127.0.0.1:${port}`, '--census', '3600'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  agents.push(proc);
  for (let i = 0; ; i++) {
    await sleep(150);
    if (i > 200) throw new Error(`agent ${name} did not start: ${err}`);
    if (!/publishing to/.test(err)) continue;
    probe(ct, i);
    if (await metric(port, 'ctplug_nats_published_records_total') > 0) break;
  }
  return { name, ns, ct, proc, port };
}

try {
  writeFileSync(maxPath, String(Math.max(Number(oldMax), 4 * N)));
  await bundle({ outdir: dist, types: false, quiet: true });
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`nats-server ${spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).stdout.trim()}; load ${load()}`);

  // 1. records/s into JetStream
  const a = await startAgent('bench-a', true);
  a.ct.createSync(udpSpecs(N, 1, '10.1.0.1'));
  const base = await metric(a.port, 'ctplug_nats_published_records_total');
  const ce = spawn('ip', ['netns', 'exec', a.ns, 'conntrack', '-E', '-e', 'DESTROY', '-w', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ceLines = 0;
  ce.stdout!.setEncoding('utf8').on('data', (d: string) => { for (const ch of d) if (ch === '\n') ceLines++; });
  await sleep(500);
  const t0 = performance.now();
  a.ct.flushSync({ zone: 1 });
  let done = 0;
  while (done < N && performance.now() - t0 < 120_000) {
    await sleep(50);
    done = (await metric(a.port, 'ctplug_nats_published_records_total')) - base;
  }
  const ms = performance.now() - t0;
  await sleep(500);
  ce.kill('SIGINT');
  const gaps = await metric(a.port, 'ctplug_nats_gaps_total');
  console.log(`1. ${fmt(N)} DESTROY -> JetStream: ${fmt(done)} records acked in ${fmt(ms)} ms = ${fmt(done / ms * 1000)} records/s; gap markers ${gaps} (load ${load()})`);
  console.log(`   same burst, conntrack -E -e DESTROY (default buffer): ${fmt(ceLines)} of ${fmt(N)} events received`);

  // 2. fleet purge across three hosts
  const hosts = [a, await startAgent('bench-b', true), await startAgent('bench-c', true)];
  const ADDR = '203.0.113.77';
  const fill = () => { for (const h of hosts) { h.ct.flushSync(); h.ct.createSync([...udpSpecs(1000, 2, ADDR), ...udpSpecs(10_000, 2, '10.8.0.1', 2000)]); } };
  const fleetMs: number[] = [], ctMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    fill();
    const f0 = performance.now();
    const res = await fanOut(nc, 'run', { plugin: 'purge-remote', config: { addr: ADDR } }, { timeoutMs: 60_000, hosts: 'bench-*', discoverMs: 300 });
    fleetMs.push(performance.now() - f0);
    const deleted = res.map((x) => `${x.host}:${x.status}:${x.deleted}`).join(' ');
    if (r === 0) console.log(`   round 1 replies: ${deleted}`);
    fill();
    const c0 = performance.now();
    for (const h of hosts) spawnSync('ip', ['netns', 'exec', h.ns, 'conntrack', '-D', '-s', ADDR], { stdio: 'ignore' });
    ctMs.push(performance.now() - c0);
  }
  console.log(`2. fleet purge, 3 hosts x (1000 of the address + 10000 others): median ${fmt(median(fleetMs))} ms end to end (incl. ~300 ms discovery) [${fleetMs.map(fmt).join(', ')}]; ` +
    `conntrack -D -s in the 3 netns, sequentially, local: median ${fmt(median(ctMs))} ms (load ${load()})`);

  // 3. memory while NATS is down
  a.ct.flushSync();
  await sleep(1000);
  const pid = a.proc.pid!;
  const before = rss(pid);
  const keptBefore = await metric(a.port, 'ctplug_nats_published_records_total');
  await nats.halt();
  const during: number[] = [];
  for (let r = 0; r < 3; r++) {
    a.ct.createSync(udpSpecs(N, 3, '10.3.0.1'));
    a.ct.flushSync({ zone: 3 });
    await sleep(3000);
    during.push(rss(pid));
  }
  await nats.restart();
  let lost = 0, kept = 0;
  const r0 = performance.now();
  for (let i = 0; i < 1200; i++) {
    await sleep(100);
    try {
      lost = await metric(a.port, 'ctplug_nats_lost_records_total');
      kept = (await metric(a.port, 'ctplug_nats_published_records_total')) - keptBefore;
      if ((await metric(a.port, 'ctplug_nats_buffered_bytes')) === 0 && kept + lost >= 3 * N) break;
    } catch { /* metrics busy */ }
  }
  console.log(`3. agent VmRSS: ${fmt(before)} MiB with NATS up; NATS down, after each ${fmt(N)}-record burst: ${during.map(fmt).join(', ')} MiB; after the restart ${fmt(rss(pid))} MiB. ` +
    `${fmt(kept)} records published after the restart (in ${fmt(performance.now() - r0)} ms), ${fmt(lost)} counted lost in outage gap markers (64 MiB buffer); ` +
    `kernel overruns ${await metric(a.port, 'ctplug_event_overruns_total')}, gap markers ${await metric(a.port, 'ctplug_nats_gaps_total')}, still buffered ${fmt(await metric(a.port, 'ctplug_nats_buffered_bytes'))} bytes (load ${load()})`);
} finally {
  for (const p of agents) p.kill('SIGTERM');
  await sleep(1000);
  for (const p of agents) p.kill('SIGKILL');
  for (const c of cts) c.close();
  for (const ns of namespaces) removeNetns(ns);
  await nc.close().catch(() => undefined);
  await nats.stop();
  dir.remove();
  spawnSync('rm', ['-rf', dist]);
  writeFileSync(maxPath, oldMax);
}
