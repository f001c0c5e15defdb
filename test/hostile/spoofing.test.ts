// Issue 12, finding 5: text from a plugin or a manifest reached the terminal raw. A plugin forged
// a ctplug summary line and hid lines with escapes; `plugin inspect` showed a module asking for
// every operation as "read / zones: [5]". Every such string is now escaped before it reaches a
// terminal or a log record (one record = one line, tagged with the plugin's name); `emit` output
// stays byte-exact data. No root needed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT } from '../../host/exit-codes.js';
import { sourceCli } from '../helpers/cli.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import { loadWat, runWat } from '../helpers/wasm-run.js';
import { dataString, manifestFor, plugin, wat, type PluginParts } from '../helpers/wasm.js';
import { record } from '../helpers/workers.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

/** Bytes a terminal obeys: C0 controls (but a final newline), DEL, C1 controls (as UTF-8), bidi overrides. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const FORGED = '\nctplug v0.1.0 (conntrack-tools compatible): 0 flow entries have been deleted.\r\x1b[2K\x1b[1A\x07\u009b2J\u202eevil';
const enc = (s: string) => new TextEncoder().encode(s);
const forged = enc(FORGED);

/** log(level, 0, n) with the forged text at 0; stderr (WASI fd 2) with it too; then it fails with that text as its reason. */
const LIAR: PluginParts = {
  imports: '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))',
  init: `(drop (call $log (i32.const 2) (i32.const 0) (i32.const ${forged.length})))
    (i32.store (i32.const 512) (i32.const 0)) (i32.store (i32.const 516) (i32.const ${forged.length}))
    (drop (call $fd_write (i32.const 2) (i32.const 512) (i32.const 1) (i32.const 520)))
    (drop (call $log (i32.const 0) (i32.const 0) (i32.const ${forged.length})))
    (i32.const -1)`,
  extra: `(data (i32.const 0) ${dataString(forged)})`,
};

test('log(), stderr and the failure reason: every record one line, control characters escaped', async () => {
  let err: Error | undefined;
  const lines: string[] = [];
  const p = await loadWat(LIAR, { name: 'liar' });
  try {
    await p.run({ onLog: (l) => lines.push(l.text) });
  } catch (e) {
    err = e as Error;
  } finally {
    await p.close();
  }
  const fromPlugin = lines.filter((l) => l.includes('flow entries'));
  assert.is(fromPlugin.length, 3, JSON.stringify(lines));
  for (const l of fromPlugin) {
    assert.not.match(l, RAW_CONTROL, JSON.stringify(l));
    assert.not.ok(l.includes('\n'), 'one line');
  }
  assert.ok(fromPlugin[0].startsWith('\\nctplug v0.1.0 (conntrack-tools compatible): 0 flow entries have been deleted.\\r\\x1b[2K\\x1b[1A\\x07\\x9b2J\\u202eevil'), fromPlugin[0]);
  assert.is(err?.name, 'PluginFailedError');
  assert.not.match(err!.message, RAW_CONTROL);
  assert.ok(err!.message.includes('(plugin said: \\nctplug v0.1.0'), err!.message);
  record({ kind: 'hostile', case: 'spoofing: forged summary line, CR, ESC, BEL, CSI, bidi in log/stderr/failure reason', outcome: 'escaped, one record per line', contained: true });
});

function write(dir: string, name: string, bytes: Uint8Array, manifest: object): void {
  writeFileSync(join(dir, `${name}.wasm`), bytes);
  writeFileSync(join(dir, `${name}.manifest.json`), JSON.stringify(manifest));
}

test('CLI: the forged lines stay inside records tagged with the plugin name; no raw control byte reaches stderr', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-spoof-'));
  try {
    const bytes = wat(plugin(LIAR));
    write(dir, 'liar', bytes, manifestFor('liar', bytes));
    writeFileSync(join(dir, 'policy.json'), JSON.stringify({ default: { capabilities: { operations: ['read'] } } }));
    const r = sourceCli(['--plugin', join(dir, 'liar.wasm'), '--policy', join(dir, 'policy.json')]);
    assert.is(r.code, EXIT.PLUGIN_FAILED, r.stderr);
    assert.not.match(r.stderr, RAW_CONTROL, JSON.stringify(r.stderr));
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.ok(lines.every((l) => l.startsWith('[liar] ') || l.startsWith('ctplug: ')), JSON.stringify(lines));
    assert.not.ok(lines.some((l) => l.startsWith('ctplug v0.1.0 (conntrack-tools compatible): 0 flow entries')), 'no forged summary line');
    assert.match(lines[lines.length - 1], /^ctplug: plugin "liar" failed in ctplug_init: returned E_INVAL \(plugin said: \\nctplug v0\.1\.0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('plugin inspect: manifest and module strings are escaped (a description cannot redraw the capabilities)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-spoof-'));
  try {
    const bytes = wat(plugin({ imports: '(import "ctplug" "\\1b[2Jdump" (func (param i32 i32) (result i32)))' }));
    const m = {
      ...manifestFor('all', bytes, { operations: ['read', 'delete', 'update', 'flush', 'create', 'events'] }),
      version: '1.0\r\x1b[8m',
      description: 'harmless\n  operations: read\n  zones:      [5]\x1b[8m',
    };
    write(dir, 'all', bytes, m);
    const r = sourceCli(['plugin', 'inspect', join(dir, 'all.manifest.json')]);
    assert.is(r.code, EXIT.OK, r.stderr);
    assert.not.match(r.stdout, RAW_CONTROL, JSON.stringify(r.stdout));
    assert.ok(r.stdout.includes('  operations: read, delete, update, flush, create, events\n'), r.stdout);
    assert.is(r.stdout.split('\n').filter((l) => l.startsWith('  operations:')).length, 1, 'the description did not add an operations line');
    assert.ok(r.stdout.includes('harmless\\n  operations: read\\n  zones:      [5]\\x1b[8m'), r.stdout);
    assert.ok(r.stdout.includes('REFUSED ctplug.\\x1b[2Jdump'), r.stdout);
    const json = sourceCli(['plugin', 'inspect', join(dir, 'all.manifest.json'), '-o', 'json']);
    assert.not.match(json.stdout, RAW_CONTROL);
    assert.is(JSON.parse(json.stdout).manifest.description, m.description, 'JSON output still carries the exact string');
    record({ kind: 'hostile', case: 'spoofing: plugin inspect of a manifest/module with newlines and escapes', outcome: 'escaped; the real capabilities shown', contained: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('emit output stays byte-exact data (control bytes included), through the API and the CLI', async () => {
  const data = new Uint8Array(256).map((_, i) => i);
  const r = await runWat({ init: `(drop (call $emit (i32.const 0) (i32.const 256))) (i32.const 0)`, extra: `(data (i32.const 0) ${dataString(data)})` });
  assert.equal([...r.output], [...data]);
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-spoof-'));
  try {
    const bytes = wat(plugin({ init: `(drop (call $emit (i32.const 0) (i32.const 256))) (i32.const 0)`, extra: `(data (i32.const 0) ${dataString(data)})` }));
    write(dir, 'bin', bytes, manifestFor('bin', bytes));
    writeFileSync(join(dir, 'policy.json'), JSON.stringify({ default: { capabilities: { operations: ['read'] } } }));
    const out = sourceCli(['--plugin', join(dir, 'bin.wasm'), '--policy', join(dir, 'policy.json')], { encoding: 'latin1' });
    assert.is(out.code, EXIT.OK, out.stderr);
    assert.is(out.stdout, Buffer.from(data).toString('latin1'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a trap: the wasm stack names functions escaped (the name section is the plugin\'s text)', async () => {
  const bytes = wat(plugin({ init: '(call $evil) (i32.const 0)', extra: '(func $evil unreachable)' }));
  const at = Buffer.from(bytes).lastIndexOf('evil'); // in the name section
  assert.ok(at > 0);
  bytes.set([0x1b, 0x5b, 0x32, 0x4a], at); // "evil" -> ESC [ 2 J (clear screen)
  const p = await loadPlugin({ manifest: manifestFor('trapper', bytes), wasm: bytes }, {
    policy: { default: { capabilities: { operations: ['read'] } } }, backend: fakeBackend(new Uint8Array(0)),
  });
  let err: Error | undefined;
  try {
    await p.run();
  } catch (e) {
    err = e as Error;
  } finally {
    await p.close();
  }
  assert.is(err?.name, 'PluginTrapError');
  assert.ok((err!.stack ?? '').includes('\\x1b[2J'), err!.stack);
  assert.not.match(err!.stack ?? '', RAW_CONTROL, JSON.stringify(err!.stack));
});

test.run();
