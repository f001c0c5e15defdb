// Output flow control: a slow consumer pauses the plugin between batches, so the host never
// buffers more than CHUNKS_IN_FLIGHT chunks of output, whatever the table size. The bound is a
// credit the worker takes before posting a chunk, not a race with the main thread: it holds on a
// loaded machine too (nothing here is timed; the consumer's delay only makes it slow).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../../host/paths.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { parseManifest } from '../../host/policy/manifest.js';
import { CHUNKS_IN_FLIGHT } from '../../host/runtime/watchdog.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

const dir = join(packageRoot(), 'dist', 'plugins');
const built = (() => {
  try {
    readFileSync(join(dir, 'list.wasm'));
    return true;
  } catch {
    return false;
  }
})();

async function listPlugin(n: number) {
  const specs = Array.from({ length: n }, (_, i) => ({ protocol: 'udp', src: '10.0.0.1', dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, sport: 1000, dport: 53, timeout: 60 }));
  const table = Buffer.concat(FakeKernel.fromSpecs(specs).messages());
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'list.manifest.json'), 'utf8')));
  const wasm = readFileSync(join(dir, 'list.wasm'));
  const policy = { default: { capabilities: manifest.capabilities } };
  return loadPlugin({ manifest, wasm }, { policy, config: { output: 'extended' }, backend: fakeBackend(table) });
}

if (!built) {
  console.log('SKIP test/unit/runtime-backpressure.test.ts: dist/plugins is not built (npm run build)');
  test.skip('built', () => {});
} else {
  test('onOutput returning a promise pauses the plugin: never more than CHUNKS_IN_FLIGHT chunks outstanding', async () => {
    const p = await listPlugin(80_000); // ~12 MB of text: ~45 chunks of 256 KiB
    let outstanding = 0, maxOutstanding = 0, chunks = 0, bytes = 0;
    try {
      const r = await p.run({
        onOutput: (b) => {
          chunks++;
          bytes += b.length;
          outstanding++;
          maxOutstanding = Math.max(maxOutstanding, outstanding);
          return new Promise<void>((resolve) => setTimeout(() => { outstanding--; resolve(); }, 40));
        },
      });
      assert.is(r.stats.entries, 80_000);
      assert.is(bytes, r.stats.emittedBytes);
      assert.ok(chunks >= 20, `${chunks} chunks`);
      assert.ok(maxOutstanding <= CHUNKS_IN_FLIGHT, `the worker kept producing while paused: ${maxOutstanding} of ${chunks} chunks outstanding`);
    } finally {
      await p.close();
    }
  });

  test('stream(): a slow reader pauses the plugin; every byte still arrives in order', async () => {
    const p = await listPlugin(40_000);
    try {
      const { output, result } = p.stream();
      let text = '';
      for await (const chunk of output) {
        text += Buffer.from(chunk).toString();
        await new Promise((r) => setTimeout(r, 5));
      }
      const r = await result;
      assert.is(text.length, r.stats.emittedBytes);
      assert.is(text.trim().split('\n').length, 40_000);
    } finally {
      await p.close();
    }
  });
}

test.run();
