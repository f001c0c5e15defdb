// Through `ctplug daemon` vs direct mode vs conntrack, measured in one run (issue 14).
//   node --import ./scripts/ts-register.mjs bench/daemon.ts [entries=100000] [rounds=3]
// Needs root. A throwaway netns with N entries; the daemon started as root (drops to its own uid
// with CAP_NET_ADMIN + CAP_SYS_ADMIN); the client runs as uid 65534 with no capability.
//  1. list N: `ctplug list -o id` through the daemon, directly (root), and `conntrack -L -o id`;
//     rounds interleaved, median of each; target: the daemon within 1.3x of direct.
//  2. zone delete (N/10 entries in zone 7, re-seeded each round): `ctplug delete -w 7` both ways, `conntrack -D -w 7`.
//  3. restore N (`ctplug create --from` the NDJSON of `list -o json`) both ways.
//  4. event burst: N NEW events (created by Conntrack.createSync) to `ctplug events -o id` through the
//     daemon and directly, and to `conntrack -E -b 128MiB`: events printed vs created (ctplug reports
//     any loss as overruns; conntrack 1.4.7 -E printed ~330 of a burst here and said nothing of the rest).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Conntrack, type CreateSpec } from '../host/conntrack/conntrack.js';
// @ts-expect-error: plain ESM script without typings
import { bundle } from '../scripts/bundle.mjs';
import { CLIENT_UID, startTestDaemon, unprivileged } from '../test/helpers/daemon.js';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const BUNDLE = join('dist', `.bench-daemon-${process.pid}`);
const CLI = join(BUNDLE, 'cli.cjs');
const ns = `ctplug-bench-daemon-${process.pid}`;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(argv: string[], lines?: number): number {
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} -> ${r.status}: ${r.stderr.slice(0, 400)}`);
  const got = r.stdout.split('\n').filter(Boolean).length;
  if (lines !== undefined && got !== lines) throw new Error(`${argv.join(' ')} printed ${got} lines, not ${lines}`);
  return ms;
}

function specs(n: number, zone: number, net: number): CreateSpec[] {
  return Array.from({ length: n }, (_, i): CreateSpec => ({
    protocol: i % 3 === 0 ? 'tcp' : 'udp', src: `10.${net}.${(i >> 8) & 255}.${i & 255}`, dst: `172.16.${(i >> 16) & 255}.1`,
    sport: 1024 + (i % 60000), dport: 443, timeout: 3600, zone, mark: i & 0xff, ...(i % 3 === 0 ? { tcpState: 'ESTABLISHED' as const } : {}),
  }));
}

function create(list: CreateSpec[]): void {
  const ct = Conntrack.open({ netns: ns });
  try {
    for (let i = 0; i < list.length; i += 10_000) {
      const r = ct.createSync(list.slice(i, i + 10_000));
      if (r.failed.length) throw new Error(`create: ${r.failed.length} failed: ${r.failed[0].message}`);
    }
  } finally {
    ct.close();
  }
}

/** Runs an event listener, creates `n` entries once it listens, and counts what it printed. */
async function burst(argv: string[], ready: () => boolean, n: number, net: number): Promise<{ printed: number; ms: number; summary: string }> {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = 0, err = '', last = 0;
  child.stdout.on('data', (b: Buffer) => {
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) printed++;
    last = performance.now();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; !ready(); i++) {
    if (i > 300) throw new Error(`${argv.join(' ')} did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  const base = printed;
  const t0 = performance.now();
  create(specs(n, 3, net));
  for (let idle = 0; printed - base < n && idle < 50; idle++) {
    const before = printed;
    await new Promise((r) => setTimeout(r, 100));
    if (printed !== before) idle = 0;
  }
  child.kill('SIGINT');
  await exited;
  return { printed: printed - base, ms: last - t0, summary: err.trim().split('\n').pop() ?? '' };
}

const report = (s: string) => process.stdout.write(s + '\n');
execFileSync('ip', ['netns', 'add', ns]);
let daemon: Awaited<ReturnType<typeof startTestDaemon>> | undefined;
try {
  await bundle({ outdir: BUNDLE, types: false, quiet: true });
  daemon = await startTestDaemon(join(BUNDLE, 'daemon.js'), {
    clients: { [`uid:${CLIENT_UID}`]: { capabilities: { operations: ['read', 'delete', 'flush', 'events', 'create'] }, netns: [ns] } },
  });
  const viaDaemon = (args: string[]) => [...unprivileged(), 'env', `CTPLUG_SOCKET=${daemon!.socket}`, process.execPath, CLI, ...args];
  const direct = (args: string[]) => [process.execPath, CLI, ...args];
  const conntrack = (args: string[]) => ['ip', 'netns', 'exec', ns, 'conntrack', ...args];
  // conntrack -E block-buffers a pipe and SIGINT ends it unflushed: line-buffered here, so what it printed is counted.
  const conntrackLines = (args: string[]) => ['ip', 'netns', 'exec', ns, 'stdbuf', '-oL', 'conntrack', ...args];
  report(`daemon benchmark: ${N.toLocaleString('en-US')} entries, ${ROUNDS} rounds (median), load ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}; ${new Date().toISOString()}`);

  // 1. list
  create(specs(N, 1, 1));
  const t = { daemon: [] as number[], direct: [] as number[], conntrack: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    t.daemon.push(timed(viaDaemon(['list', '--netns', ns, '-o', 'id']), N));
    t.direct.push(timed(direct(['list', '--netns', ns, '-o', 'id']), N));
    t.conntrack.push(timed(conntrack(['-L', '-o', 'id']), N));
  }
  const [ld, lr, lc] = [median(t.daemon), median(t.direct), median(t.conntrack)];
  report(`list ${N}: daemon ${secs(ld)}, direct ${secs(lr)}, conntrack ${secs(lc)}; daemon/direct ${(ld / lr).toFixed(2)}x (target <= 1.3x), daemon/conntrack ${(ld / lc).toFixed(2)}x`);

  // 2. zone delete
  const z = { daemon: [] as number[], direct: [] as number[], conntrack: [] as number[] };
  const Z = Math.max(1, Math.floor(N / 10));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, argv] of [['daemon', viaDaemon(['delete', '--netns', ns, '-w', '7'])], ['direct', direct(['delete', '--netns', ns, '-w', '7'])], ['conntrack', conntrack(['-D', '-w', '7'])]] as const) {
      create(specs(Z, 7, 2));
      z[k].push(timed(argv));
      const left = Number(execFileSync('ip', ['netns', 'exec', ns, 'conntrack', '-C'], { encoding: 'utf8' }).trim());
      if (left !== N) throw new Error(`zone delete (${k}) left ${left} entries, not ${N}`);
    }
  }
  const [zd, zr, zc] = [median(z.daemon), median(z.direct), median(z.conntrack)];
  report(`zone delete ${Z}: daemon ${secs(zd)}, direct ${secs(zr)}, conntrack ${secs(zc)}; daemon/direct ${(zd / zr).toFixed(2)}x`);

  // 3. restore N from the NDJSON `ctplug list -o json` wrote (into an empty table each round)
  const saved = join(daemon.dir, 'saved.json');
  writeFileSync(saved, spawnSync(process.execPath, [CLI, 'list', '--netns', ns, '-o', 'json'], { maxBuffer: 1 << 30 }).stdout);
  chmodSync(saved, 0o644);
  const rs = { daemon: [] as number[], direct: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, argv] of [['daemon', viaDaemon(['create', '--netns', ns, '--from', saved])], ['direct', direct(['create', '--netns', ns, '--from', saved])]] as const) {
      execFileSync('ip', ['netns', 'exec', ns, 'conntrack', '-F'], { stdio: 'ignore' });
      rs[k].push(timed(argv));
      const n = Number(execFileSync('ip', ['netns', 'exec', ns, 'conntrack', '-C'], { encoding: 'utf8' }).trim());
      if (n !== N) throw new Error(`restore (${k}) made ${n} entries, not ${N}`);
    }
  }
  report(`restore ${N}: daemon ${secs(median(rs.daemon))}, direct ${secs(median(rs.direct))}; daemon/direct ${(median(rs.daemon) / median(rs.direct)).toFixed(2)}x (bench/restore.ts times conntrack -I)`);

  // 4. event burst (N NEW events in zone 3, removed after each listener)
  const events: string[] = [];
  let net = 10;
  for (const [name, argv, ready] of [
    ['daemon', viaDaemon(['events', '--netns', ns, '-e', 'NEW', '-o', 'id']), () => (daemon!.log().match(/read,events/g) ?? []).length >= 2],
    ['direct', direct(['events', '--netns', ns, '-e', 'NEW', '-o', 'id']), () => true],
    ['conntrack', conntrackLines(['-E', '-e', 'NEW', '-o', 'id', '-b', String(128 * 1024 * 1024)]), () => true],
  ] as const) {
    const b = await burst([...argv], ready, N, net++);
    events.push(`${name} ${b.printed}/${N} in ${secs(b.ms)} (${b.summary.replace(/^.*?: /, '').slice(0, 160)})`);
    execFileSync('ip', ['netns', 'exec', ns, 'conntrack', '-D', '-w', '3'], { stdio: 'ignore' });
  }
  report(`event burst ${N}: ${events.join('; ')}`);
} finally {
  await daemon?.stop();
  spawnSync('ip', ['netns', 'del', ns]);
  spawnSync('rm', ['-rf', BUNDLE]);
}
