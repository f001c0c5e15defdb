// A worker started before its plugin is known (the CLI does this while it checks the plugin):
// the first Plugin adopts it, sends its init data as the first message, and runs as usual.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../../host/paths.js';
import { parseManifest } from '../../host/policy/manifest.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import { adoptPrespawned, prespawnWorker } from '../../host/runtime/prespawn.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

const dir = join(packageRoot(), 'dist', 'plugins');
let wasm: Buffer | undefined;
try {
  wasm = readFileSync(join(dir, 'list.wasm'));
} catch {
  console.log('SKIP test/unit/runtime-prespawn.test.ts: dist/plugins is not built (npm run build)');
}

if (!wasm) test.skip('built', () => {});
else test('a pre-started worker is adopted by the next plugin and runs it; a run message sent at once waits for init', async () => {
  const table = Buffer.concat(FakeKernel.fromSpecs([
    { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 53, timeout: 60 },
    { protocol: 'tcp', src: '10.0.0.3', dst: '10.0.0.4', sport: 2, dport: 443, timeout: 60, tcpState: 'ESTABLISHED' },
  ]).messages());
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'list.manifest.json'), 'utf8')));
  const load = () => loadPlugin({ manifest, wasm: wasm! }, { policy: { default: { capabilities: manifest.capabilities } }, config: { output: 'json' }, backend: fakeBackend(table) });
  const plain = await load();
  const expected = Buffer.from((await plain.run()).output).toString();
  await plain.close();

  prespawnWorker();
  const p = await load(); // adopts it: init, then run, posted back to back
  try {
    assert.is(adoptPrespawned(), undefined, 'the plugin took the pre-started worker');
    const r = await p.run();
    assert.is(Buffer.from(r.output).toString(), expected);
    assert.is(r.stats.entries, 2);
    assert.is(Buffer.from((await p.run({ config: { output: 'id' } })).output).toString().trim().split('\n').length, 2);
  } finally {
    await p.close();
  }
});

test.run();
