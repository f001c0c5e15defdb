// Events benchmark: one burst, several listeners, in one run.
//   node --import ./scripts/ts-register.mjs bench/events.ts [entries=100000] [flowlog rounds=3]
// Needs root and the bundle (bin/ctplug.js -> dist/). Makes a throwaway netns (removed at the end),
// raises nf_conntrack_max (initial namespace) for the run and puts it back.
//  1. A burst of N entries created as fast as the netlink core can (Conntrack.createSync) while
//     `ctplug events -o id` (default 128 MiB buffer) and `conntrack -E -o id` both listen:
//     NEW events received by each, overruns.
//  2. flowlog: N entries deleted (kernel flush) with nf_conntrack_acct=1 and timestamps on while
//     `ctplug --plugin flowlog` listens: records/s, and the ctplug process's VmRSS over time.
//  3. The burst of 1. with `ctplug events -b 262144`: overruns reported, resyncs, time to resync.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Conntrack, type CreateSpec } from '../host/conntrack/conntrack.js';
import { enableConntrackSwitch } from '../host/conntrack/events.js';

const N = Number(process.argv[2] ?? 100_000);
/** flowlog rounds (delete N each): shows whether the host's memory levels off or keeps growing. */
const ROUNDS = Number(process.argv[3] ?? 3);
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const CTPLUG = join(root, 'bin', 'ctplug.js');
const ns = `ctplug-bench-ev-${process.pid}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface Listener {
  child: ChildProcess;
  /** Lines seen, by a classifier's key. */
  counts: Map<string, number>;
  err: () => string;
  lastLineAt: number;
  done: Promise<number>;
}

/** Spawns a listener and classifies each stdout line as it arrives (no output kept). */
function listen(cmd: string, args: string[], classify: (line: string) => string | undefined): Listener {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const l: Listener = { child, counts: new Map(), err: () => err, lastLineAt: 0, done: new Promise((r) => child.on('close', (c) => r(c ?? -1))) };
  let err = '', partial = '';
  child.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const k = classify(line);
      if (k) l.counts.set(k, (l.counts.get(k) ?? 0) + 1);
    }
    l.lastLineAt = performance.now();
  });
  return l;
}

/** [NEW] lines of the burst zone, resync listing lines, probes. */
const eventClass = (line: string) => {
  if (/ zone=99\b/.test(line)) return 'probe';
  const m = line.match(/^\s*\[(NEW|UPDATE|DESTROY)\]/);
  if (m) return / zone=1\b/.test(line) ? m[1] : undefined;
  return / zone=1\b/.test(line) ? 'resync' : undefined;
};

const burst = (n: number, zone = 1): CreateSpec[] =>
  Array.from({ length: n }, (_, i) => ({ family: 'ipv4', protocol: 'udp', src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '198.51.100.53', sport: 1024 + (i % 60000), dport: 53, timeout: 600, zone }));

async function untilReady(ct: Conntrack, ls: Listener[], key = 'probe', zone = 99): Promise<void> {
  for (let i = 0; i < 200; i++) {
    ct.createSync([{ family: 'ipv4', protocol: 'udp', src: '10.99.0.1', dst: '10.99.0.2', sport: 1 + i, dport: 9, timeout: 30, zone }]);
    ct.flushSync({ zone });
    await sleep(100);
    if (ls.every((l) => (l.counts.get(key) ?? 0) > 0)) return;
  }
  throw new Error(`listeners not ready: ${ls.map((l) => l.err()).join(' | ')}`);
}

/** Waits until `enough()` or no listener printed anything for `quietMs`. */
async function settle(ls: Listener[], enough: () => boolean, quietMs = 3000, maxMs = 120_000): Promise<void> {
  const t0 = performance.now();
  while (!enough() && performance.now() - t0 < maxMs) {
    await sleep(50);
    const last = Math.max(t0, ...ls.map((l) => l.lastLineAt));
    if (performance.now() - last > quietMs) return;
  }
}

async function stop(l: Listener): Promise<void> {
  l.child.kill('SIGINT');
  const code = await Promise.race([l.done, sleep(20_000).then(() => -2)]);
  if (code === -2) l.child.kill('SIGKILL');
}

const summaryOf = (err: string) => err.split('\n').find((s) => /flow events have been shown/.test(s) && s.startsWith('ctplug')) ?? '';
const num = (s: string, re: RegExp) => Number(s.match(re)?.[1] ?? NaN);

const maxPath = '/proc/sys/net/netfilter/nf_conntrack_max';
const oldMax = Number(readFileSync(maxPath, 'utf8'));
spawnSync('ip', ['netns', 'add', ns]);
const rows: string[][] = [];
try {
  if (N * 1.2 > oldMax) writeFileSync(maxPath, String(Math.ceil(N * 1.3)));
  const ct = Conntrack.open({ netns: ns });

  // ---- 1. burst: ctplug events (defaults) vs conntrack -E --------------------------------
  {
    const ours = listen(process.execPath, [CTPLUG, 'events', '--netns', ns, '-o', 'id'], eventClass);
    const theirs = listen('ip', ['netns', 'exec', ns, 'conntrack', '-E', '-o', 'id'], eventClass);
    await untilReady(ct, [ours, theirs]);
    const specs = burst(N);
    const t0 = performance.now();
    const r = ct.createSync(specs);
    const tCreate = performance.now() - t0;
    if (r.ok !== N) throw new Error(`created ${r.ok}/${N}`);
    await settle([ours, theirs], () => (ours.counts.get('NEW') ?? 0) >= N && (theirs.counts.get('NEW') ?? 0) >= N);
    const tAll = ours.lastLineAt - t0;
    await stop(ours);
    await stop(theirs);
    const s = summaryOf(ours.err());
    const o = ours.counts.get('NEW') ?? 0, c = theirs.counts.get('NEW') ?? 0;
    rows.push([`burst ${fmt(N)} creates (${fmt((N / tCreate) * 1000)}/s)`, 'ctplug events -o id (128 MiB)', `${fmt(o)} NEW (${((o / N) * 100).toFixed(1)}%)`,
      `overruns ${num(s, /(\d+) overruns?/)}, resyncs ${num(s, /(\d+) resyncs?/)}; last line ${fmt(tAll)} ms after burst start`]);
    rows.push(['', 'conntrack -E -o id', `${fmt(c)} NEW (${((c / N) * 100).toFixed(1)}%)`, /ENOBUFS|No buffer space/i.test(theirs.err()) ? 'ENOBUFS reported by conntrack' : 'no loss message']);
    ct.flushSync();
  }

  // ---- 2. flowlog: delete N with accounting + timestamps on; RSS over time --------------
  {
    enableConntrackSwitch('acct', ns);
    enableConntrackSwitch('timestamp', ns);
    const fl = listen(process.execPath, [CTPLUG, '--plugin', 'flowlog', '--netns', ns, '--config', '{"zones":[1]}'], (l) => (l.includes('"zone":1,') ? 'rec' : undefined));
    // Ready when a zone-1 probe's record shows up.
    await untilReady(ct, [fl], 'rec', 1);
    const rss: [number, number][] = [];
    const sample = () => {
      if (fl.child.exitCode !== null) throw new Error(`flowlog exited ${fl.child.exitCode}: ${fl.err()}`);
      const m = readFileSync(`/proc/${fl.child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
      if (m) rss.push([performance.now(), Number(m[1]) / 1024]);
    };
    const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    let first = NaN, peak = 0, end = 0;
    // Several rounds: later ones show whether memory keeps growing or levels off.
    for (let round = 1; round <= ROUNDS; round++) {
      fl.counts.clear();
      if (ct.createSync(burst(N)).ok !== N) throw new Error('create for flowlog');
      rss.length = 0;
      sample();
      const timer = setInterval(sample, 25);
      const t0 = performance.now();
      ct.flushSync({ zone: 1 });
      const tFlush = performance.now() - t0;
      await settle([fl], () => (fl.counts.get('rec') ?? 0) >= N);
      const tAll = fl.lastLineAt - t0;
      await sleep(300);
      sample();
      clearInterval(timer);
      const got = fl.counts.get('rec') ?? 0;
      const mb = rss.map(([, v]) => v);
      if (round === 1) first = mb[0];
      peak = Math.max(peak, ...mb);
      end = mb[mb.length - 1];
      const third = Math.max(1, Math.floor(mb.length / 3));
      rows.push([`flowlog round ${round}: delete ${fmt(N)} (flush ${fmt(tFlush)} ms), acct+ts on`, 'ctplug --plugin flowlog', `${fmt(got)} records in ${fmt(tAll)} ms = ${fmt((got / tAll) * 1000)} records/s`,
        `VmRSS MiB start ${mb[0].toFixed(0)}, max ${Math.max(...mb).toFixed(0)}, end ${mb[mb.length - 1].toFixed(0)}; thirds avg ${avg(mb.slice(0, third)).toFixed(0)}/${avg(mb.slice(third, -third)).toFixed(0)}/${avg(mb.slice(-third)).toFixed(0)} (${mb.length} samples, 25 ms)`]);
    }
    // Flat: the highest peak of all rounds stays near the first start.
    rows.push([`flowlog, all ${ROUNDS} rounds`, 'ctplug --plugin flowlog', '', `VmRSS MiB first start ${first.toFixed(0)}, highest peak ${peak.toFixed(0)} (+${(peak - first).toFixed(0)}), last end ${end.toFixed(0)}`]);
    fl.child.kill('SIGKILL');
    await fl.done;
    ct.flushSync();
  }

  // ---- 3. the same burst with a 256 KiB receive buffer ------------------------------------
  {
    const ours = listen(process.execPath, [CTPLUG, 'events', '--netns', ns, '-o', 'id', '-b', '262144'], eventClass);
    await untilReady(ct, [ours]);
    const t0 = performance.now();
    if (ct.createSync(burst(N)).ok !== N) throw new Error('create for small buffer');
    const tCreate = performance.now() - t0;
    await settle([ours], () => false, 3000);
    const tLast = ours.lastLineAt - t0;
    await stop(ours);
    const s = summaryOf(ours.err());
    const o = ours.counts.get('NEW') ?? 0, re = ours.counts.get('resync') ?? 0;
    rows.push([`burst ${fmt(N)} creates (${fmt(tCreate)} ms)`, 'ctplug events -o id -b 262144', `${fmt(o)} NEW (${((o / N) * 100).toFixed(1)}%) + ${fmt(re)} resync lines`,
      `overruns ${num(s, /(\d+) overruns?/)}, resyncs ${num(s, /(\d+) resyncs?/)}, resync dumps took ${num(s, /re-listed in (\d+) ms/)} ms; last line ${fmt(tLast)} ms after burst start`]);
    rows.push(['', '  summary line', s.replace(/^ctplug v\S+ \(conntrack-tools compatible\): /, ''), '']);
  }
  ct.close();
} finally {
  spawnSync('ip', ['netns', 'del', ns]);
  if (Number(readFileSync(maxPath, 'utf8')) !== oldMax) writeFileSync(maxPath, String(oldMax));
}

const head = ['case', 'listener', 'received', 'notes'];
const w = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i].length))));
console.log(head.map((h, i) => h.padEnd(w[i])).join(' | '));
console.log(w.map((x) => '-'.repeat(x)).join('-|-'));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join(' | '));
