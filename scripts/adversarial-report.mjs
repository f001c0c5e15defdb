#!/usr/bin/env node
// The figures issue 5 asks for, from one run of the adversarial suite:
//   hostile cases tried and contained (N/N), fuzz inputs per target and crashes, fault cases and
//   their outcomes, and the longest time any hostile plugin held the host before it was stopped.
//
//   node scripts/adversarial-report.mjs            quick (20k fuzz inputs per target)
//   node scripts/adversarial-report.mjs --long     CTPLUG_LONG=1: 1,000,000 fuzz inputs per target
//   node scripts/adversarial-report.mjs --json     the same figures as one JSON object at the end
//
// Runs test/hostile/*, test/fuzz/*, test/integration/faults*.test.ts and capabilities*.test.ts, each in its
// own node process with test/helpers/workers.ts preloaded: that module watches every plugin worker
// and prints, per worker killed inside an export call, how long the call had run when the host
// called terminate() and when the worker was gone. Test files add ADVERSARIAL {json} lines for
// their cases (kind hostile/fault); uvu's Total/Passed/Skipped give the per-file counts.
// Exit status is non-zero when any file fails.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const long = args.includes('--long') || process.env.CTPLUG_LONG === '1';
const asJson = args.includes('--json');

const list = (dir, re) => {
  try { return readdirSync(join(root, dir)).filter((n) => re.test(n)).sort().map((n) => join(dir, n)); } catch { return []; }
};
const groups = {
  hostile: list('test/hostile', /\.test\.ts$/),
  fuzz: list('test/fuzz', /\.test\.ts$/),
  faults: list('test/integration', /^faults.*\.test\.ts$/),
  capabilities: list('test/integration', /^capabilities.*\.test\.ts$/),
  // Not a test file: loops plugins under the bundled host (dist/) to time the hold users would see.
  measure: ['test/helpers/hold-bundle.ts'],
};

const files = [];
const records = [];
for (const [group, paths] of Object.entries(groups)) {
  for (const file of paths) {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', './scripts/ts-register.mjs', '--import', './test/helpers/workers.ts', file], {
      cwd: root, encoding: 'utf8', timeout: 60 * 60_000, maxBuffer: 1 << 28,
      env: { ...process.env, CTPLUG_REPORT_WORKERS: '1', ...(long ? { CTPLUG_LONG: '1' } : {}) },
    });
    const out = (r.stdout || '') + (r.stderr || '');
    const num = (k) => Number((out.match(new RegExp(`${k}:\\s+(\\d+)`)) || [])[1] ?? NaN);
    const total = num('Total'), passed = num('Passed'), skipped = num('Skipped');
    const ok = group === 'measure' ? r.status === 0 : r.status === 0 && !Number.isNaN(total) && total === passed;
    const skips = out.split('\n').filter((l) => l.startsWith('SKIP'));
    const fuzz = [...out.matchAll(/fuzz (\w+): (\d+) inputs in (\d+) ms, (\d+) (?:crashes|failures)/g)]
      .map((m) => ({ target: m[1], inputs: Number(m[2]), ms: Number(m[3]), crashes: Number(m[4]) }));
    for (const line of out.split('\n')) {
      const m = line.match(/ADVERSARIAL (\{.*\})\s*$/);
      if (m) { try { records.push({ file, group, ...JSON.parse(m[1]) }); } catch { /* a torn line: ignore */ } }
    }
    files.push({ file, group, ok, total, passed, skipped, ms: Date.now() - t0, skips, fuzz, output: ok ? undefined : out });
    process.stderr.write(`${ok ? 'ok  ' : 'FAIL'} ${file} ${passed}/${total}${skipped ? ` (${skipped} skipped)` : ''} ${Date.now() - t0} ms\n`);
  }
}

const sum = (xs, k) => xs.reduce((n, x) => n + (Number.isNaN(x[k]) ? 0 : x[k]), 0);
const hostileFiles = files.filter((f) => f.group === 'hostile');
const hostileCases = records.filter((r) => r.kind === 'hostile' && !r.bundle);
const bundleHolds = records.filter((r) => r.kind === 'hostile' && r.bundle);
const bundleLongest = bundleHolds.reduce((a, b) => (!a || b.heldMs > a.heldMs ? b : a), undefined);
const killed = records.filter((r) => r.kind === 'worker' && r.group === 'hostile');
const longest = killed.reduce((a, b) => (!a || b.heldMs > a.heldMs ? b : a), undefined);
const latest = killed.reduce((a, b) => (!a || b.terminateCalledAfterMs > a.terminateCalledAfterMs ? b : a), undefined);
const fuzz = files.flatMap((f) => f.fuzz.map((z) => ({ ...z, file: f.file })));
const faults = records.filter((r) => r.kind === 'fault');
const faultFiles = files.filter((f) => f.group === 'faults');
const capFiles = files.filter((f) => f.group === 'capabilities');

const summary = {
  long,
  hostile: {
    tests: { contained: sum(hostileFiles, 'passed'), tried: sum(hostileFiles, 'total'), skipped: sum(hostileFiles, 'skipped') },
    kernelCases: { contained: hostileCases.filter((c) => c.contained).length, tried: hostileCases.length },
    stopped: killed.length,
    longestHeldMs: longest?.heldMs ?? null,
    longestHeld: longest ? { plugin: longest.plugin, call: longest.killedIn, file: longest.file, terminateCalledAfterMs: longest.terminateCalledAfterMs } : null,
    latestTerminateCallMs: latest?.terminateCalledAfterMs ?? null,
    bundle: { contained: bundleHolds.filter((c) => c.contained).length, tried: bundleHolds.length, longestHeldMs: bundleLongest?.heldMs ?? null, terminateCalledAfterMs: bundleLongest?.terminateCalledAfterMs ?? null },
  },
  fuzz,
  faults: { tests: { passed: sum(faultFiles, 'passed'), tried: sum(faultFiles, 'total'), skipped: sum(faultFiles, 'skipped') }, cases: faults.map((f) => ({ case: f.case, outcome: f.outcome })) },
  capabilities: { passed: sum(capFiles, 'passed'), tried: sum(capFiles, 'total'), skipped: sum(capFiles, 'skipped') },
  files: files.map(({ file, ok, passed, total, skipped, ms }) => ({ file, ok, passed, total, skipped, ms })),
  failed: files.filter((f) => !f.ok).map((f) => f.file),
};

const lines = [];
lines.push(`adversarial suite${long ? ' (long: CTPLUG_LONG=1)' : ' (quick; --long for 1M fuzz inputs per target)'}`);
lines.push('');
lines.push(`hostile plugins: ${summary.hostile.tests.contained}/${summary.hostile.tests.tried} test cases contained` +
  (summary.hostile.tests.skipped ? ` (${summary.hostile.tests.skipped} skipped)` : '') + ` across ${hostileFiles.length} files`);
lines.push(`  kernel-facing (table checked with conntrack -L before/after): ${summary.hostile.kernelCases.contained}/${summary.hostile.kernelCases.tried}`);
for (const c of hostileCases) lines.push(`    ${c.contained ? 'contained' : 'ESCAPED  '}  ${c.case}: ${c.outcome}`);
lines.push(`  plugins stopped inside an export call: ${killed.length}`);
for (const k of killed) lines.push(`    ${k.plugin} in ${k.killedIn}: terminate() at ${k.terminateCalledAfterMs ?? '?'} ms, worker gone at ${k.heldMs} ms (${relative('test', k.file)})`);
if (longest) {
  lines.push(`  longest hold: ${longest.heldMs} ms from the export call to the worker's exit (plugin ${longest.plugin}, ${longest.killedIn}; ` +
    `terminate() was called at ${longest.terminateCalledAfterMs} ms)`);
  lines.push(`  latest terminate() call after the export call began: ${latest.terminateCalledAfterMs} ms (plugin ${latest.plugin}; its deadline is the test's timeout_ms)`);
  lines.push('  (test workers load TypeScript through a loader, which slows their termination; the bundle figure below is what users see)');
}
if (bundleHolds.length) {
  lines.push(`  bundled host (dist/, as users run it), 1000 ms deadline: ${summary.hostile.bundle.contained}/${bundleHolds.length} looping plugins stopped; ` +
    `longest hold ${bundleLongest.heldMs} ms (terminate() at ${bundleLongest.terminateCalledAfterMs} ms; ${bundleLongest.case.replace(/^bundle: /, '')})`);
}
lines.push('');
lines.push('fuzzing:');
for (const z of fuzz) lines.push(`  ${z.target}: ${z.inputs} inputs in ${z.ms} ms, ${z.crashes} crashes (${z.file})`);
if (!fuzz.length) lines.push('  (no fuzz figures found)');
lines.push('');
lines.push(`faults: ${summary.faults.tests.passed}/${summary.faults.tests.tried} tests passed${summary.faults.tests.skipped ? ` (${summary.faults.tests.skipped} skipped)` : ''}`);
for (const f of faults) lines.push(`  ${f.case}: ${f.outcome}`);
lines.push('');
lines.push(`capabilities (kernel, conntrack -L as oracle): ${summary.capabilities.passed}/${summary.capabilities.tried} tests passed` +
  (summary.capabilities.skipped ? ` (${summary.capabilities.skipped} skipped)` : ''));
const skips = [...new Set(files.flatMap((f) => f.skips))];
if (skips.length) { lines.push(''); for (const s of skips) lines.push(s); }
if (summary.failed.length) {
  lines.push('');
  lines.push(`FAILED: ${summary.failed.join(', ')}`);
  for (const f of files.filter((x) => !x.ok)) lines.push(`---- ${f.file}\n${f.output.slice(-4000)}`);
}
process.stdout.write(lines.join('\n') + '\n');
if (asJson) process.stdout.write(JSON.stringify(summary) + '\n');
process.exit(summary.failed.length ? 1 : 0);
