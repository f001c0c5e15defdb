// Plugin benchmarks, ctplug vs `conntrack` on the same table in one run (root; throwaway netns):
//   - per-entry cost inside Wasm of `match` and `list` (no kernel, no worker: the module alone)
//   - `ctplug list` (the list plugin, filtered) of N entries vs `conntrack -L` with the same filter
//   - `purge-remote` deleting 10k entries of one remote address vs `conntrack -D -s ADDR`
//   - plugin load to first call, a second run on the same (reused) worker, memory per instance
//   node --import ./scripts/ts-register.mjs bench/plugins.ts [entries=100000]
// Uses the bundle (bin/ctplug.js, dist/): run `npm run build` first.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Conntrack, type CreateSpec } from '../host/conntrack/conntrack.js';
import { packageRoot } from '../host/paths.js';
import abi from '../sdk/abi.json' with { type: 'json' };
import { FakeKernel } from '../sdk/testkit/fake-kernel.js';

const N = Number(process.argv[2] ?? 100_000);
const root = packageRoot();
const ns = `ctplug-bench-${process.pid}`;
const bin = join(root, 'bin', 'ctplug.js');
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const rows: string[] = [];
const row = (...c: string[]) => rows.push(c.map((x, i) => x.padEnd([34, 22, 44][i] ?? 0)).join(' '));

function timeCmd(cmd: string, args: string[]): { ms: number; out: string; err: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  return { ms: performance.now() - t0, out: r.stdout, err: r.stderr };
}
const inNs = (args: string[]) => ['netns', 'exec', ns, ...args];
/** Best of 3 for read-only commands. */
function best(cmd: string, args: string[]) {
  return [0, 1, 2].map(() => timeCmd(cmd, args)).sort((a, b) => a.ms - b.ms)[0];
}

function seed(ct: Conntrack): void {
  const specs: CreateSpec[] = [];
  for (let i = 0; i < N; i++) {
    // Every 10th flow talks to the "remote" 198.51.100.7 (the address purge-remote removes).
    const remote = i % 10 === 0 ? '198.51.100.7' : `203.0.${(i >> 8) & 255}.${i & 255}`;
    specs.push({ protocol: i % 2 ? 'udp' : 'tcp', src: `10.${i % 10}.${(i >> 8) & 255}.${i & 255}`, dst: remote, sport: 1024 + (i % 50000), dport: i % 4 ? 443 : 53, timeout: 3600, zone: i % 10, mark: i & 0xff });
  }
  const r = ct.createSync(specs);
  if (r.ok !== N) throw new Error(`seeded ${r.ok}/${N}`);
}

/** The module alone with no-op hostcalls (output bytes counted, not copied): Wasm time only. */
function bare(name: string, config: unknown) {
  const mod = new WebAssembly.Module(readFileSync(join(root, 'dist', 'plugins', `${name}.wasm`)));
  const cfg = Buffer.from(JSON.stringify(config));
  let memory!: WebAssembly.Memory;
  const ctplug = Object.fromEntries(Object.keys(abi.imports).map((k) => [k, () => 0])) as Record<string, Function>;
  ctplug.config = (ptr: number, cap: number) => {
    if (cfg.length <= cap) new Uint8Array(memory.buffer).set(cfg, ptr);
    return cfg.length;
  };
  ctplug.delete = (_p: number, _n: number) => 0;
  const inst = new WebAssembly.Instance(mod, { ctplug } as WebAssembly.Imports);
  memory = inst.exports.memory as WebAssembly.Memory;
  const ex = inst.exports as Record<string, Function>;
  ex._start?.();
  ex.ctplug_init();
  const ptr = ex.ctplug_alloc(65536) as number;
  return (batch: Uint8Array) => {
    new Uint8Array(memory.buffer).set(batch, ptr);
    ex.ctplug_on_entries(ptr, batch.length, 0);
  };
}

// 1. Inside Wasm: the module alone, fed 160-entry batches (a kernel dump datagram's worth).
{
  const specs: CreateSpec[] = Array.from({ length: 160 }, (_, i) => ({ protocol: 'tcp', src: '10.0.0.1', dst: `10.1.0.${i}`, sport: 1000 + i, dport: 443, timeout: 100, zone: i % 10, tcpState: 'ESTABLISHED', mark: i }));
  const msgs = FakeKernel.fromSpecs(specs).messages();
  const batch = new Uint8Array(msgs.reduce((n, m) => n + ((m.length + 3) & ~3), 0));
  let at = 0;
  for (const m of msgs) batch.set(m, at), (at += (m.length + 3) & ~3);
  for (const [name, config] of [['match', { proto: 'tcp', dport: 443, zone: 3, action: 'count' }], ['list', { output: 'text' }], ['list', { output: 'json' }]] as const) {
    const feed = bare(name, config);
    const rounds = 3000;
    for (let k = 0; k < 300; k++) feed(batch);
    const t0 = performance.now();
    for (let k = 0; k < rounds; k++) feed(batch);
    row(`${name} ${JSON.stringify(config)}`.slice(0, 34), `${fmt(((performance.now() - t0) * 1e6) / (rounds * 160))} ns/entry`, 'inside Wasm (parse, filter, render), no kernel');
  }
}

const policyDir = mkdtempSync(join(tmpdir(), 'ctplug-bench-'));
const policy = join(policyDir, 'policy.json');
writeFileSync(policy, JSON.stringify({ default: { capabilities: { operations: ['read', 'delete'], scope: { zones: 'any', families: 'any', protocols: 'any' } } } }));

execFileSync('ip', ['netns', 'add', ns]);
try {
  const ct = Conntrack.open({ netns: ns });
  seed(ct);

  // 2. list, filtered, end to end through the CLI (process start included on both sides).
  for (const [label, ours, theirs] of [
    ['list (all)', ['list'], ['-L']],
    ['list -p tcp --dport 443', ['list', '-p', 'tcp', '--dport', '443'], ['-L', '-p', 'tcp', '--dport', '443']],
    ['list -w 3 -o id', ['list', '-w', '3', '-o', 'id'], ['-L', '-w', '3', '-o', 'id']],
  ] as const) {
    const a = best(process.execPath, [bin, ...ours, '--netns', ns]);
    const b = best('ip', inNs(['conntrack', ...theirs]));
    const same = a.out.split('\n').length === b.out.split('\n').length ? 'same line count' : `LINES DIFFER ${a.out.split('\n').length} vs ${b.out.split('\n').length}`;
    row(`ctplug ${label}`, `${a.ms.toFixed(0)} ms`, `conntrack: ${b.ms.toFixed(0)} ms (x${(b.ms / a.ms).toFixed(2)}), ${same}`);
  }

  // 3. purge-remote: every flow of 198.51.100.7 (N/10 entries) in a fresh copy of the table each.
  const purge = timeCmd(process.execPath, [bin, '--plugin', join(root, 'dist', 'plugins', 'purge-remote.wasm'), '--config', JSON.stringify({ addr: '198.51.100.7' }), '--policy', policy, '--netns', ns]);
  const afterOurs = ct.countSync();
  ct.flushSync();
  seed(ct);
  const theirs = timeCmd('ip', inNs(['conntrack', '-D', '-d', '198.51.100.7']));
  const afterTheirs = ct.countSync();
  row(`purge-remote (${fmt(N / 10)} entries)`, `${purge.ms.toFixed(0)} ms`, `conntrack -D -d: ${theirs.ms.toFixed(0)} ms (x${(theirs.ms / purge.ms).toFixed(1)}); left ${afterOurs} vs ${afterTheirs}`);

  // 4. Load to first call, worker reuse, memory per instance (the bundled embedding API, as
  // an embedder gets it: dist/index.js and its dist/worker.js).
  const { Host } = (await import(join(root, 'dist', 'index.js'))) as typeof import('../host/index.js');
  const host = new Host({ policy, netns: ns });
  const manifest = join(root, 'dist', 'plugins', 'match.manifest.json');
  const t0 = performance.now();
  const p = await host.load(manifest, { config: { zone: 9999, action: 'count' } });
  const tLoad = performance.now() - t0;
  const t1 = performance.now();
  await p.run();
  const tFirst = performance.now() - t1;
  const t2 = performance.now();
  await p.run();
  const tSecond = performance.now() - t2;
  row('plugin load (checks + worker)', `${tLoad.toFixed(1)} ms`, `first run ${tFirst.toFixed(1)} ms, second run (same worker) ${tSecond.toFixed(1)} ms`);
  const rss0 = process.memoryUsage().rss;
  const many = [];
  for (let i = 0; i < 10; i++) {
    const q = await host.load(manifest, { config: { zone: 9999, action: 'count' } });
    await q.run();
    many.push(q);
  }
  row('memory per plugin instance', `${((process.memoryUsage().rss - rss0) / 10 / 1048576).toFixed(1)} MiB`, 'RSS growth over 10 loaded instances (worker + Wasm memory)');
  await host.close();
  ct.close();
} finally {
  spawnSync('ip', ['netns', 'del', ns]);
}
console.log(`ctplug plugin benchmarks, ${fmt(N)} entries, kernel ${execFileSync('uname', ['-r']).toString().trim()}`);
for (const r of rows) console.log(r);
