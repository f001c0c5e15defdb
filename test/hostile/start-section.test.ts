// Issue 12, finding 3: a start section runs inside instantiation, before any export. A loop there
// must meet the same deadline as an export call; a start function that calls an import is the
// plugin's failure (exit 7), not a host error (exit 5); and the CLI honours Ctrl-C meanwhile.
// No root needed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT } from '../../host/exit-codes.js';
import { PluginTimeoutError } from '../../host/runtime/errors.js';
import { sourceCli } from '../helpers/cli.js';
import { loadWat } from '../helpers/wasm-run.js';
import { manifestFor, plugin, wat, type PluginParts } from '../helpers/wasm.js';
import { killed, record, settled, workers } from '../helpers/workers.js';

const LOOP: PluginParts = { extra: '(func $spin (loop $l (br $l))) (start $spin)' };
const CALLS_LOG: PluginParts = { extra: '(func $early (drop (call $log (i32.const 1) (i32.const 0) (i32.const 4)))) (start $early)' };
const CALLS_WASI: PluginParts = {
  imports: '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))',
  extra: '(func $early (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))) (start $early)',
};

/** The run's outcome, or 'hung' after `ms` (the plugin is closed then: its worker terminated). */
async function outcome(parts: PluginParts, name: string, timeoutMs: number, ms = 15_000): Promise<unknown> {
  const p = await loadWat(parts, { name, limits: { timeout_ms: timeoutMs } });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.run().then(() => 'ran', (e) => e),
      new Promise((r) => { timer = setTimeout(() => r('hung'), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
    await p.close();
  }
}

test('an infinite loop in the start section is stopped at the deadline, named', async () => {
  const from = workers.length;
  const t0 = Date.now();
  const e = await outcome(LOOP, 'startloop', 500);
  assert.instance(e, PluginTimeoutError, String(e));
  assert.is((e as Error).message, 'plugin "startloop" exceeded 500 ms in instantiation (start section)');
  const took = Date.now() - t0;
  await settled();
  const k = killed(from);
  assert.is(k.length, 1, 'its worker was terminated inside the call');
  record({ kind: 'hostile', case: 'start section: infinite loop', outcome: `${(e as Error).message} after ${took} ms (incl. worker start)`, contained: true, heldMs: k[0].heldMs, limitMs: 500 });
});

for (const [what, parts] of [['ctplug.log', CALLS_LOG], ['wasi fd_write', CALLS_WASI]] as const) {
  test(`a start function that calls ${what} fails as the plugin's failure`, async () => {
    const e = await outcome(parts, 'early', 1000);
    assert.is((e as Error | undefined)?.name, 'PluginFailedError', String(e));
    assert.match((e as Error).message, /^plugin "early" failed in instantiation \(start section\): the start section called (ctplug\.log|wasi_snapshot_preview1\.fd_write); imports are not available before the instance exists/);
    record({ kind: 'hostile', case: `start section: calls ${what}`, outcome: (e as Error).message, contained: true });
  });
}

function pluginDir(parts: PluginParts, limits: object): string {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-start-'));
  const bytes = wat(plugin(parts));
  writeFileSync(join(dir, 'p.wasm'), bytes);
  writeFileSync(join(dir, 'p.manifest.json'), JSON.stringify(manifestFor('p', bytes, { operations: ['read'] }, limits)));
  writeFileSync(join(dir, 'policy.json'), JSON.stringify({ default: { capabilities: { operations: ['read'] }, limits } }));
  return dir;
}

test('CLI: a start function that calls an import exits 7, not 5', () => {
  const dir = pluginDir(CALLS_LOG, {});
  try {
    const r = sourceCli(['--plugin', join(dir, 'p.wasm'), '--policy', join(dir, 'policy.json')]);
    assert.is(r.code, EXIT.PLUGIN_FAILED, r.stderr);
    assert.match(r.stderr, /^ctplug: plugin "p" failed in instantiation \(start section\): /m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: Ctrl-C during a start-section loop (deadline 60 s) ends the command within seconds', async () => {
  const dir = pluginDir(LOOP, { timeout_ms: 60_000 });
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const child = spawn(process.execPath, ['--import', join(root, 'scripts', 'ts-register.mjs'), join(root, 'host', 'cli', 'main.ts'),
    '--plugin', join(dir, 'p.wasm'), '--policy', join(dir, 'policy.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code, sig) => r(code ?? (sig ? -1 : null))));
  try {
    await new Promise((r) => setTimeout(r, 4000)); // loaded, spinning in its start section
    const t0 = Date.now();
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 8000))]);
    const took = Date.now() - t0;
    assert.is(code, 130, `exit ${code} after ${took} ms: ${stderr}`);
    assert.match(stderr, /ctplug: interrupted/);
    record({ kind: 'hostile', case: 'CLI: Ctrl-C while the plugin loops in its start section', outcome: `exit 130 ${took} ms after SIGINT`, contained: true });
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
