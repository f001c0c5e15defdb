// Embedders through `ctplug daemon` (issue 14): Conntrack.connect(PATH) and new Host({ connect })
// give the direct-mode API with the daemon's grant; event subscribers each get their scope, and a
// subscriber that stops reading is told of its own overrun while the others lose nothing.
// The test process is the client here (its uid has an entry); conntrack is the oracle.
import * as assert from 'uvu/assert';
import { Conntrack, CtError, decodeFlow, Host, type RemoteConntrack } from '../../host/index.js';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { splitMessages } from '../../host/netlink/message.js';
import { bundledCli } from '../helpers/cli.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { conntrackIn, kernelSuite, listingLines, makeNetns, removeNetns, seedNetns } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('daemon: embedding API and events (kernel)', 'test/integration/daemon-embed.test.ts');
const cli = bundledCli('daemon-embed');
let ns = '';
let d: TestDaemon | undefined;
const me = process.getuid!();

const SPECS: CreateSpec[] = [1, 2].flatMap((zone) => [1, 2, 3].map((i): CreateSpec => (
  { protocol: 'udp', src: `10.${zone}.0.${i}`, dst: '198.51.100.53', sport: 50000 + i, dport: 53, timeout: 600, zone })));

if (!skip) {
  t.before(async () => {
    ns = makeNetns();
    await cli.build();
    // A small event buffer, so a subscriber that stops reading overruns its own socket soon.
    d = await startTestDaemon(cli.entry.replace(/cli\.cjs$/, 'daemon.js'), {
      clients: { [`uid:${me}`]: { capabilities: { operations: ['read', 'delete', 'events'], scope: { zones: [1] } }, netns: [ns] } },
    }, ['--event-buffer', String(4 * 1024 * 1024)]);
  });
  t.after(async () => {
    await d?.stop();
    cli.remove();
    removeNetns(ns);
  });
  t.before.each(() => seedNetns(ns, SPECS));
}

/** Zone-1 events of the burst below in a batch (sources 10.101.x.y; probes are not); one of zone 2 (10.102.x.y) fails. */
function burstEvents(b: { bytes: Uint8Array }): number {
  let n = 0;
  for (const m of splitMessages(b.bytes)) {
    const f = decodeFlow(m);
    assert.ok(f && f.zone === 1 && !f.orig.src.startsWith('10.102.'), `an event outside the grant: ${JSON.stringify(f?.orig)}`);
    if (f!.orig.src.startsWith('10.101.')) n++;
  }
  return n;
}

const zone1 = () => listingLines(conntrackIn(ns, ['-L', '-w', '1']));

it('Conntrack.connect(PATH): count, flows and delete within the grant; beyond it a CtError (privilege)', async () => {
  const c: RemoteConntrack = await Conntrack.connect(d!.socket, { netns: ns });
  try {
    assert.equal(c.grant.scope.zones, [{ from: 1, to: 1 }]);
    assert.is(await c.count(), 3, 'only what the grant lets it see');
    const flows = [];
    for await (const f of c.flows()) flows.push(f);
    assert.equal(flows.map((f) => f.zone), [1, 1, 1]);
    const held: Uint8Array[] = [];
    for await (const b of c.batches({ zone: 1 })) held.push(...[...splitMessages(b.entries)].map((m) => m.slice()));
    const r = await c.delete(held.slice(0, 1));
    assert.is(r.ok, 1);
    assert.is(zone1().length, 2);
    let err: unknown;
    try { await c.flush({ zone: 2 }); } catch (e) { err = e; }
    assert.instance(err, CtError);
    assert.is((err as CtError).kind, 'privilege');
    assert.is(listingLines(conntrackIn(ns, ['-L', '-w', '2'])).length, 3, 'zone 2 intact');
  } finally {
    c.close();
  }
  let refused: unknown;
  try { await Conntrack.connect(d!.socket, { netns: 'not-granted' }); } catch (e) { refused = e; }
  assert.instance(refused, CtError);
  assert.match((refused as Error).message, /not in the netns list/);
});

it('new Host({ connect }): the list plugin runs here, unprivileged, and prints conntrack -L -w 1', async () => {
  const host = new Host({ policy: { default: { capabilities: { operations: ['read'], scope: { zones: [1] } } } }, netns: ns, connect: d!.socket });
  try {
    const p = await host.load('dist/plugins/list.manifest.json');
    const r = await p.run();
    assert.equal(listingLines(new TextDecoder().decode(r.output)), zone1());
    // A plugin asking for a zone the daemon does not grant this client is refused at load.
    let err: unknown;
    const host2 = new Host({ policy: { default: { capabilities: { operations: ['read'], scope: { zones: [2] } } } }, netns: ns, connect: d!.socket });
    try { await host2.load('dist/plugins/list.manifest.json', { config: { zone: 2 } }); } catch (e) { err = e; } finally { await host2.close(); }
    assert.instance(err, CtError);
    assert.match((err as Error).message, /zones: asks \[2\], allows \[1\]/);
  } finally {
    await host.close();
  }
});

it('events: each subscriber its scope; one that stops reading gets OVERRUN, the other every event', async () => {
  const fast = await Conntrack.connect(d!.socket, { netns: ns });
  const slow = await Conntrack.connect(d!.socket, { netns: ns });
  const ac = new AbortController();
  try {
    const fastIt = fast.events({ kinds: ['NEW'], signal: ac.signal })[Symbol.asyncIterator]();
    const slowIt = slow.events({ kinds: ['NEW'], signal: ac.signal })[Symbol.asyncIterator]();
    const ct = (await import('../../host/conntrack/conntrack.js')).Conntrack.open({ netns: ns });
    try {
      // Both subscriptions are open once each has delivered an event: probes until then.
      let fastFirst: unknown, slowFirst: unknown;
      void fastIt.next().then((r) => (fastFirst = r));
      void slowIt.next().then((r) => (slowFirst = r));
      for (let i = 0; !(fastFirst && slowFirst); i++) {
        assert.ok(i < 100, 'the subscriptions did not start in 20 s');
        ct.createSync([{ protocol: 'tcp', src: '10.1.9.9', dst: '198.51.100.1', sport: 1, dport: 2000 + i, timeout: 600, zone: 1, tcpState: 'ESTABLISHED' }]);
        await new Promise((r) => setTimeout(r, 200));
      }
      // 2 x 30,000 NEW events, half in zone 1 (in scope), half in zone 2 (not), created in chunks:
      // each chunk once the reading subscriber has had the one before, so it never lags by more
      // than one chunk; the stalled one reads nothing meanwhile and its 4 MiB socket overflows.
      const N = 30_000, CHUNK = 250;
      let n = 0, overruns = 0;
      for (let c = 0; c < N; c += CHUNK) {
        const specs: CreateSpec[] = [];
        for (let i = c; i < c + CHUNK; i++) {
          for (const zone of [1, 2]) specs.push({ protocol: 'udp', src: `10.${zone + 100}.${i >> 8}.${i & 255}`, dst: '198.51.100.9', sport: 1000, dport: 2000, timeout: 600, zone });
        }
        const r = ct.createSync(specs);
        assert.is(r.ok, specs.length);
        while (n < c + CHUNK) {
          const e = await fastIt.next();
          if (e.done) break;
          if (e.value === 'overrun') overruns++;
          else n += burstEvents(e.value as { bytes: Uint8Array });
        }
      }
      assert.equal({ n, overruns }, { n: N, overruns: 0 }, 'the reading subscriber got every in-scope event, and only those');
      // The slow one now reads: its loss is reported to it (OVERRUN), it is not silently short.
      let overrun = false, events = 0;
      for (;;) {
        const r = await Promise.race([slowIt.next(), new Promise<null>((res) => setTimeout(() => res(null), 3000))]);
        if (r === null || r.done) break;
        if (r.value === 'overrun') { overrun = true; break; }
        events += (r.value as { count: number }).count;
      }
      assert.ok(overrun, `the stalled subscriber was told it lost events (it read ${events} of ${N})`);
    } finally {
      ct.close();
    }
  } finally {
    ac.abort();
    fast.close();
    slow.close();
  }
});

t.run();
