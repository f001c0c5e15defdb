// Waiting for events is readiness on the event loop (the addon's uv_poll watcher), never a thread
// parked in recv: idle sources leave libuv's pool free, and an abort ends a wait at once (checked
// here by order, not by time: the event the kernel queues right after the abort is never delivered).
import { stat } from 'node:fs/promises';
import * as assert from 'uvu/assert';
import { AbortError, EventSource } from '../../host/index.js';
import { sleep } from '../helpers/events.js';
import { conntrackSuite } from '../helpers/netns.js';
import { threadsInRecv } from '../helpers/resources.js';

const { t, it, env } = conntrackSuite('event readiness (kernel)', 'test/integration/events-readiness.test.ts');
const flow = (i: number) => ({ protocol: 'udp', src: '10.8.0.1', dst: '10.8.0.2', sport: 3000 + i, dport: 53, timeout: 30, zone: 8 });

/** Iterates `ev.batches()` until it ends; resolves with the batch sizes seen and how it ended. */
function iterate(ev: EventSource, signal: AbortSignal) {
  const counts: number[] = [];
  const end = (async () => {
    for await (const b of ev.batches({ signal })) if (b !== 'overrun') counts.push(b.count);
    return 'ended';
  })().catch((e: unknown) => e);
  return { counts, end };
}

it('four idle event sources hold no thread: none waits in a receive, and fs.promises keeps working', async () => {
  const sources = Array.from({ length: 4 }, () => EventSource.open({ netns: env.ns }));
  const ac = new AbortController();
  const loops = sources.map((ev) => iterate(ev, ac.signal));
  try {
    for (let i = 0; i < 10; i++) {
      await sleep(20); // long enough for a receive queued on libuv's pool to be running
      assert.is(threadsInRecv(), 0, 'a thread of this process is blocked in recv');
    }
    await Promise.all(Array.from({ length: 64 }, () => stat('/proc/self/status')));
    env.ct.createSync([flow(1)]);
    for (let i = 0; i < 100 && !loops.every((l) => l.counts.length); i++) await sleep(20);
    assert.equal(loops.map((l) => l.counts), [[1], [1], [1], [1]], 'each source still gets the event');
  } finally {
    ac.abort();
    for (const ev of sources) ev.close();
  }
  for (const l of loops) assert.instance(await l.end, AbortError);
});

it('an abort ends a waiting batches() loop with AbortError before the next event is delivered', async () => {
  const ev = EventSource.open({ netns: env.ns });
  const ac = new AbortController();
  const loop = iterate(ev, ac.signal);
  try {
    await sleep(50); // the loop is waiting for its first event
    ac.abort();
    env.ct.createSync([flow(2)]); // queued by the kernel right after the abort
    const end = await loop.end;
    assert.equal(loop.counts, [], 'nothing was delivered after the abort');
    assert.instance(end, AbortError);
    assert.equal((end as AbortError).stats, { events: 0, batches: 0, overruns: 0 });
  } finally {
    ev.close();
  }
});

t.run();
