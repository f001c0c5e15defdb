// Embedding costs, through the bundle (dist/index.js, as an embedder imports ctplug; run `npm run
// build` first), in a throwaway netns (root), medians of repeated calls:
//   - Conntrack.open + close, countSync, an async dump of the namespace's table (Conntrack.dump)
//   - plugin load (checks; the worker is started, not waited for), its first run (the worker
//     boots), and a run of `list` on a loaded plugin, N entries
//   - fs.promises.stat latency (p50 / max of 200) with 0 and 4 idle event sources waiting
//   - how long an abort takes to end a waiting EventSource.batches() loop (median of 20)
// The kernel walks its whole conntrack hash on every dump (all namespaces share it): dump and run
// times grow with what other namespaces on the machine hold.
//   node --import ./scripts/ts-register.mjs bench/embed.ts [entries=100]
import { execFileSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../host/paths.js';

const N = Number(process.argv[2] ?? 100);
const ctplug = await import(join(packageRoot(), 'dist', 'index.js'));
const { Conntrack, EventSource, Host, builtinPlugin } = ctplug;
const ns = `ctplug-bench-embed-${process.pid}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} us` : `${x.toFixed(x < 10 ? 2 : 0)} ms`);
async function timed(n: number, fn: () => unknown): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}
const rows: [string, string][] = [];

execFileSync('ip', ['netns', 'add', ns]);
try {
  const ct = Conntrack.open({ netns: ns });
  ct.createSync(Array.from({ length: N }, (_, i) => ({ protocol: 'udp', src: '10.0.0.1', dst: `10.1.${i >> 8}.${i & 255}`, sport: 1000, dport: 53, timeout: 600 })));
  rows.push(['Conntrack.open + close', ms(await timed(200, () => Conntrack.open({ netns: ns }).close()))]);
  rows.push(['countSync', ms(await timed(1000, () => ct.countSync()))]);
  rows.push([`Conntrack.dump (async) of ${N} entries`, ms(await timed(20, () => ct.dump({}, () => undefined)))]);

  const host = new Host({ netns: ns, policy: { default: { capabilities: { operations: ['read'], scope: { zones: 'any' } } } } });
  const quiet = { onOutput: () => undefined };
  const loads: number[] = [], firsts: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const p = await host.load(builtinPlugin('list'));
    const t1 = performance.now();
    await p.run(quiet);
    firsts.push(performance.now() - t1);
    loads.push(t1 - t0);
    await p.close();
  }
  rows.push(['plugin load (manifest, grant, module checks; worker started)', ms(median(loads))]);
  rows.push([`first run of a loaded plugin (its worker boots; list, ${N} entries)`, ms(median(firsts))]);
  const list = await host.load(builtinPlugin('list'));
  await list.run(quiet); // the first run on a worker pays its start-up
  rows.push([`run on a loaded plugin (list, ${N} entries)`, ms(await timed(20, () => list.run(quiet)))]);
  await host.close();

  for (const idle of [0, 4]) {
    const sources = Array.from({ length: idle }, () => EventSource.open({ netns: ns }));
    const ac = new AbortController();
    const loops = sources.map(async (ev: InstanceType<typeof EventSource>) => {
      try {
        for await (const b of ev.batches({ signal: ac.signal })) void b;
      } catch {
        // aborted
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const t: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await stat('/proc/self/status');
      t.push(performance.now() - t0);
    }
    rows.push([`fs.promises.stat, ${idle} idle event sources: p50 / max`, `${ms(median(t))} / ${ms(Math.max(...t))}`]);
    ac.abort();
    await Promise.all(loops);
    for (const ev of sources) ev.close();
  }

  const ev = EventSource.open({ netns: ns });
  const aborts: number[] = [];
  for (let i = 0; i < 20; i++) {
    const ac = new AbortController();
    const loop = (async () => {
      try {
        for await (const b of ev.batches({ signal: ac.signal })) void b;
      } catch {
        // aborted
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    ac.abort();
    await loop;
    aborts.push(performance.now() - t0);
  }
  rows.push(['abort of a waiting EventSource.batches() loop: median / max', `${ms(median(aborts))} / ${ms(Math.max(...aborts))}`]);
  ev.close();
  ct.close();
} finally {
  execFileSync('ip', ['netns', 'del', ns]);
}
for (const [what, v] of rows) console.log(`${what.padEnd(68)} ${v}`);
