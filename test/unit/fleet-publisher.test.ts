// The publisher over a scripted JetStream (no server): acks, failures, the outage bound, gap markers
// in order, Ctplug-Seq without a hole, lines split across chunks; and the fleet policy entry.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/nats-core';
import { StreamPublisher } from '../../host/fleet/publisher.js';
import { fleetRunPolicy, parseFleetPolicy } from '../../host/fleet/policy.js';
import { hostMatcher, namedHosts } from '../../host/fleet/operator.js';
import { computeGrant } from '../../host/policy/grant.js';
import { parseManifest } from '../../host/policy/manifest.js';
import { parsePolicy } from '../../host/policy/policy.js';

interface Stored { seq: number; gap?: string; text: string; id: string }

/** A JetStream that stores by Nats-Msg-Id (duplicates dropped, as the server does), or fails while `down`. */
function fakeJs() {
  const stored: Stored[] = [];
  const ids = new Set<string>();
  const state = { down: false, calls: 0 };
  const js = {
    publish: async (_subj: string, data: Uint8Array, o: { msgID: string; headers: MsgHdrs }) => {
      state.calls++;
      await new Promise((r) => setTimeout(r, 1));
      if (state.down) throw new Error('no responders');
      if (!ids.has(o.msgID)) {
        ids.add(o.msgID);
        stored.push({ seq: Number(o.headers.get('Ctplug-Seq')), gap: o.headers.get('Ctplug-Gap') || undefined, text: new TextDecoder().decode(data), id: o.msgID });
      }
      return { stream: 'CTPLUG', seq: stored.length, duplicate: false };
    },
  } as unknown as JetStreamClient;
  return { js, stored, state };
}

const enc = new TextEncoder();
const recs = (from: number, n: number) => enc.encode(Array.from({ length: n }, (_, i) => JSON.stringify({ n: from + i, pad: 'x'.repeat(80) }) + '\n').join(''));
const until = async (f: () => boolean, ms = 5000) => { for (const t0 = Date.now(); !f() && Date.now() - t0 < ms; ) await new Promise((r) => setTimeout(r, 5)); };
const numbers = (stored: Stored[]) => stored.filter((s) => !s.gap).flatMap((s) => s.text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { n: number }).n));

const t = suite('fleet publisher');

t('records are batched, acked in order, Ctplug-Seq runs 1..N; a line split across chunks arrives whole', async () => {
  const { js, stored } = fakeJs();
  const p = new StreamPublisher(js, { subject: 'ctplug.h.flows', maxMessageBytes: 1000, lingerMs: 5 });
  const all = recs(0, 100);
  p.write(all.subarray(0, 333));
  p.write(all.subarray(333));
  await p.flush();
  assert.equal(numbers(stored), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(stored.map((s) => s.seq), stored.map((_, i) => i + 1));
  assert.ok(stored.length > 5, 'several messages (1000-byte bound)');
  assert.is(p.stats.records, 100);
  assert.is(p.stats.bufferedBytes, 0);
  p.close();
});

t('NATS away: records wait within the bound, the rest is counted; one outage marker says how many, before what comes after; nothing lost silently', async () => {
  const { js, stored, state } = fakeJs();
  const p = new StreamPublisher(js, { subject: 's', maxMessageBytes: 1000, maxBufferBytes: 5000, lingerMs: 1 });
  p.write(recs(0, 10));
  await p.flush();
  state.down = true;
  p.setOffline(true);
  for (let i = 0; i < 20; i++) { p.write(recs(10 + i * 10, 10)); await new Promise((r) => setTimeout(r, 3)); }
  await new Promise((r) => setTimeout(r, 20));
  const lost = p.stats.lostRecords;
  assert.ok(lost > 0 && lost < 200, `some records counted as lost (${lost})`);
  assert.ok(p.stats.bufferedBytes <= 5000, 'the buffer kept its bound');
  state.down = false;
  p.setOffline(false);
  p.write(recs(210, 5));
  await p.flush();
  // One marker per place records were dropped (a small message that still fitted splits the loss).
  const gaps = stored.filter((s) => s.gap);
  assert.ok(gaps.length >= 1);
  // A publish still in flight when NATS went away may fail after `lost` was read: count at the end.
  const lostInAll = p.stats.lostRecords;
  assert.ok(lostInAll >= lost);
  assert.is(gaps.reduce((n, g) => n + (JSON.parse(g.text) as { records: number }).records, 0), lostInAll);
  assert.is(numbers(stored).length + lostInAll, 215, 'published + counted lost = written');
  assert.equal(stored.map((s) => s.seq), stored.map((_, i) => i + 1), 'no hole in Ctplug-Seq');
  // The marker stands where the loss was: after the kept records, before the ones written after.
  const at = stored.indexOf(gaps[gaps.length - 1]);
  assert.ok(numbers(stored.slice(at + 1)).includes(210));
  assert.ok(!numbers(stored.slice(0, at)).includes(210));
  p.close();
});

t('a loss is reported when NATS is back even if no record follows', async () => {
  const { js, stored, state } = fakeJs();
  const p = new StreamPublisher(js, { subject: 's', maxMessageBytes: 500, maxBufferBytes: 1000, lingerMs: 1 });
  state.down = true;
  p.setOffline(true);
  for (let i = 0; i < 10; i++) { p.write(recs(i * 5, 5)); await new Promise((r) => setTimeout(r, 3)); }
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(p.stats.lostRecords > 0);
  state.down = false;
  p.setOffline(false);
  await p.flush();
  const gaps = stored.filter((s) => s.gap === 'outage');
  assert.ok(gaps.length >= 1, 'the loss is in the stream');
  assert.is(gaps.reduce((n, g) => n + (JSON.parse(g.text) as { records: number }).records, 0), p.stats.lostRecords);
  p.close();
});

t('a failed publish is retried; the stream keeps one copy (Nats-Msg-Id)', async () => {
  const { js, stored, state } = fakeJs();
  const p = new StreamPublisher(js, { subject: 's', maxMessageBytes: 300, lingerMs: 1 });
  state.down = true;
  p.write(recs(0, 20));
  await new Promise((r) => setTimeout(r, 30));
  state.down = false;
  await p.flush();
  assert.ok(p.stats.retries > 0);
  assert.equal(numbers(stored), Array.from({ length: 20 }, (_, i) => i));
  assert.is(new Set(stored.map((s) => s.id)).size, stored.length);
  p.close();
});

t('a kernel overrun is a marker at that point', async () => {
  const { js, stored } = fakeJs();
  const p = new StreamPublisher(js, { subject: 's', lingerMs: 1 });
  p.write(recs(0, 3));
  p.overrun(2);
  p.write(recs(3, 3));
  await p.flush();
  assert.equal(stored.map((s) => s.gap ?? 'data'), ['data', 'overrun', 'data']);
  assert.equal(JSON.parse(stored[1].text), { gap: 'overrun', overruns: 2 });
  p.close();
});

const f = suite('fleet policy');

const FLEET = { capabilities: { operations: ['read', 'delete'], scope: { zones: [1, 2] } }, netns: ['edge1'], plugins: ['purge-remote', 'sha256:' + 'a'.repeat(64)] };

f('clients.fleet is read from the one policy parse; the rest of the policy as before', () => {
  const fp = parseFleetPolicy({ default: { capabilities: { operations: ['events'] } }, clients: { fleet: FLEET } });
  assert.equal(fp.fleet!.netns, ['edge1']);
  assert.equal(fp.fleet!.plugins, FLEET.plugins);
  assert.equal(fp.local.default!.capabilities.operations, ['events']);
  assert.is(parseFleetPolicy({}).fleet, null);
  // The spelling: netns inside capabilities.
  const inner = parseFleetPolicy({ clients: { fleet: { capabilities: { operations: ['read'], netns: ['a'] }, plugins: [] } } });
  assert.equal(inner.fleet!.netns, ['a']);
});

f('bad fleet entries are one clear policy error', () => {
  const bad = (fleet: unknown, re: RegExp) => assert.throws(() => parseFleetPolicy({ clients: { fleet } }, 'p.json'), re);
  bad({ ...FLEET, plugins: ['../x'] }, /clients\.fleet\.plugins\[0\].*neither a plugin name/);
  bad({ ...FLEET, plugins: 'purge-remote' }, /plugins must be a list/);
  bad({ ...FLEET, netns: ['a/b'] }, /netns\[0\].*not a namespace name/);
  bad({ ...FLEET, extra: 1 }, /extra/);
  bad({ ...FLEET, capabilities: { operations: ['fly'] } }, /fly/);
});

f('a fleet run\'s grant is manifest ∩ the fleet entry (not the default), limits from the policy', () => {
  const fp = parseFleetPolicy({ default: { capabilities: { operations: ['read', 'delete', 'flush'] }, limits: { timeout_ms: 500 } }, clients: { fleet: FLEET } });
  const manifest = parseManifest({ name: 'purge-remote', version: '1', abi: 1, module: 'x.wasm', sha256: 'b'.repeat(64), capabilities: { operations: ['read', 'delete'], scope: { zones: 'any' } } });
  const g = computeGrant(manifest, parsePolicy(fleetRunPolicy(fp, 'purge-remote')));
  assert.equal(g.scope.zones, [{ from: 1, to: 2 }]);
  assert.is(g.limits.timeout_ms, 500);
  const flusher = parseManifest({ name: 'purge-remote', version: '1', abi: 1, module: 'x.wasm', sha256: 'b'.repeat(64), capabilities: { operations: ['flush'] } });
  assert.throws(() => computeGrant(flusher, parsePolicy(fleetRunPolicy(fp, 'purge-remote'))), /operations/);
});

f('--hosts patterns', () => {
  const m = hostMatcher('edge-*,core-1');
  assert.ok(m('edge-a') && m('core-1') && !m('core-2') && !m('xedge-a'));
  assert.ok(hostMatcher(undefined)('anything'));
  assert.ok(hostMatcher('e?ge')('edge') && !hostMatcher('e?ge')('eddge'));
  assert.equal(namedHosts('edge-*,core-1, core-2'), ['core-1', 'core-2']);
  assert.ok(!hostMatcher('a.b')('axb'), 'dots are literal');
});

t.run();
f.run();
