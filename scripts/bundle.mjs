#!/usr/bin/env node
// Bundles the TypeScript host with esbuild into dist/ (ESM, node20), and emits typings.
//   dist/cli.cjs      the `ctplug` command: ONE CommonJS file (bin/ctplug.js compiles it with V8's
//                     code cache; a command's modules are still evaluated only when it runs)
//   dist/index.js     the embedding API (host/index.ts)       + dist/index.d.ts
//   dist/worker.js    the plugin worker (host/runtime/worker.ts; plugin.ts finds it next to itself)
//   dist/daemon.js    `ctplug daemon` (host/daemon/main.ts): the privileged process; no runtime, Wasm or CLI
//                     in it (test/unit/daemon-bundle.test.ts reads the metafile)
//   dist/testkit.js   the plugin test kit (sdk/testkit/index.ts) + dist/testkit.d.ts
//   dist/fake-backend.js  the fake kernel as a worker backend (fakeBackend() names it; the worker imports it)
//   dist/chunk-*.js   code shared by the ESM entries
// Why the CLI is one CommonJS file: start-up is paid by every command, and Node 20 loads one CJS
// file (parse + code cache) faster than an ESM graph of chunks (measured: 45.5 ms of process CPU
// for the split ESM graph vs 30.7 for one CJS file with a code cache; Node 20 has no
// module.enableCompileCache). esbuild keeps `import()` of bundled modules lazy in CJS: a command
// still evaluates only the modules it uses.
// Everything lands flat in dist/: plugin.ts resolves `./worker.js` relative to its own chunk.
// The native addon (.node), @wasmer/wasi and the fleet's NATS/Prometheus clients stay external
// (dependencies, loaded only by `ctplug fleet`).
// Typings: `tsc --emitDeclarationOnly` into dist/types, re-exported by dist/index.d.ts and
// dist/testkit.d.ts. Type errors there (e.g. no @types/node installed) are reported, not fatal:
// declarations are still emitted.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');


/**
 * Bundles into `outdir` (default dist/). Tests call this with a private outdir inside dist/ so they
 * run exactly the current sources, bundled, without the cost of transpiling on every spawn.
 */
export async function bundle({ outdir = join(root, 'dist'), types = true, quiet = false } = {}) {
  const dist = outdir;
  const log = (s) => { if (!quiet) process.stderr.write(s); };
  const entries = {
    index: 'host/index.ts',
    worker: 'host/runtime/worker.ts',
    daemon: 'host/daemon/main.ts',
    testkit: 'sdk/testkit/index.ts',
    'fake-backend': 'sdk/testkit/fake-backend.ts',
  };
  const entryPoints = Object.fromEntries(Object.entries(entries).filter(([, src]) => existsSync(join(root, src))).map(([k, v]) => [k, join(root, v)]));

  // Old chunks from a previous bundle would pile up: remove them (and only them).
  for (const f of existsSync(dist) ? readdirSync(dist) : []) if (/^chunk-.*\.js$|^cli\.js$|\.v8cache$/.test(f)) rmSync(join(dist, f));

  const t0 = Date.now();
  const result = await build({
    entryPoints,
    outdir: dist,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: 'chunk-[hash]',
    external: ['*.node', '@wasmer/wasi', '@nats-io/*', 'prom-client'],
    logLevel: 'warning',
    metafile: true,
    legalComments: 'none',
  });
  const cli = await build({
    entryPoints: { cli: join(root, 'host/cli/main.ts') },
    outdir: dist,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['*.node', '@wasmer/wasi'],
    // import.meta.url (paths relative to the bundle: worker.js, plugins/) from the CJS file's name.
    define: { 'import.meta.url': '__ctplug_import_meta_url' },
    banner: { js: "var __ctplug_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'warning',
    metafile: true,
    legalComments: 'none',
  });
  const outs = [...Object.values(result.metafile.outputs), ...Object.values(cli.metafile.outputs)];
  // Both builds' metafiles in one (test/unit/daemon-bundle.test.ts reads what each entry holds).
  const meta = { inputs: { ...result.metafile.inputs, ...cli.metafile.inputs }, outputs: { ...result.metafile.outputs, ...cli.metafile.outputs } };
  writeFileSync(join(dist, 'meta.json'), JSON.stringify(meta));
  const kib = (outs.reduce((n, o) => n + o.bytes, 0) / 1024).toFixed(0);
  log(`bundle: ${Object.keys(entryPoints).length + 1} entries, ${outs.length} files, ${kib} KiB in ${Date.now() - t0} ms\n`);

  if (types) {
    const t1 = Date.now();
    const inputs = [entries.index, entries.testkit].filter((f) => existsSync(join(root, f)));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [
      tsc, ...inputs, '--declaration', '--emitDeclarationOnly', '--outDir', join(dist, 'types'),
      '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--lib', 'es2022,es2024.sharedmemory,dom', '--resolveJsonModule',
      '--skipLibCheck', '--strict', '--pretty', 'false',
    ], { cwd: root, encoding: 'utf8' });
    const errors = (r.stdout || '').split('\n').filter((l) => /error TS\d+/.test(l));
    const have = (p) => existsSync(join(dist, 'types', p));
    if (have('host/index.d.ts')) writeFileSync(join(dist, 'index.d.ts'), "export * from './types/host/index.js';\n");
    if (have('sdk/testkit/index.d.ts')) writeFileSync(join(dist, 'testkit.d.ts'), "export * from './types/sdk/testkit/index.js';\n");
    if (!have('host/index.d.ts')) {
      throw new Error(`bundle: typings NOT emitted (tsc exit ${r.status})\n${r.stdout}${r.stderr}`);
    }
    const missingNode = errors.some((l) => /Cannot find module 'node:/.test(l));
    log(`bundle: typings dist/index.d.ts${have('sdk/testkit/index.d.ts') ? ', dist/testkit.d.ts' : ''} (${Date.now() - t1} ms${errors.length ? `; ${errors.length} type errors ignored${missingNode ? ', add @types/node to devDependencies for exact Node types' : ''}` : ''})\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await bundle({ types: !process.argv.includes('--no-types') });
}
