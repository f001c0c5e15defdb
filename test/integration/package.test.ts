// The package as a user gets it: `npm pack`, then `npm install ./ctplug-VERSION.tgz` in an empty
// project (only the npm registry is used, for its dependencies), then the README's embedding API
// against the kernel, the test kit, and `ctplug plugin new` from the installed package (depending
// on the packed tarball instead of the registry range it writes by default) with its own
// `npm install && npm test`. The addon comes prebuilt in the tarball; building it from source (the
// install script's fallback) is checked too. Prints: MEASURED package: tarball KiB, npm install seconds.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as assert from 'uvu/assert';
import { kernelSuite, makeNetns, removeNetns } from '../helpers/netns.js';

const { t, it } = kernelSuite('npm pack + install', 'test/integration/package.test.ts');
const root = resolve('.');
const version = JSON.parse(readFileSync('package.json', 'utf8')).version;

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', ...env } });
  assert.is(r.status, 0, `${cmd} ${args.join(' ')} in ${cwd}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

it('npm pack -> npm install in an empty project: embed, test kit, plugin new', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-package-'));
  const ns = makeNetns();
  try {
    sh('npm', ['pack', '--pack-destination', dir], root);
    const tgz = join(dir, `ctplug-${version}.tgz`);
    const files = sh('tar', ['tzf', tgz], dir).split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/worker.js', 'dist/testkit.js', 'dist/plugins/match.wasm', 'dist/plugins/match.manifest.json',
      'sdk/assembly/abi.ts', 'sdk/assembly/index.ts', 'sdk/asconfig.json', `prebuilds/${process.platform}-${process.arch}/ctplug_netlink.node`, 'host/native/netlink.c', 'scripts/install.mjs']) {
      assert.ok(files.includes(f), `the tarball holds ${f}`);
    }
    assert.equal(files.filter((f) => /^dist\/(test-plugins|\.)|\.test\.|^test\//.test(f)), [], 'no test files');

    const app = join(dir, 'app');
    sh('mkdir', [app], dir);
    sh('npm', ['init', '-y'], app);
    const t0 = Date.now();
    sh('npm', ['install', tgz], app);
    const installMs = Date.now() - t0;
    process.stdout.write(`\nMEASURED package: tarball ${Math.round(readFileSync(tgz).length / 1024)} KiB, npm install ${(installMs / 1000).toFixed(1)} s\n`);

    writeFileSync(join(app, 'embed.mjs'), `
      import { Conntrack, Host, builtinPlugin, exitCodeOf } from 'ctplug';
      import { runPlugin } from 'ctplug/testkit';
      const netns = ${JSON.stringify(ns)};
      const ct = Conntrack.open({ netns });
      ct.createSync([
        { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 5353, dport: 53, timeout: 60, zone: 5 },
        { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.3', sport: 5353, dport: 53, timeout: 60, zone: 7 },
      ]);
      const zones = [];
      for await (const f of ct.flows()) zones.push(f.zone);
      const host = new Host({ netns, policy: { default: { capabilities: { operations: ['read', 'delete'], scope: { zones: [5] } } } } });
      const run = await host.run(builtinPlugin('match'), { config: { proto: 'udp', action: 'delete' } });
      await host.close();
      let missing;
      try { Conntrack.open({ netns: 'ctplug-no-such-netns' }); } catch (e) { missing = exitCodeOf(e); }
      const kit = await runPlugin(builtinPlugin('list'), { entries: [{ protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 80, timeout: 5 }] });
      console.log(JSON.stringify({ zones: zones.sort(), deleted: run.stats.deleted, left: ct.countSync(), missing, kit: kit.output.split('\\n').filter(Boolean).length }));
      ct.close();
    `);
    assert.equal(JSON.parse(sh(process.execPath, ['embed.mjs'], app)), { zones: [5, 7], deleted: 1, left: 1, missing: 4, kit: 1 });

    // ctplug plugin new from the installed package: a registry range by default ...
    const cli = join(app, 'node_modules', 'ctplug', 'bin', 'ctplug.js');
    sh(process.execPath, [cli, 'plugin', 'new', 'ranged'], app);
    assert.is(JSON.parse(readFileSync(join(app, 'ranged', 'package.json'), 'utf8')).devDependencies.ctplug, `^${version}`);
    // ... and, as this version is not on the registry, the packed tarball here: npm install && npm test.
    sh(process.execPath, [cli, 'plugin', 'new', 'zone-gc', '--ctplug-spec', tgz], app);
    sh('npm', ['install'], join(app, 'zone-gc'));
    assert.match(sh('npm', ['test'], join(app, 'zone-gc')), /Passed:\s+4/);

    // The install script's fallback: the addon built from source, with this Node's own headers.
    sh('npm', ['rebuild', 'ctplug', '--foreground-scripts'], app, { CTPLUG_BUILD_FROM_SOURCE: '1' });
    const built = join(app, 'node_modules', 'ctplug', 'host', 'native', 'build', 'Release', 'ctplug_netlink.node');
    sh(process.execPath, ['-e', `require(${JSON.stringify(built)}).open(12)`], app);
  } finally {
    removeNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
