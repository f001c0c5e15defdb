// A module imports only the hostcalls its plugin can reach (the SDK refers to none of them
// unconditionally), so what `ctplug plugin inspect` lists is what the plugin really calls: for every
// first-party plugin, each operation hostcall it imports is one its manifest asks for.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BUILTIN, builtinPaths } from '../../host/builtin.js';
import { abi } from '../../host/policy/abi.js';
import { built, pluginPath, root } from './harness.js';

const imports = (wasm: string) => WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasm))).filter((i) => i.module === 'ctplug').map((i) => i.name);

if (!BUILTIN.every((n) => built(pluginPath(n)))) {
  console.log('SKIP test/plugin/imports.test.ts: dist/plugins is not built (npm run build)');
  test.skip('imports', () => {});
} else {
  test('`ctplug plugin inspect dist/plugins/list.wasm` lists no delete, update, create, flush or subscribe', () => {
    const r = spawnSync(process.execPath, ['--import', join(root, 'scripts', 'ts-register.mjs'), join(root, 'host', 'cli', 'main.ts'), 'plugin', 'inspect', pluginPath('list')], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const listed = [...r.stdout.matchAll(/^\s+ok\s+ctplug\.(\w+)$/gm)].map((m) => m[1]).sort();
    assert.equal(listed, ['clock', 'config', 'dump', 'emit', 'log']);
  });

  for (const name of BUILTIN) {
    test(`${name}: every operation hostcall it imports is one its manifest asks for`, () => {
      const { manifestPath, wasmPath } = builtinPaths(name);
      const operations: string[] = JSON.parse(readFileSync(manifestPath, 'utf8')).capabilities.operations;
      const needed = imports(wasmPath).map((i) => abi.imports[i].needs).filter((n): n is string => n !== null);
      assert.equal(needed.filter((n) => !operations.includes(n)), [], `${name} imports ${imports(wasmPath).join(', ')}; asks ${operations.join(', ')}`);
    });
  }
}

test.run();
