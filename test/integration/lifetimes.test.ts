// Everything a Host, Plugin, Conntrack or EventSource opens is released: on close(), on abort, when
// an event run is closed under it, when a run fails. Counted from /proc (sockets of this process)
// and from the namespace's /proc/net/netlink (sockets still subscribed to conntrack events).
import * as assert from 'uvu/assert';
import { AbortError, builtinPlugin, Conntrack, EventSource, Host } from '../../host/index.js';
import { untilListening } from '../helpers/events.js';
import { conntrackSuite } from '../helpers/netns.js';
import { eventSubscribers, openSockets } from '../helpers/resources.js';

const { t, it, env } = conntrackSuite('lifetimes (kernel)', 'test/integration/lifetimes.test.ts');
// The file's own Conntrack opens its second (batch) socket on first use: open it before counting.
t.before.each(() => void env.ct.createSync([]));

const policy = { default: { capabilities: { operations: ['read', 'events'] as ('read' | 'events')[], scope: { zones: 'any' as const } } } };
const flow = (i: number) => ({ protocol: 'udp', src: '10.7.0.1', dst: '10.7.0.2', sport: 2000 + i, dport: 53, timeout: 30, zone: 7 });

/** An events-plugin run in env.ns whose output is collected, once it is surely listening. */
async function listening(host: Host, signal?: AbortSignal) {
  let out = '';
  const run = host.run(builtinPlugin('events'), { signal, onOutput: (b) => void (out += Buffer.from(b).toString()) }).catch((e) => e);
  await untilListening(env.ct, [() => / zone=99\b/.test(out)]);
  return { run, out: () => out };
}

it('20 plugin loads, runs and closes leave the process with the sockets it had', async () => {
  const before = openSockets();
  const host = new Host({ netns: env.ns, policy });
  try {
    for (let i = 0; i < 20; i++) await host.run(builtinPlugin('list'), { onOutput: () => undefined });
  } finally {
    await host.close();
  }
  assert.is(openSockets(), before);
});

it('host.close() during an event run: the run rejects with AbortError; its sockets and its kernel subscription are gone', async () => {
  const before = openSockets();
  const host = new Host({ netns: env.ns, policy });
  const { run } = await listening(host);
  assert.is(eventSubscribers(env.ns), 1);
  await host.close();
  const err = await run;
  assert.is(eventSubscribers(env.ns), 0, 'no socket in the namespace is still subscribed');
  assert.is(openSockets(), before);
  assert.instance(err, AbortError);
});

it('an event run ended by its signal: nothing is delivered after the abort, it rejects with AbortError, its sockets are closed', async () => {
  const before = openSockets();
  const host = new Host({ netns: env.ns, policy });
  const ac = new AbortController();
  const { run, out } = await listening(host, ac.signal);
  const shown = out();
  ac.abort();
  env.ct.createSync([flow(1)]); // an event the kernel queues right after the abort
  const err = await run;
  await host.close();
  assert.is(eventSubscribers(env.ns), 0);
  assert.is(openSockets(), before);
  assert.is(out(), shown, 'the event after the abort was not delivered');
  assert.instance(err, AbortError);
  assert.ok((err as AbortError).stats!.events >= 1, 'the stats say what the run delivered');
});

it('a run that fails (the netns it was loaded for is gone) releases what it opened', async () => {
  const before = openSockets();
  const host = new Host({ netns: 'ctplug-test-no-such-netns', policy });
  try {
    const err = await host.run(builtinPlugin('list')).catch((e) => e);
    assert.is(err.name, 'CtError');
  } finally {
    await host.close();
  }
  assert.is(openSockets(), before);
});

it('Conntrack and EventSource: open, use, close (also when the EventSource is closed under a pending read)', async () => {
  const before = openSockets();
  for (let i = 0; i < 10; i++) {
    const ct = Conntrack.open({ netns: env.ns });
    ct.createSync([flow(i)]);
    await ct.dump({}, () => undefined);
    ct.close();
    const ev = EventSource.open({ netns: env.ns });
    const pending = ev.batches().next().catch((e) => e);
    ev.close();
    assert.instance(await pending, AbortError);
  }
  assert.is(eventSubscribers(env.ns), 0);
  assert.is(openSockets(), before);
});

t.run();
