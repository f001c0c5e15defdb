// Conntrack events from the real kernel: classification, no loss with the default buffer,
// overruns reported with a deliberately tiny one.
import * as assert from 'uvu/assert';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { EventSource, classifyEvent, type EventKind } from '../../host/conntrack/events.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { AbortError } from '../../host/netlink/abort.js';
import { MessageReader, splitMessages } from '../../host/netlink/message.js';
import { conntrackSuite } from '../helpers/netns.js';

const { t, it, env } = conntrackSuite('events (kernel)', 'test/integration/events.test.ts');

const flows = (n: number, zone: number): CreateSpec[] =>
  Array.from({ length: n }, (_, i) => ({ protocol: 'udp', src: '10.0.0.1', dst: `10.${zone}.${i >> 8}.${i & 255}`, sport: 1000, dport: 53, timeout: 60, zone }));

/** Reads until the source is quiet; returns [kind, id] per event. */
function drain(ev: EventSource): { events: [EventKind, number][]; overruns: number } {
  const buf = new Uint8Array(1 << 20);
  const events: [EventKind, number][] = [];
  let overruns = 0;
  for (;;) {
    const b = ev.readQueued(buf);
    if (b === 'overrun') {
      overruns++;
      continue;
    }
    if (b.count === 0) return { events, overruns };
    const r = new MessageReader(b.bytes);
    while (r.next()) events.push([classifyEvent(r.header.type, r.header.flags)!, scanEntry(r.message())!.id!]);
  }
}

it('N entries created while listening give exactly N NEW events, each id once; update gives UPDATE; delete gives DESTROY', () => {
  const ev = EventSource.open({ netns: env.ns });
  try {
    assert.equal(env.ct.createSync(flows(500, 5)).ok, 500);
    const created = drain(ev);
    assert.is(created.overruns, 0);
    assert.is(created.events.length, 500);
    assert.ok(created.events.every(([k]) => k === 'NEW'));
    assert.is(new Set(created.events.map(([, id]) => id)).size, 500);

    const held: Uint8Array[] = [];
    env.ct.dumpSync({ zone: 5 }, new Uint8Array(65536), (b) => {
      for (const m of splitMessages(b)) held.push(m.slice());
    });
    env.ct.updateSync(held.slice(0, 10).map((entry) => ({ entry, mark: 7 })));
    const updated = drain(ev);
    assert.equal(updated.events.map(([k]) => k), Array(10).fill('UPDATE'));

    env.ct.deleteSync(held);
    const destroyed = drain(ev);
    assert.is(destroyed.events.length, 500);
    assert.ok(destroyed.events.every(([k]) => k === 'DESTROY'));
    assert.equal(new Set(destroyed.events.map(([, id]) => id)), new Set(created.events.map(([, id]) => id)));
  } finally {
    ev.close();
  }
});

it('only the subscribed kinds arrive', () => {
  const ev = EventSource.open({ netns: env.ns, kinds: ['DESTROY'] });
  try {
    env.ct.createSync(flows(20, 6));
    env.ct.flushSync();
    const got = drain(ev);
    assert.is(got.events.length, 20);
    assert.ok(got.events.every(([k]) => k === 'DESTROY'));
  } finally {
    ev.close();
  }
});

it('a kernel-side BPF filter passes only the granted zones and marks while other zones churn', () => {
  const ev = EventSource.open({ netns: env.ns, filter: { zones: [5, 0], mark: { value: 0x10, mask: 0xf0 } } });
  try {
    const specs = [...flows(30, 5), ...flows(30, 7), ...flows(30, 0)].map((s, i) => ({ ...s, mark: i % 2 ? 0x1f : 0x2f }));
    env.ct.createSync(specs);
    const got = drain(ev);
    assert.is(got.events.length, 30, 'zones 5 and 0, odd marks only');
    const zones = new Set<number>();
    env.ct.dumpSync({}, new Uint8Array(65536), (b) => {
      for (const m of splitMessages(b)) {
        const s = scanEntry(m)!;
        if (got.events.some(([, id]) => id === s.id)) zones.add(s.zone);
        if (got.events.some(([, id]) => id === s.id)) assert.is(s.mark & 0xf0, 0x10);
      }
    });
    assert.equal([...zones].sort(), [0, 5]);
  } finally {
    ev.close();
  }
});

it('embedding: the async iterator gives the same batches and accounting without blocking the event loop; an abort ends it with AbortError', async () => {
  const ev = EventSource.open({ netns: env.ns, kinds: ['NEW'] });
  const ac = new AbortController();
  try {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5); // the event loop keeps turning while we wait
    const seen: number[] = [];
    const reading = (async () => {
      try {
        for await (const b of ev.batches({ signal: ac.signal })) {
          assert.not.equal(b, 'overrun');
          if (b === 'overrun') continue;
          for (const m of splitMessages(b.bytes)) seen.push(scanEntry(m)!.id!);
          if (seen.length >= 300) ac.abort();
        }
      } catch (e) {
        return e;
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    env.ct.createSync(flows(300, 8));
    const end = await reading;
    clearInterval(timer);
    assert.instance(end, AbortError);
    assert.is((end as AbortError).stats?.events, 300);
    assert.is(new Set(seen).size, 300);
    assert.is(ev.counters.events, 300);
    assert.ok(ticks > 3, `event loop ran (${ticks} ticks)`);
  } finally {
    ev.close();
  }
});

it('a tiny receive buffer overruns on a burst, and the overrun is reported', () => {
  const ev = EventSource.open({ netns: env.ns, bufferBytes: 64 * 1024 });
  try {
    env.ct.createSync(flows(3000, 7));
    const got = drain(ev);
    assert.ok(got.overruns >= 1, 'overrun reported');
    assert.ok(got.events.length < 3000, `lost some: got ${got.events.length}`);
    assert.is(ev.counters.overruns, got.overruns);
  } finally {
    ev.close();
  }
});

t.run();
