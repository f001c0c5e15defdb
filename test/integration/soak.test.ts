// Soak: many runs in one process (loads, runs on a loaded plugin, event runs cancelled midway,
// streams abandoned, aborted dumps, event sources opened and aborted) against the kernel in a
// throwaway netns, with open fds, threads and RSS compared before and after. Size: CTPLUG_SOAK_RUNS,
// else 10,000 under `npm run test:adversarial` (CTPLUG_LONG=1) and 600 in `npm test`.
// Prints one line: MEASURED soak: runs=N fds A->B threads A->B rssMiB A->B seconds S.
import * as assert from 'uvu/assert';
import { AbortError, builtinPlugin, Conntrack, EventSource, Host, type Plugin } from '../../host/index.js';
import { conntrackSuite } from '../helpers/netns.js';
import { openFds, rssKiB, threads } from '../helpers/resources.js';

const { t, it, env } = conntrackSuite('soak (kernel)', 'test/integration/soak.test.ts');
const RUNS = Number(process.env.CTPLUG_SOAK_RUNS ?? (process.env.CTPLUG_LONG ? 10_000 : 600));
/** Every LOAD_EVERY-th run loads (and closes) a fresh plugin: a worker each, the costly part. */
const LOAD_EVERY = 20;
const policy = { default: { capabilities: { operations: ['read', 'events'] as ('read' | 'events')[], scope: { zones: 'any' as const } } } };
const quiet = { onOutput: () => undefined, onLog: () => undefined };

/** One of the kinds of run, by index. Each resolves once everything it started has ended. */
async function oneRun(i: number, host: Host, list: Plugin, events: Plugin): Promise<void> {
  if (i % LOAD_EVERY === 0) {
    const p = await host.load(builtinPlugin('list'));
    try { await p.run(quiet); } finally { await p.close(); }
    return;
  }
  switch (i % 6) {
    case 0:
      await list.run(quiet);
      return;
    case 1: { // an event run cancelled once it is running
      const ac = new AbortController();
      const err = await events.run({ ...quiet, signal: ac.signal, onProgress: () => ac.abort() }).catch((e) => e);
      assert.instance(err, AbortError);
      return;
    }
    case 2: { // a stream abandoned after its first chunk
      const { output, result } = list.stream(quiet);
      for await (const chunk of output) if (chunk) break;
      await result;
      return;
    }
    case 3: { // a run aborted before it starts
      const err = await list.run({ ...quiet, signal: AbortSignal.abort() }).catch((e) => e);
      assert.instance(err, AbortError);
      return;
    }
    case 4: { // the privileged core directly: an async dump aborted after its first batch, then closed
      const ct = Conntrack.open({ netns: env.ns });
      try {
        const ac = new AbortController();
        await ct.dump({}, () => ac.abort(), { signal: ac.signal }).catch((e) => assert.instance(e, AbortError));
      } finally {
        ct.close();
      }
      return;
    }
    case 5: { // an event source waiting, aborted, closed
      const ev = EventSource.open({ netns: env.ns });
      try {
        const ac = new AbortController();
        const waiting = ev.read(new Uint8Array(1 << 18), { signal: ac.signal }).catch((e) => e);
        ac.abort();
        assert.instance(await waiting, AbortError);
      } finally {
        ev.close();
      }
    }
  }
}

it(`${RUNS} runs in one process: open fds, threads and RSS end where they started`, async () => {
  env.ct.createSync(Array.from({ length: 200 }, (_, i) => ({ protocol: 'udp', src: '10.6.0.1', dst: `10.6.${i >> 8}.${i & 255}`, sport: 1000, dport: 53, timeout: 600, zone: i % 4 })));
  const host = new Host({ netns: env.ns, policy });
  const list = await host.load(builtinPlugin('list'));
  const events = await host.load(builtinPlugin('events'));
  try {
    // Warm-up: the first runs size the heaps, spawn libuv's pool and load the addon.
    for (let i = 0; i < 60; i++) await oneRun(i, host, list, events);
    global.gc?.();
    const before = { fds: openFds(), threads: threads(), rss: rssKiB() };
    const t0 = Date.now();
    for (let i = 0; i < RUNS; i++) await oneRun(i, host, list, events);
    global.gc?.();
    const after = { fds: openFds(), threads: threads(), rss: rssKiB() };
    const mib = (k: number) => (k / 1024).toFixed(0);
    process.stdout.write(`\nMEASURED soak: runs=${RUNS} fds ${before.fds}->${after.fds} threads ${before.threads}->${after.threads} rssMiB ${mib(before.rss)}->${mib(after.rss)} seconds ${((Date.now() - t0) / 1000).toFixed(0)}\n`);
    assert.is(after.fds, before.fds, 'open fds');
    assert.is(after.threads, before.threads, 'threads');
    // Flat, not byte-exact: V8 and the allocator keep some of what they once used.
    assert.ok(after.rss < before.rss * 1.25 + 32 * 1024, `RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB`);
  } finally {
    await host.close();
  }
});

t.run();
