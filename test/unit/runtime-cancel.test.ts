// Cancellation and early exits, without root (the fake kernel): an AbortSignal on a dump run, a
// pre-aborted signal, leaving stream() early, close() during a run, and Conntrack's async dump.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AbortError, Conntrack, loadPlugin, parseManifest } from '../../host/index.js';
import { packageRoot } from '../../host/paths.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

const dir = join(packageRoot(), 'dist', 'plugins');
const built = (() => {
  try {
    return readFileSync(join(dir, 'list.wasm')).length > 0;
  } catch {
    return false;
  }
})();

const specs = (n: number) => Array.from({ length: n }, (_, i) => ({ protocol: 'udp', src: '10.0.0.1', dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, sport: 1000, dport: 53, timeout: 60 }));

async function listPlugin(n: number) {
  const table = Buffer.concat(FakeKernel.fromSpecs(specs(n)).messages());
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'list.manifest.json'), 'utf8')));
  const policy = { default: { capabilities: manifest.capabilities } };
  return loadPlugin({ manifest, wasm: readFileSync(join(dir, 'list.wasm')) }, { policy, config: { output: 'extended' }, backend: fakeBackend(table) });
}

/** A wait with a time limit, so a run that never settles fails the test instead of hanging it. */
function within<T>(p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle`)), ms)))]).finally(() => clearTimeout(timer));
}

const it = built ? test : test.skip;
if (!built) console.log('SKIP test/unit/runtime-cancel.test.ts: dist/plugins is not built (npm run build)');

it('a pre-aborted signal: the run rejects with AbortError and nothing is dumped', async () => {
  const p = await listPlugin(1000);
  try {
    const output: Uint8Array[] = [];
    const err = await p.run({ signal: AbortSignal.abort(), onOutput: (b) => void output.push(b) }).catch((e) => e);
    assert.is(output.length, 0);
    assert.is(err.stats.dumps, 0);
    assert.is(err.stats.entries, 0);
    assert.instance(err, AbortError);
    assert.is(err.code, 'ABORTED');
    // The plugin is still usable.
    assert.is((await p.run()).stats.entries, 1000);
  } finally {
    await p.close();
  }
});

it('an abort during a dump stops it between batches: AbortError with the entries delivered so far', async () => {
  const p = await listPlugin(60_000);
  try {
    const ac = new AbortController();
    const err = await within(p.run({ signal: ac.signal, onOutput: () => ac.abort() }).catch((e) => e), 'the aborted run');
    assert.ok(err.stats.entries > 0 && err.stats.entries < 60_000, `stopped part-way (${err.stats.entries} entries)`);
    assert.instance(err, AbortError);
    assert.is(err.stats.dumps, 1);
  } finally {
    await p.close();
  }
});

it('leaving stream() early (break) ends the run: result resolves with what was done', async () => {
  const p = await listPlugin(80_000); // ~45 chunks: the plugin pauses once 8 are unread
  try {
    const { output, result } = p.stream();
    for await (const chunk of output) {
      assert.ok(chunk.length > 0);
      break;
    }
    const r = await within(result, 'the abandoned stream\'s run');
    assert.ok(r.stats.entries < 80_000, `stopped early (${r.stats.entries} entries)`);
    assert.is((await p.run({ onOutput: () => undefined })).stats.entries, 80_000, 'the next run is whole');
  } finally {
    await p.close();
  }
});

it('close() during a run: the run rejects with AbortError; a closed plugin does not run again', async () => {
  const p = await listPlugin(60_000);
  const running = p.run({ onOutput: () => new Promise(() => undefined) }).catch((e) => e); // a consumer that never catches up
  await new Promise((r) => setTimeout(r, 50));
  await p.close();
  const err = await within(running, 'the closed plugin\'s run');
  assert.is(err.stats?.entries === 60_000, false, 'the run did not complete');
  assert.instance(err, AbortError);
  assert.match(err.message, /closed/);
  const again = await p.run().catch((e) => e);
  assert.is(again.code, 'PLUGIN_CLOSED');
});

test('Conntrack.dump: a pre-aborted signal delivers nothing; an abort part-way rejects with the progress; the socket stays usable', async () => {
  const k = FakeKernel.fromSpecs(specs(3000));
  const ct = Conntrack.open({ socket: k.socket() });
  try {
    let batches = 0;
    const pre = await ct.dump({}, () => void batches++, { signal: AbortSignal.abort() }).catch((e) => e);
    assert.is(batches, 0);
    assert.instance(pre, AbortError);
    const ac = new AbortController();
    const mid = await ct.dump({}, () => { if (++batches === 2) ac.abort('enough'); }, { signal: ac.signal }).catch((e) => e);
    assert.instance(mid, AbortError);
    assert.is(mid.message, 'dump was aborted: enough');
    assert.equal([batches, mid.stats.batches], [2, 2]);
    assert.is(ct.countSync(), 3000, 'the rest of the dump was drained: the next request gets its own answer');
    let flows = 0;
    for await (const f of ct.flows()) {
      assert.equal([f.protocol, f.orig.src, f.orig.dport], ['udp', '10.0.0.1', 53]);
      if (++flows === 10) break;
    }
    assert.is((await ct.dump({}, () => undefined)).messages, 3000, 'leaving flows() early drained it too');
  } finally {
    ct.close();
  }
});

test.run();
