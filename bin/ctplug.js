#!/usr/bin/env node
// `ctplug` / `npx ctplug`: the bundled CLI (dist/cli.cjs, one CommonJS file). Built by `npm install`
// (prepare) or `npm run build`.
// Start-up is paid by every command, so the bundle is compiled with V8's code cache (Node 20 has
// no module.enableCompileCache): dist/cli.cjs.<command>.v8cache holds the functions one run of that
// command compiled, written after the run when it is missing or V8 rejected it (another node, other
// flags). One cache per command, so that `ctplug --help` run first does not leave `list` uncached.
// The cache is an optimisation only: unwritable (a read-only install), stale or corrupt, it is
// ignored and the bundle is compiled from source; V8 checks the source hash and its own version.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

// `ctplug daemon` loads only the daemon's bundle, dist/daemon.js (the privileged process holds no
// CLI, runtime or Wasm), without the CLI's code cache: it starts once and runs for months.
if (process.argv[2] === 'daemon') {
  const entry = new URL('../dist/daemon.js', import.meta.url);
  if (!existsSync(entry)) missing('dist/daemon.js');
  const { runDaemon } = await import(entry.href);
  process.exitCode = await runDaemon(process.argv.slice(3));
  process.exit();
}

function missing(what) {
  process.stderr.write(`ctplug: ${what} is missing (ctplug is not built); run \`npm install\` or \`npm run build\` in the ctplug folder\n`);
  process.exit(4);
}

const file = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
if (!existsSync(file)) missing('dist/cli.cjs');
const argv = process.argv.slice(2);
const word = argv.find((a) => !a.startsWith('-'));
const cacheFile = `${file}.${/^[a-z]{1,12}$/.test(word ?? '') ? word : 'other'}.v8cache`;
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // no cache yet
}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData, importModuleDynamically: (s) => import(s) });
if (!cachedData || script.cachedDataRejected) {
  process.once('exit', () => {
    try {
      const tmp = `${cacheFile}.${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile); // whole or not at all, when two runs race
    } catch {
      // read-only install: run uncached
    }
  });
}
const mod = { exports: {} };
script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, dirname(file));
await mod.exports.runCli(argv);
