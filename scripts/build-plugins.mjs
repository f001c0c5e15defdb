#!/usr/bin/env node
// Compiles the AssemblyScript plugins:
//   plugins/<name>/<name>.ts              -> dist/plugins/<name>.wasm + <name>.manifest.json
//   test/plugin/fixtures-src/<name>.ts    -> dist/test-plugins/<name>.wasm + <name>.manifest.json
//                                            (only with --fixtures: the test runner builds them, not npm install)
// Build config: root asconfig.json (-> sdk/asconfig.json: no WASI, imports only "ctplug"), or
// sdk/asconfig.wasi.json for sources named *.wasi.ts or dirs holding a file named `wasi`.
// The manifest is plugins/<name>/manifest.json (or fixtures-src/<name>.manifest.json, or a
// permissive default for test plugins) plus "module" and the "sha256" of the built wasm; a config
// with "filterKeys": "all" gets the filter keys of sdk/filters.json documented (gen-filters.mjs).
// Outputs newer than every input are skipped; `--force` rebuilds everything.
//   node scripts/build-plugins.mjs [--force] [--fixtures] [name ...]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expandManifest, loadTable } from './gen-filters.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const force = args.includes('--force');
const withFixtures = args.includes('--fixtures');
const only = args.filter((a) => !a.startsWith('--'));

const CONFIG_DEFAULT = join(root, 'asconfig.json');
const CONFIG_WASI = join(root, 'sdk', 'asconfig.wasi.json');

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out); else out.push(p);
  }
  return out;
}
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

// Inputs every module depends on: the SDK sources, the ABI and filter table, the build configs, the scripts.
const common = [
  ...walk(join(root, 'sdk', 'assembly')).filter((p) => p.endsWith('.ts')),
  join(root, 'sdk', 'abi.json'), join(root, 'sdk', 'filters.json'), CONFIG_DEFAULT, join(root, 'sdk', 'asconfig.json'), CONFIG_WASI,
  fileURLToPath(import.meta.url), join(root, 'scripts', 'gen-filters.mjs'),
].filter(existsSync);
const filterTable = loadTable();
const commonTime = Math.max(...common.map(mtime));

const jobs = [];
for (const name of existsSync(join(root, 'plugins')) ? readdirSync(join(root, 'plugins')).sort() : []) {
  const dir = join(root, 'plugins', name);
  const entry = join(dir, `${name}.ts`);
  if (!statSync(dir).isDirectory() || !existsSync(entry)) continue;
  jobs.push({
    name, entry, inputs: walk(dir), outDir: join(root, 'dist', 'plugins'),
    manifest: join(dir, 'manifest.json'), wasi: existsSync(join(dir, 'wasi')),
  });
}
const fixtures = join(root, 'test', 'plugin', 'fixtures-src');
for (const file of withFixtures && existsSync(fixtures) ? readdirSync(fixtures).sort() : []) {
  if (!file.endsWith('.ts')) continue;
  const wasi = file.endsWith('.wasi.ts');
  const name = basename(file).replace(/(\.wasi)?\.ts$/, '');
  const m = join(fixtures, `${name}.manifest.json`);
  jobs.push({
    name, entry: join(fixtures, file), inputs: [join(fixtures, file), ...(existsSync(m) ? [m] : [])],
    outDir: join(root, 'dist', 'test-plugins'), manifest: existsSync(m) ? m : null, wasi,
  });
}

function defaultManifest(name) {
  return {
    name, version: '0.0.0', description: `test plugin ${name}`, abi: 1,
    capabilities: { operations: ['read', 'delete'], scope: { zones: 'any', families: ['ipv4', 'ipv6'], protocols: 'any', mark: null } },
    limits: { timeout_ms: 1000, memory_max_pages: 256 },
    config: {},
  };
}

let asc = null;
let built = 0, skipped = 0, failed = 0;
for (const job of jobs) {
  if (only.length && !only.includes(job.name)) continue;
  mkdirSync(job.outDir, { recursive: true });
  const wasm = join(job.outDir, `${job.name}.wasm`);
  const manOut = join(job.outDir, `${job.name}.manifest.json`);
  const newestIn = Math.max(commonTime, ...job.inputs.map(mtime));
  if (!force && mtime(wasm) > newestIn && mtime(manOut) > newestIn) { skipped++; continue; }

  const argv = [
    relative(root, job.entry),
    '--config', relative(root, job.wasi ? CONFIG_WASI : CONFIG_DEFAULT),
    '--outFile', relative(root, wasm),
  ];
  let stderr = '';
  let error = null;
  const t0 = Date.now();
  if (job.wasi) {
    // asc keeps --lib state between in-process runs, so a WASI-shim build (which adds lib
    // files) runs in its own process and cannot leak into the plain builds.
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js'), ...argv], { cwd: root, encoding: 'utf8' });
    stderr = (r.stderr || '') + (r.stdout || '');
    if (r.status !== 0) error = new Error(`asc exited with ${r.status}`);
  } else {
    asc ??= (await import('assemblyscript/asc')).default;
    ({ error } = await asc.main(argv, {
      stdout: { write: () => true },
      stderr: { write: (s) => { stderr += String(s); return true; } },
    }));
  }
  // asc prints INFO/WARNING diagnostics on stderr; keep only real trouble
  const trouble = stderr.split('\n').some((l) => /^(ERROR|FAILURE)/.test(l.trim()));
  if (error || trouble) {
    failed++;
    process.stderr.write(`build-plugins: ${job.name} FAILED\n${stderr}\n`);
    continue;
  }
  const bytes = readFileSync(wasm);
  const base = expandManifest(job.manifest ? JSON.parse(readFileSync(job.manifest, 'utf8')) : defaultManifest(job.name), filterTable);
  const manifest = { ...base, module: `${job.name}.wasm`, sha256: createHash('sha256').update(bytes).digest('hex') };
  writeFileSync(manOut, JSON.stringify(manifest, null, 2) + '\n');
  built++;
  process.stderr.write(`build-plugins: ${relative(root, wasm)} ${bytes.length} bytes${job.wasi ? ' (wasi)' : ''} ${Date.now() - t0} ms\n`);
}
process.stderr.write(`build-plugins: ${built} built, ${skipped} up to date${failed ? `, ${failed} FAILED` : ''}\n`);
if (failed) process.exit(1);
