// Issue 12, finding 7: FIFOs named as plugin files or namespaces hung the loader; an error about
// a file that is not a Wasm module printed its sha256; WASI imports were not signature-checked;
// random_get was not bounded by the plugin's memory; a config nested 2e5 deep or a create --from
// record with "proto":{"toString":1} was an internal error; a create record that failed
// validation when sent failed the whole run after the plugin was told it was queued. No root.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT } from '../../host/exit-codes.js';
import { field } from '../../host/policy/abi.js';
import { ModuleCheckError } from '../../host/runtime/errors.js';
import { sha256 } from '../../host/runtime/module-check.js';
import { loadPlugin } from '../../host/runtime/plugin.js';
import type { PolicyDocument } from '../../host/policy/policy.js';
import { sourceCli } from '../helpers/cli.js';
import { loadWat, runWat } from '../helpers/wasm-run.js';
import { dataString, manifestFor, plugin, wat } from '../helpers/wasm.js';
import { record } from '../helpers/workers.js';

const POLICY: PolicyDocument = { default: { capabilities: { operations: ['read', 'create'] } } };
function scratch(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-smaller-'));
  writeFileSync(join(dir, 'policy.json'), JSON.stringify(POLICY));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a FIFO as the module, the manifest or --netns: a quick error, no hang', () => {
  const { dir, done } = scratch();
  try {
    const bytes = wat(plugin());
    execFileSync('mkfifo', [join(dir, 'p.wasm'), join(dir, 'q.manifest.json'), join(dir, 'ns')]);
    writeFileSync(join(dir, 'p.manifest.json'), JSON.stringify(manifestFor('p', bytes)));
    const policy = join(dir, 'policy.json');
    const cases: [string[], number, RegExp][] = [
      [['--plugin', join(dir, 'p.manifest.json'), '--policy', policy], EXIT.PLUGIN_REFUSED, /cannot read module .*p\.wasm: .*p\.wasm is a FIFO, not a regular file/],
      [['--plugin', join(dir, 'q.manifest.json'), '--policy', policy], EXIT.PLUGIN_REFUSED, /q\.manifest\.json is a FIFO, not a regular file/],
      [['plugin', 'inspect', join(dir, 'p.wasm')], EXIT.USAGE, /p\.wasm is a FIFO, not a regular file/],
      [['list', '--netns', join(dir, 'ns')], EXIT.USAGE, /is not a network namespace \(not an nsfs file\)/],
    ];
    for (const [args, code, message] of cases) {
      const r = sourceCli(args, { timeoutMs: 20_000 });
      assert.is(r.code, code, `${args.join(' ')}: exit ${r.code} after ${r.ms} ms (-1: killed, it hung) ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    record({ kind: 'hostile', case: 'FIFO as module, manifest, inspected file and --netns', outcome: 'one-line errors, no hang', contained: true });
  } finally {
    done();
  }
});

test('an error about a file that is not a Wasm module does not disclose its sha256', async () => {
  const { dir, done } = scratch();
  try {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n');
    symlinkSync(secret, join(dir, 's.wasm'));
    const m = manifestFor('s', wat(plugin())); // pins some other module
    writeFileSync(join(dir, 's.manifest.json'), JSON.stringify({ ...m, module: 's.wasm' }));
    const digest = sha256(Buffer.from('root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n'));
    let err: Error | undefined;
    try {
      await loadPlugin(join(dir, 's.manifest.json'), { policy: POLICY });
    } catch (e) {
      err = e as Error;
    }
    assert.instance(err, ModuleCheckError);
    assert.not.ok(err!.message.includes(digest), err!.message);
    assert.match(err!.message, /not a valid wasm module/);
    const r = sourceCli(['--plugin', join(dir, 's.manifest.json'), '--policy', join(dir, 'policy.json')]);
    assert.is(r.code, EXIT.PLUGIN_REFUSED);
    assert.not.ok(r.stderr.includes(digest), r.stderr);
    record({ kind: 'hostile', case: 'manifest pointing at a non-wasm file (a symlink to a secret)', outcome: 'refused as not a wasm module; no digest printed', contained: true });
  } finally {
    done();
  }
});

test('WASI imports are signature-checked at load, like ctplug imports', async () => {
  let err: Error | undefined;
  try {
    await loadWat({ imports: '(import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))' });
  } catch (e) {
    err = e as Error;
  }
  assert.instance(err, ModuleCheckError);
  assert.is(err!.message, 'plugin "t": import wasi_snapshot_preview1.fd_write has signature (i32) -> i32; wasi_snapshot_preview1 defines (i32, i32, i32, i32) -> i32');
});

test('random_get is bounded by the plugin\'s memory: EFAULT past its end, filled within it', async () => {
  const r = await runWat({
    imports: '(import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))',
    init: `(call $report (call $random_get (i32.const ${65536 - 10}) (i32.const 100)))
      (call $report (call $random_get (i32.const 0) (i32.const 1073741824)))
      (call $report (call $random_get (i32.const -8) (i32.const 16)))
      (call $report (call $random_get (i32.const 0) (i32.const 1000)))
      (call $report (i32.or (i32.load (i32.const 0)) (i32.load (i32.const 996)))) (i32.const 0)`,
    memory: '1 1',
  });
  assert.equal(r.codes.slice(0, 4), [21, 21, 21, 0]);
  assert.is.not(r.codes[4], 0, 'the bytes were filled');
});

test('a config nested 2e5 deep is a usage error (exit 2) with a clear message; through the API a ConfigError', async () => {
  const { dir, done } = scratch();
  try {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    writeFileSync(join(dir, 'deep.json'), deep);
    const bytes = wat(plugin());
    writeFileSync(join(dir, 'p.wasm'), bytes);
    writeFileSync(join(dir, 'p.manifest.json'), JSON.stringify(manifestFor('p', bytes)));
    const r = sourceCli(['--plugin', join(dir, 'p.wasm'), '--policy', join(dir, 'policy.json'), '--config', `@${join(dir, 'deep.json')}`]);
    assert.is(r.code, EXIT.USAGE, r.stderr);
    assert.match(r.stderr, /^ctplug: .*deep\.json: the config is nested more than 64 levels deep; see `ctplug run --help`/);
    let err: Error | undefined;
    try {
      await loadWat({}, { config: JSON.parse(deep) });
    } catch (e) {
      err = e as Error;
    }
    assert.is(err?.name, 'ConfigError', String(err));
    assert.is(err!.message, 'plugin "t": config is nested more than 64 levels deep');
  } finally {
    done();
  }
});

test('create --from: "proto":{"toString":1} is that line\'s usage error with a clear message (exit 2)', () => {
  const { dir, done } = scratch();
  try {
    const lines = [
      '{"proto":{"toString":1},"orig":{"src":"10.0.0.1","dst":"10.0.0.2","sport":1,"dport":2},"timeout":30}',
      '{"proto":"udp","orig":{"src":{"toString":1},"dst":"10.0.0.2","sport":1,"dport":2},"timeout":30}',
      '{"proto":"udp","orig":{"src":"10.0.0.1","dst":"10.0.0.2","sport":1,"dport":2},"timeout":30}',
    ];
    writeFileSync(join(dir, 'restore.ndjson'), lines.join('\n') + '\n');
    const r = sourceCli(['create', '--from', join(dir, 'restore.ndjson'), '--dry-run']);
    assert.is(r.code, EXIT.USAGE, r.stderr);
    assert.match(r.stderr, /^ctplug: line 1: "proto" must be a string or a number, not an object$/m);
    assert.match(r.stderr, /^ctplug: line 2: "orig"\."src" must be a string or a number$/m);
    assert.not.match(r.stderr, /internal error/);
    assert.match(r.stderr, /1 entries valid, 2 invalid/);
  } finally {
    done();
  }
});

function createRecord(icmpType: number, a: number): Uint8Array {
  const b = new Uint8Array(64), v = new DataView(b.buffer);
  v.setUint8(field('CreateRecord', 'family'), 2);
  v.setUint8(field('CreateRecord', 'protocol'), 1); // icmp
  v.setUint8(field('CreateRecord', 'icmpType'), icmpType);
  v.setUint32(field('CreateRecord', 'timeout'), 30, true);
  b.set([10, 0, 0, a], field('CreateRecord', 'src'));
  b.set([10, 0, 0, 99], field('CreateRecord', 'dst'));
  return b;
}

test('a create record that cannot become a kernel request is refused when queued; the rest of the run goes on', async () => {
  // ICMP type 3 is not a query the kernel tracks: toNewEntry refuses it. It used to pass the
  // hostcall (1 queued) and then throw when sent, failing the whole run.
  const bad = createRecord(3, 1), good = createRecord(8, 2);
  const r = await runWat({
    init: `(call $report (call $create (i32.const 0) (i32.const 64))) (call $report (call $create (i32.const 64) (i32.const 64))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(bad)}) (data (i32.const 64) ${dataString(good)})`,
  }, { capabilities: { operations: ['create'] } });
  assert.equal(r.codes, [-1, 1]);
  assert.is(r.stats.created, 1);
  assert.match(r.logs.map((l) => l.text).join('\n'), /create refused \(E_INVAL\): .*icmp type 3 is not a query/);
});

test.run();
