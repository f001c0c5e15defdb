// The README's embedding example, run as written (importing 'ctplug' by its package name) in a
// throwaway namespace. If the README drifts from the API, this fails.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { packageRoot } from '../../host/paths.js';
import { kernelSuite, withNetns } from '../helpers/netns.js';

const { t, it } = kernelSuite('README example', 'test/integration/readme.test.ts');

it('the embedding example runs and does what its comments say', async () => {
  const root = packageRoot();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = readme.split('<!-- readme-example:start -->')[1]?.split('<!-- readme-example:end -->')[0];
  assert.ok(block, 'README has the marked example');
  const code = block!.replace(/^\s*```js\n/, '').replace(/```\s*$/, '');
  // Inside the package, so `import ... from 'ctplug'` resolves to this checkout's dist/ (self-reference).
  const file = join(root, `.readme-example-${process.pid}.mjs`);
  writeFileSync(file, code);
  try {
    await withNetns((ns) => {
      const r = spawnSync(process.execPath, [file], { encoding: 'utf8', env: { ...process.env, NETNS: ns } });
      assert.is(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n'), [
        'created 3, table holds 3',
        'match deleted 1',
        'table holds 2',
        'tcp 10.0.0.1:40000 -> 10.0.0.4:443 ESTABLISHED',
        'ABORTED, exit 130, 0 entries listed',
      ]);
    });
  } finally {
    rmSync(file, { force: true });
  }
});

t.run();
