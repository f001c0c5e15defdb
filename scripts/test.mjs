#!/usr/bin/env node
// Runs every uvu test file in its own node process and ends with the line CI reads:
// `N passed, N failed, N skipped`. Exit status is non-zero on any failure.
//   npm test                      unit, plugin, hostile, fuzz (short), integration (root only)
//   npm run test:adversarial      the same plus the long fuzz and hostile runs (CTPLUG_LONG=1)
//   node scripts/test.mjs FILTER  only files whose path contains FILTER
// Before the files: the test plugins (test/plugin/fixtures-src -> dist/test-plugins; npm install
// builds only the shipped plugins) and, on a whole run or with FILTER `typecheck`, `tsc --noEmit -p .`:
// each counts as one test, so a type error fails the run.
// Under CI=true (.ci/run: root, every tool installed) nothing may skip: a file that skips tests or
// prints a SKIP line fails, with its reason, instead of passing green.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const long = args.includes('--adversarial');
const filters = args.filter((a) => !a.startsWith('--'));
const layers = ['unit', 'fuzz', 'plugin', 'hostile', 'integration'];

function files(dir) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(files(p));
    else if (/\.test\.(ts|mjs|js)$/.test(name)) out.push(p);
  }
  return out;
}

const ci = process.env.CI === 'true';
let passed = 0, failed = 0, skipped = 0;
const broken = [];

/** A step that is not a uvu file (a build, the type-check): one passed or one failed test. */
function step(name, cmd, argv) {
  const t0 = Date.now();
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', timeout: 10 * 60_000 });
  const ms = Date.now() - t0;
  if (r.status === 0) {
    passed++;
    process.stdout.write(`ok   ${name} ${ms} ms\n`);
  } else {
    failed++;
    broken.push(name);
    process.stdout.write(`FAIL ${name} (${ms} ms)\n${r.stdout || ''}${r.stderr || ''}${r.error ? `${r.error}\n` : ''}\n`);
  }
}
step('build: test plugins (scripts/build-plugins.mjs --fixtures)', process.execPath, [join(root, 'scripts', 'build-plugins.mjs'), '--fixtures']);
if (filters.length === 0 || filters.includes('typecheck')) {
  step('typecheck (tsc --noEmit -p .)', process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', '.']);
}
for (const layer of layers) {
  let list;
  try { list = files(join(root, 'test', layer)); } catch { continue; }
  list = list.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  for (const file of list) {
    const rel = relative(root, file);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', './scripts/ts-register.mjs', file], {
      cwd: root, encoding: 'utf8', timeout: 15 * 60_000,
      env: { ...process.env, ...(long ? { CTPLUG_LONG: '1' } : {}) },
    });
    const out = (r.stdout || '') + (r.stderr || '');
    const num = (k) => Number((out.match(new RegExp(`${k}:\\s+(\\d+)`)) || [])[1] ?? NaN);
    const total = num('Total'), ok = num('Passed'), skip = num('Skipped');
    const ms = Date.now() - t0;
    if (Number.isNaN(total) || r.status !== 0 || ok < total) {
      // A file that crashed before uvu's summary still counts as (at least) one failure; a failing
      // before() hook leaves uvu's exit status 0 with fewer passed than its total.
      const f = Number.isNaN(total) ? 1 : Math.max(1, total - ok);
      failed += f; passed += Number.isNaN(ok) ? 0 : ok;
      if (!Number.isNaN(skip)) { if (ci) failed += skip; else skipped += skip; }
      broken.push(rel);
      process.stdout.write(`FAIL ${rel} (${ms} ms)\n${out}\n`);
    } else if (ci && (skip > 0 || /^SKIP/m.test(out))) {
      // CI runs everything: a skip there hides a broken environment or a broken test.
      passed += ok; failed += Math.max(1, skip) + (total - ok);
      broken.push(`${rel} (CI=true: skipped)`);
      process.stdout.write(`FAIL ${rel}: CI=true but tests were skipped (${ms} ms)\n${out.split('\n').filter((l) => l.startsWith('SKIP')).map((l) => `     ${l}`).join('\n')}\n`);
    } else {
      passed += ok; skipped += skip; failed += total - ok; // uvu's Total excludes skipped tests
      const note = skip ? ` (${skip} skipped)` : '';
      process.stdout.write(`ok   ${rel}: ${ok}/${total}${note} ${ms} ms\n`);
      // Skips say why, loudly (e.g. integration tests when not root); measurements are shown too, and so are
      // parity cases that passed only when run again.
      for (const line of out.split('\n')) if (/^(SKIP|MEASURED|FLAKY|TODO)/.test(line)) process.stdout.write(`     ${line}\n`);
    }
  }
}
if (broken.length) process.stdout.write(`\nfailing files:\n  ${broken.join('\n  ')}\n`);
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(failed > 0 ? 1 : 0);
