// Whole commands, ctplug vs conntrack, on the same table in one run (root; throwaway netns): the
// table of issue 15. Each row runs the two commands in turn (ctplug, conntrack, ctplug, ...),
// whole processes from start to exit, output to /dev/null, and prints the medians and the ratio
// conntrack / ctplug (> 1: ctplug is faster). Deletes run on a table re-seeded after each run.
//   node --import ./scripts/ts-register.mjs bench/commands.ts [entries=100000] [runs=5] [--1m] [--bin=PATH]
// --1m adds `list` over 1,000,000 entries (another namespace, ~1 GB of kernel memory while it runs).
// --bin=PATH times another build's bin/ctplug.js (e.g. a checkout of main: before/after on one table).
// Uses the bundle (bin/ctplug.js, dist/): run `npm run build` first. The machine's load is printed
// with the table: on a busy machine the ratios move; compare rows of one run only.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Conntrack, type CreateSpec } from '../host/conntrack/conntrack.js';
import { packageRoot } from '../host/paths.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const N = Number(args[0] ?? 100_000);
const RUNS = Number(args[1] ?? 5);
const MILLION = process.argv.includes('--1m');
const root = packageRoot();
const bin = process.argv.find((a) => a.startsWith('--bin='))?.slice(6) ?? join(root, 'bin', 'ctplug.js');
const TIME = '/usr/bin/time';
const tmp = mkdtempSync(join(tmpdir(), 'ctplug-bench-'));
const made: string[] = [];

/** 10 zones; 10% have src 10.5/16, 10% talk to 198.51.100.7, 1% are tcp dport 5353. */
function spec(i: number): CreateSpec {
  const remote = i % 10 === 0 ? '198.51.100.7' : `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return {
    protocol: i % 2 ? 'udp' : 'tcp', src: `10.${i % 10}.${(i >> 8) & 255}.${i & 255}`, dst: remote,
    sport: 1024 + (i % 50000), dport: i % 100 === 0 ? 5353 : i % 4 ? 443 : 53, timeout: 36000, zone: i % 10, mark: i & 0xff,
  };
}

/** A netns holding entries 0..n-1 (or only those with i % 10 === only, into an existing one). */
function seed(ns: string, n: number, only?: number): void {
  if (only === undefined) {
    execFileSync('ip', ['netns', 'add', ns]);
    made.push(ns);
  }
  const ct = Conntrack.open({ netns: ns });
  try {
    for (let base = 0; base < n; base += 50_000) {
      const specs: CreateSpec[] = [];
      for (let i = base; i < Math.min(n, base + 50_000); i++) if (only === undefined || i % 10 === only) specs.push(spec(i));
      const r = ct.createSync(specs);
      if (r.failed.some((f) => f.errno !== 'EEXIST')) throw new Error(`seeding ${ns}: ${JSON.stringify(r.failed.slice(0, 2))}`);
    }
  } finally {
    ct.close();
  }
}

interface Sample { wall: number; cpu: number; rssMiB: number; code: number }

/** One whole process; its own accounting when /usr/bin/time is there (else wall only, from here). */
function once(cmd: string[]): Sample {
  const out = join(tmp, 'time');
  const timed = existsSync(TIME);
  const argv = timed ? [TIME, '-f', '%e %U %S %M', '-o', out, ...cmd] : cmd;
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const wall = (performance.now() - t0) / 1000;
  if (!timed) return { wall, cpu: NaN, rssMiB: NaN, code: r.status ?? -1 };
  const [, u, s, m] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wall, cpu: u + s, rssMiB: m / 1024, code: r.status ?? -1 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const inNs = (ns: string, a: string[]) => ['nsenter', `--net=/run/netns/${ns}`, 'conntrack', ...a];
const ours = (ns: string, a: string[]) => [process.execPath, bin, ...a, '--netns', ns];

interface Row { label: string; a: Sample[]; b: Sample[]; vs: string; target: string }
const rows: Row[] = [];

/** A and B in turn, RUNS times each; `between` runs after each (re-seeding), untimed. */
function pair(label: string, a: string[], b: string[], vs: string, target: string, between?: () => void, runs = RUNS): void {
  const row: Row = { label, a: [], b: [], vs, target };
  once(a), once(b); // warm-up: page cache, code cache
  between?.();
  for (let k = 0; k < runs; k++) {
    row.a.push(once(a));
    between?.();
    row.b.push(once(b));
    between?.();
  }
  rows.push(row);
  print(row);
}

const f3 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(3));
function print(r: Row): void {
  const wa = median(r.a.map((s) => s.wall)), wb = median(r.b.map((s) => s.wall));
  const ca = median(r.a.map((s) => s.cpu)), cb = median(r.b.map((s) => s.cpu));
  const rss = Math.max(...r.a.map((s) => s.rssMiB));
  const codes = [...new Set(r.a.map((s) => s.code))].join('/') + ' vs ' + [...new Set(r.b.map((s) => s.code))].join('/');
  console.log(`| ${r.label} | ${f3(wa)} (${f3(ca)}) | ${r.vs}: ${f3(wb)} (${f3(cb)}) | **${(wb / wa).toFixed(2)}x** | ${r.target} | ${Number.isNaN(rss) ? '-' : rss.toFixed(0)} MiB, exit ${codes} |`);
}

try {
  if (process.getuid?.() !== 0) throw new Error('bench: needs root (network namespaces, conntrack entries)');
  const ns = `ctplug-bench-cmd-${process.pid}`;
  const empty = `${ns}-empty`;
  seed(ns, N);
  seed(empty, 0);
  console.log(`ctplug (${bin}) whole commands vs conntrack, ${N.toLocaleString('en-US')} entries over 10 zones, kernel ${execFileSync('uname', ['-r']).toString().trim()}, ` +
    `${RUNS} runs each (medians), load ${loadavg().map((x) => x.toFixed(2)).join(' ')}${process.env.NODE_EXTRA_CA_CERTS ? ', NODE_EXTRA_CA_CERTS set (node pays ~40 ms per start for it)' : ''}`);
  console.log('| command | ctplug wall s (cpu s) | other: wall s (cpu s) | ratio (other / ctplug) | target | ctplug peak RSS, exit codes |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  const L = (a: string[], label: string, target: string, theirs = a) => pair(label, ours(ns, ['list', ...a]), inNs(ns, ['-L', ...theirs]), 'conntrack', target);
  L([], `list (${N / 1000}k, text)`, '>= 2x');
  L(['-o', 'id'], 'list -o id', '>= 2x');
  L(['-o', 'json'], 'list -o json (conntrack: -o xml)', '>= 2x', ['-o', 'xml']);
  L(['-s', '10.5.0.0/16'], 'list -s 10.5.0.0/16 (10%)', '>= 2x');
  L(['-p', 'tcp', '--dport', '5353'], 'list -p tcp --dport 5353 (1%)', '>= 5x');
  L(['-w', '5', '-p', 'tcp', '--sport', '1500'], 'list -w 5 -p tcp --sport 1500', '>= 5x');
  L(['-w', '77'], 'list -w 77 (empty zone)', '-');
  // Deletes: the 10k deleted are put back after every run (untimed).
  pair('delete -s 10.5.0.0/16 (10k)', ours(ns, ['delete', '-s', '10.5.0.0/16']), inNs(ns, ['-D', '-s', '10.5.0.0/16']), 'conntrack -D', '>= 1.5x', () => seed(ns, N, 5));
  pair('purge-remote 198.51.100.7 (10k)', ours(ns, ['--plugin', 'purge-remote', '--config', '{"addr":"198.51.100.7"}']),
    inNs(ns, ['-D', '-d', '198.51.100.7']), 'conntrack -D -d', '>= 1.5x', () => seed(ns, N, 0));
  pair('list, empty namespace', ours(empty, ['list']), [process.execPath, '-e', '0'], 'node -e 0', '<= 2x node (ratio >= 0.5)');
  if (MILLION) {
    const big = `${ns}-1m`;
    seed(big, 1_000_000);
    pair('list (1M, text)', ours(big, ['list']), inNs(big, ['-L']), 'conntrack', '>= 3x, flat RSS', undefined, Math.min(RUNS, 3));
  }
} finally {
  for (const n of made) spawnSync('ip', ['netns', 'del', n]);
  rmSync(tmp, { recursive: true, force: true });
}
