// Output chunk reuse: a chunk the embedder releases (onOutput's second argument) is filled again
// by the worker; one it keeps is never written over, and the output is the same either way.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../../host/paths.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { parseManifest } from '../../host/policy/manifest.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

const dir = join(packageRoot(), 'dist', 'plugins');
let built = true;
try {
  readFileSync(join(dir, 'list.wasm'));
} catch {
  built = false;
}

if (!built) {
  console.log('SKIP test/unit/runtime-output-reuse.test.ts: dist/plugins is not built (npm run build)');
  test.skip('built', () => {});
} else {
  test('released chunks are reused without changing the output; kept chunks stay intact', async () => {
    const specs = Array.from({ length: 30_000 }, (_, i) => ({ protocol: 'udp', src: '10.0.0.1', dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, sport: 1000, dport: 53, timeout: 60 }));
    const table = Buffer.concat(FakeKernel.fromSpecs(specs).messages());
    const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'list.manifest.json'), 'utf8')));
    const policy = { default: { capabilities: manifest.capabilities } };
    const p = await loadPlugin({ manifest, wasm: readFileSync(join(dir, 'list.wasm')) }, { policy, config: { output: 'extended' }, backend: fakeBackend(table) });
    try {
      const collected = Buffer.from((await p.run()).output).toString();
      const kept: [Uint8Array, string][] = [];
      let text = '', chunks = 0, handedBack = 0, pooled = 0;
      const r = await p.run({
        onOutput: (b, release) => {
          const s = Buffer.from(b).toString();
          text += s;
          // Once buffers come back the worker sizes them in powers of two, to fit later chunks.
          const cap = b.buffer.byteLength;
          if (cap > b.length && (cap & (cap - 1)) === 0) pooled++;
          if (chunks++ % 3 === 0) kept.push([b, s]); // never released
          else {
            release();
            if (b.buffer.byteLength === 0) handedBack++; // transferred back to the worker: detached here
          }
        },
      });
      assert.ok(chunks >= 10, `${chunks} chunks`);
      assert.is(handedBack, chunks - kept.length, 'every released chunk went back to the worker');
      assert.ok(pooled > 0, 'the worker received them: later chunks come in its reusable buffers');
      assert.is(text.length, r.stats.emittedBytes);
      assert.is(text, collected);
      for (const [b, s] of kept) assert.is(Buffer.from(b).toString(), s);
    } finally {
      await p.close();
    }
  });
}

test.run();
