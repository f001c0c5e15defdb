// A long-lived Host holds only live plugins: one the embedder closed is let go of (its module, grant
// and buffers can be collected), not kept until host.close().
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Host } from '../../host/index.js';
import { packageRoot } from '../../host/paths.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const manifest = join(packageRoot(), 'dist', 'plugins', 'list.manifest.json');
const built = (() => {
  try {
    return readFileSync(manifest).length > 0;
  } catch {
    return false;
  }
})();
if (!built) console.log('SKIP test/unit/runtime-host-lifetime.test.ts: dist/plugins is not built (npm run build)');

/** In its own function, so that no frame of the test keeps the plugin. */
async function loadRunClose(host: Host): Promise<WeakRef<object>> {
  const p = await host.load(manifest);
  await p.run();
  await p.close();
  return new WeakRef(p);
}

(built ? test : test.skip)('a plugin the embedder closed is not kept by its Host', async () => {
  const host = new Host({ policy: { default: { capabilities: { operations: ['read'] } } }, backend: fakeBackend(Buffer.concat(FakeKernel.fromSpecs([]).messages())) });
  try {
    const first = await loadRunClose(host);
    await (await host.load(manifest)).close(); // the next load lets go of the closed one
    for (let i = 0; i < 10 && first.deref(); i++) {
      await new Promise((r) => setTimeout(r, 10));
      gc();
    }
    assert.is(first.deref(), undefined, 'the closed plugin is still referenced');
  } finally {
    await host.close();
  }
});

test.run();
