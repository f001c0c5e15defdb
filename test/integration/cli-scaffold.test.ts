// `ctplug plugin new NAME` makes a folder that builds and passes its own test with no edits, and
// depends on a version range of ctplug (^VERSION), never on a relative path into node_modules.
// `npm install` there would fetch assemblyscript, uvu and ctplug; this test links the same packages
// from ctplug's node_modules instead, so it runs offline (test/integration/package.test.ts does the
// real `npm install` from a packed tarball).
// Needs the built test kit (dist/testkit.js) and SDK bindings (sdk/assembly/abi.ts): `npm run build`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const t = suite('ctplug plugin new');
const root = resolve('.');
const built = existsSync(join(root, 'dist', 'testkit.js')) && existsSync(join(root, 'sdk', 'assembly', 'abi.ts'));
const it = built ? t : t.skip;
if (!built) process.stdout.write('SKIP test/integration/cli-scaffold.test.ts: ctplug is not built (dist/testkit.js, sdk/assembly/abi.ts): run `npm run build`\n');

it('scaffolds a plugin that builds and passes its test with no edits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-scaffold-'));
  try {
    const made = spawnSync(process.execPath, ['--import', join(root, 'scripts/ts-register.mjs'), join(root, 'host/cli/main.ts'), 'plugin', 'new', 'zone-filter'], { cwd: dir, encoding: 'utf8' });
    assert.is(made.status, 0, made.stderr);
    const p = join(dir, 'zone-filter');
    for (const f of ['package.json', 'manifest.json', 'asconfig.json', 'assembly/zone-filter.ts', 'build.mjs', 'test/zone-filter.test.mjs']) {
      assert.ok(existsSync(join(p, f)), `missing ${f}`);
    }
    const pkg = JSON.parse(readFileSync(join(p, 'package.json'), 'utf8'));
    assert.is(pkg.devDependencies.ctplug, `^${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}`);

    // What `npm install` would produce, offline.
    mkdirSync(join(p, 'node_modules'));
    symlinkSync(root, join(p, 'node_modules', 'ctplug'));
    for (const dep of ['assemblyscript', 'uvu']) symlinkSync(join(root, 'node_modules', dep), join(p, 'node_modules', dep));

    const test = spawnSync('npm', ['test'], { cwd: p, encoding: 'utf8', timeout: 180_000 });
    assert.is(test.status, 0, `${test.stdout}\n${test.stderr}`);
    assert.match(test.stdout, /Passed:\s+4/); // including: the config typo {"zon": 5} fails and deletes nothing

    const again = spawnSync(process.execPath, ['--import', join(root, 'scripts/ts-register.mjs'), join(root, 'host/cli/main.ts'), 'plugin', 'new', 'zone-filter'], { cwd: dir, encoding: 'utf8' });
    assert.is(again.status, 2);
    assert.match(again.stderr, /already exists/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
