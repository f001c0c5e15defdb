#!/usr/bin/env node
// The package's install script (`npm install ctplug`): make sure this machine can load the native
// addon, the one piece of ctplug that is not JavaScript or Wasm.
//   1. In a clone (scripts/build.mjs is here) it does nothing: `prepare` builds everything.
//   2. The package ships a prebuilt N-API binary (prebuilds/<platform>-<arch>/ctplug_netlink.node,
//      made by `npm pack`): N-API is ABI-stable, so it loads on any Node >= 20. If it loads here,
//      nothing is built.
//   3. Otherwise (another platform, an older C library) the addon is built from host/native with
//      node-gyp (npm provides it to install scripts) against this Node's own headers, so nothing is
//      downloaded: needs python3, make and a C compiler. CTPLUG_BUILD_FROM_SOURCE=1 forces this step.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'ctplug_netlink.node');
const say = (s) => process.stderr.write(`ctplug install: ${s}\n`);

/** Loads the addon in a child process: a binary that does not fit this machine fails there, not here. */
const loads = (path) => existsSync(path) && spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path)})`]).status === 0;

if (existsSync(join(root, 'scripts', 'build.mjs'))) process.exit(0);
if (!process.env.CTPLUG_BUILD_FROM_SOURCE && loads(prebuilt)) {
  say(`using the prebuilt addon ${join('prebuilds', `${process.platform}-${process.arch}`)}`);
  process.exit(0);
}

say(existsSync(prebuilt) && !process.env.CTPLUG_BUILD_FROM_SOURCE
  ? 'the prebuilt addon does not load here; building it from source'
  : `building the addon from source (${process.env.CTPLUG_BUILD_FROM_SOURCE ? 'CTPLUG_BUILD_FROM_SOURCE' : `no prebuilt binary for ${process.platform}-${process.arch}`})`);
const nodedir = join(dirname(process.execPath), '..');
const args = ['rebuild', '--directory', join(root, 'host', 'native')];
if (existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
else say(`no Node headers in ${join(nodedir, 'include', 'node')}: node-gyp will try to download them`);
// npm hands its own node-gyp to install scripts (npm_config_node_gyp, and `node-gyp` on PATH).
const gyp = process.env.npm_config_node_gyp;
try {
  if (gyp && existsSync(gyp)) execFileSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
  else execFileSync('node-gyp', args, { stdio: 'inherit' });
} catch {
  say('building the native addon failed: install python3, make and g++ (and the Node headers), then run `npm rebuild ctplug`');
  process.exit(1);
}
if (!loads(join(root, 'host', 'native', 'build', 'Release', 'ctplug_netlink.node'))) {
  say('the addon was built but does not load; please report it with `node --version` and `uname -a`');
  process.exit(1);
}
say('built host/native/build/Release/ctplug_netlink.node');
