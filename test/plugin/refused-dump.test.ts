// A plugin whose dump is refused (a zone outside its grant) must not fall back to a wider one:
// it fails, and nothing is deleted. (Found in the demo: purge-remote for zone 7 with a grant of
// zones 5-6 used to get the SDK's default dump of everything granted.)
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PluginFailedError } from '../../host/runtime/errors.js';
import { runPlugin } from '../../sdk/testkit/index.js';
import { built, root } from './harness.js';

const manifest = join(root, 'dist', 'plugins', 'purge-remote.manifest.json');
const entries = [5, 6, 7].map((zone) => ({ protocol: 'udp', src: '10.0.0.1', dst: '198.51.100.7', sport: 1000 + zone, dport: 53, timeout: 60, zone }));
const policy = {
  default: { capabilities: { operations: ['read', 'delete'], scope: { zones: [5, 6], families: 'any', protocols: 'any' } } },
};

if (!built(manifest)) {
  console.log('SKIP test/plugin/refused-dump.test.ts: dist/plugins is not built (npm run build)');
  test.skip('purge-remote refused dump', () => {});
} else {
  test('purge-remote asked for zone 7 with a zones 5-6 grant: refused, nothing seen, nothing deleted', async () => {
    try {
      const r = await runPlugin(manifest, { entries, policy, config: { addr: '198.51.100.7', zones: [7] } });
      assert.unreachable(`should fail; deleted ${r.deleted.length}, saw ${r.stats.entries}`);
    } catch (e) {
      assert.instance(e, PluginFailedError);
      assert.match((e as Error).message, /plugin "purge-remote" failed in ctplug_init: returned E_INVAL \(plugin said: .*refused the dump/);
    }
  });

  test('the same plugin inside its grant deletes only its zone', async () => {
    const r = await runPlugin(manifest, { entries, policy, config: { addr: '198.51.100.7', zones: [6] } });
    assert.equal(r.deleted.map((e) => (e as { zone: number }).zone), [6]);
  });
}

test.run();
