#!/usr/bin/env node
// One build for a fresh clone: native addon, ABI bindings, filter-key parser, plugins, bundle.
// Run by `npm install` (package.json "prepare") and by hand as `npm run build`.
// Each step is skipped when its outputs are newer than its inputs, so re-runs are cheap.
// `node scripts/build.mjs prebuilt` (run by `npm pack`, package.json "prepack") copies the built
// addon to prebuilds/<platform>-<arch>/, where the packed package loads it (scripts/install.mjs).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
/** Steps that run only when named. */
const onDemand = ['prebuilt'];
const want = (step) => (only.length === 0 && !onDemand.includes(step)) || only.includes(step);

function run(cmd, args, opts = {}) {
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
}

const steps = {
  // The N-API addon, built against the headers of the node that runs this script.
  native() {
    const nodedir = join(dirname(process.execPath), '..');
    const args = ['rebuild', '--directory', 'host/native'];
    if (existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
    run(process.execPath, [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), ...args]);
  },
  abi() {
    run(process.execPath, ['scripts/gen-abi.mjs']);
  },
  // sdk/assembly/filter-keys.ts from sdk/filters.json.
  filters() {
    run(process.execPath, ['scripts/gen-filters.mjs']);
  },
  plugins() {
    run(process.execPath, ['scripts/build-plugins.mjs']);
  },
  bundle() {
    run(process.execPath, ['scripts/bundle.mjs']);
  },
  prebuilt() {
    const built = join(root, 'host', 'native', 'build', 'Release', 'ctplug_netlink.node');
    if (!existsSync(built)) throw new Error(`build: ${built} is missing: run \`node scripts/build.mjs native\` first`);
    const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(built, join(dir, 'ctplug_netlink.node'));
  },
};

mkdirSync(join(root, 'dist'), { recursive: true });
for (const [name, step] of Object.entries(steps)) {
  if (!want(name)) continue;
  const t0 = Date.now();
  step();
  process.stderr.write(`build: ${name} ok (${Date.now() - t0} ms)\n`);
}
