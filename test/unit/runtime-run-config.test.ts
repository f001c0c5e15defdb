// A run's own config: Plugin.run({ config }) gives one run a different config on the same worker
// (a fresh instance each run); a run without it gets the config given at load.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../../host/paths.js';
import { parseManifest } from '../../host/policy/manifest.js';
import { PluginError } from '../../host/policy/errors.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

const dir = join(packageRoot(), 'dist', 'plugins');
let wasm: Buffer | undefined;
try {
  wasm = readFileSync(join(dir, 'list.wasm'));
} catch {
  console.log('SKIP test/unit/runtime-run-config.test.ts: dist/plugins is not built (npm run build)');
}

if (!wasm) test.skip('built', () => {});
else test('run({ config }) replaces the load-time config for that run only', async () => {
  const table = Buffer.concat(FakeKernel.fromSpecs([
    { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 53, timeout: 60, zone: 5 },
    { protocol: 'tcp', src: '10.0.0.3', dst: '10.0.0.4', sport: 2, dport: 443, timeout: 60, tcpState: 'ESTABLISHED' },
  ]).messages());
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'list.manifest.json'), 'utf8')));
  const p = await loadPlugin({ manifest, wasm: wasm! }, { policy: { default: { capabilities: manifest.capabilities } }, config: { output: 'id' }, backend: fakeBackend(table) });
  const lines = async (config?: unknown) => Buffer.from((await p.run(config === undefined ? {} : { config })).output).toString().trim().split('\n');
  try {
    assert.ok((await lines()).every((l) => / id=\d+$/.test(l)));
    const json = await lines({ output: 'json', proto: 'tcp' });
    assert.equal(json.map((l) => JSON.parse(l).proto), ['tcp']);
    assert.is((await lines()).length, 2, 'the next run has the load-time config again');
    const bad = await p.run({ config: { x: 1n } }).then(() => undefined, (e: unknown) => e);
    assert.ok(bad instanceof PluginError && /config is not JSON/.test(bad.message), String(bad));
  } finally {
    await p.close();
  }
});

test.run();
