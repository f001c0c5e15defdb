// Built modules against sdk/abi.json: imports (only "ctplug" without WASI), exports, name
// section, memory maximum, manifests (sha256), abort -> log + named trap, memory not growing
// across batches (no allocation per entry), the generated abi.ts being current.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PluginRun, pluginPath, testPluginPath, built, root } from './harness.js';
import { batch, TCP, IPS } from '../helpers/ctmsg.js';
import { readWasm } from '../../host/runtime/wasm-binary.js';
import filterTable from '../../sdk/filters.json' with { type: 'json' };
// @ts-expect-error: plain ESM script without typings
import { expandManifest } from '../../scripts/gen-filters.mjs';

const abi = JSON.parse(readFileSync(join(root, 'sdk', 'abi.json'), 'utf8'));
const FIRST_PARTY = readdirSync(join(root, 'plugins')).filter((n) => existsSync(join(root, 'plugins', n, `${n}.ts`))).sort();

if (!FIRST_PARTY.every((n) => built(pluginPath(n))) || !built(testPluginPath('probe'))) {
  console.log('SKIP abi tests: plugins not built (run node scripts/build.mjs plugins)');
  test.skip('plugins built', () => {});
} else {
  for (const name of FIRST_PARTY) {
    test(`${name}: imports only ctplug functions with the abi.json signatures`, () => {
      const bytes = readFileSync(pluginPath(name));
      const mod = new WebAssembly.Module(bytes);
      for (const imp of WebAssembly.Module.imports(mod)) {
        assert.is(imp.module, 'ctplug', `${imp.module}.${imp.name}`);
        assert.ok(abi.imports[imp.name], `unknown import ${imp.name}`);
        assert.is(imp.kind, 'function');
      }
      const info = readWasm(bytes) as any;
      for (const imp of info.imports) {
        const def = abi.imports[imp.name];
        assert.equal(imp.type.params, def.params, imp.name);
        assert.equal(imp.type.results, def.results, imp.name);
      }
    });

    test(`${name}: exports the ABI, keeps the name section, declares max memory`, () => {
      const bytes = readFileSync(pluginPath(name));
      const mod = new WebAssembly.Module(bytes);
      const exps = WebAssembly.Module.exports(mod).map((e) => e.name);
      for (const k of [...Object.keys(abi.exports.required), abi.marker, 'ctplug_finish', '_start']) assert.ok(exps.includes(k), k);
      assert.ok(WebAssembly.Module.customSections(mod, 'name').length === 1, 'name section');
      const info = readWasm(bytes) as any;
      const mem = info.memories?.[0] ?? info.memory;
      assert.ok(mem, 'memory section');
      assert.is(mem.maximum ?? mem.max, 256);
    });

    test(`${name}: manifest = source manifest (+ the filter keys of sdk/filters.json when it takes them) + module + sha256`, () => {
      const src = JSON.parse(readFileSync(join(root, 'plugins', name, 'manifest.json'), 'utf8'));
      const out = JSON.parse(readFileSync(join(root, 'dist', 'plugins', `${name}.manifest.json`), 'utf8'));
      assert.is(out.module, `${name}.wasm`);
      assert.is(out.sha256, createHash('sha256').update(readFileSync(pluginPath(name))).digest('hex'));
      const { module, sha256, ...rest } = out;
      assert.equal(rest, expandManifest(src));
      if (src.config.filterKeys !== undefined) {
        for (const key of Object.keys(filterTable.keys)) assert.ok(typeof out.config.properties[key]?.doc === 'string', `${name}: ${key} is documented`);
      }
      assert.is(src.name, name);
      assert.is(src.abi, abi.version);
      assert.ok(Array.isArray(src.capabilities.operations) && (src.capabilities.operations.includes('read') || src.capabilities.operations.includes('events'))); // flowlog: events only
      assert.ok(src.capabilities.scope && src.limits.timeout_ms > 0 && src.limits.memory_max_pages === 256);
      assert.is(src.config.type, 'object');
    });
  }

  test('hello (WASI build) imports only allowed WASI functions besides ctplug', () => {
    const p = testPluginPath('hello');
    if (!existsSync(p)) return;
    const imps = WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(p)));
    for (const i of imps) {
      if (i.module === abi.wasiModule) assert.ok(abi.wasiAllowed.includes(i.name), i.name);
      else assert.is(i.module, 'ctplug');
    }
    assert.ok(imps.some((i) => i.module === abi.wasiModule && i.name === 'fd_write'));
  });

  test('abort logs through ctplug.log, then traps with named frames', () => {
    const r = new PluginRun(testPluginPath('probe'), {}).start();
    let err: Error | undefined;
    try { r.exports.probe_abort(); } catch (e) { err = e as Error; }
    assert.ok(err instanceof WebAssembly.RuntimeError, String(err));
    assert.ok(/unreachable/.test(err!.message));
    assert.ok(/ctplug_abort|probe_abort/.test(err!.stack ?? ''), err!.stack);
    assert.ok(r.logs.some((l) => l.level === 0 && /^abort: probe abort requested( at .*)?$/.test(l.msg)), JSON.stringify(r.logs));
  });

  test('an out-of-range array index aborts with the std message, logged', () => {
    const r = new PluginRun(testPluginPath('probe'), {}).start();
    assert.throws(() => r.exports.probe_oob(5));
    assert.ok(r.logs.some((l) => l.msg.startsWith('abort: Index out of range')), JSON.stringify(r.logs));
  });

  test('config larger than the first buffer is fetched with a second call', () => {
    const r = new PluginRun(pluginPath('match'), { action: 'list', src: Array.from({ length: 600 }, (_, i) => `10.${i >> 8}.${i & 255}.1`) }).start();
    assert.ok(r.config.length > 4096);
    assert.is(r.init(), 0, JSON.stringify(r.logs));
  });

  test('memory does not grow across batches (no allocation per entry)', () => {
    const specs = Array.from({ length: 300 }, (_, i) => ({
      proto: 'tcp' as const, src: `10.0.${i >> 8}.${i & 255}`, dst: '192.0.2.1', sport: 1000 + i, dport: 443, timeout: 100,
      tcpState: TCP.ESTABLISHED, status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED, zone: i % 3,
    }));
    const b = batch(specs);
    for (const [name, cfg] of [['list', { output: 'json' }], ['list', {}], ['match', { action: 'delete', zone: [0, 1] }], ['stale', { timeout_lt: 1000 }]] as const) {
      const r = new PluginRun(pluginPath(name), cfg).start();
      assert.is(r.init(), 0);
      for (let i = 0; i < 3; i++) r.feed(b);
      const size = r.memory.buffer.byteLength;
      for (let i = 0; i < 200; i++) r.feed(b);
      r.finish();
      assert.is(r.memory.buffer.byteLength, size, `${name} grew memory`);
      assert.is(r.deleteCalls.length <= 203, true);
    }
  });

  test('a plugin that allocates per entry stays within bounded memory (garbage collected between batches)', () => {
    const specs = Array.from({ length: 250 }, (_, i) => ({ proto: 'udp' as const, src: `2001:db8::${i.toString(16)}`, dst: '2001:db8::1', sport: i, dport: 53, timeout: 5 }));
    const b = batch(specs);
    const r = new PluginRun(testPluginPath('allocating'), {}).start();
    assert.is(r.init(), 0);
    for (let i = 0; i < 5; i++) r.feed(b);
    const early = r.memory.buffer.byteLength;
    for (let i = 0; i < 2000; i++) r.feed(b); // ~500k entries, ~100 MB of garbage in total
    r.finish();
    assert.ok(r.memory.buffer.byteLength <= early + (2 << 20), `${early} -> ${r.memory.buffer.byteLength}`);
    assert.ok(Number(r.lines[0]) > 0);
  });

  test('sdk/assembly/abi.ts is what gen-abi.mjs generates from abi.json', () => {
    const r = spawnSync(process.execPath, ['scripts/gen-abi.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const ts = readFileSync(join(root, 'sdk', 'assembly', 'abi.ts'), 'utf8');
    for (const name of Object.keys(abi.imports)) assert.ok(ts.includes(`@external("ctplug", "${name}")`), name);
    assert.ok(ts.includes(`export const DUMP_REQUEST_SIZE: i32 = ${abi.records.DumpRequest.size};`));
    assert.ok(ts.includes(`export const DUMP_REQUEST_ZONE: i32 = ${abi.records.DumpRequest.fields.zone.offset};`));
  });

  test('no plugin source reaches past the public SDK', () => {
    for (const name of FIRST_PARTY) {
      const src = readFileSync(join(root, 'plugins', name, `${name}.ts`), 'utf8');
      const imports = [...src.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
      assert.equal([...new Set(imports)].sort(), ['../../sdk/assembly', '../../sdk/assembly/exports'], name);
    }
  });
}

test.run();
