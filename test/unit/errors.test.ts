// One error shape: every error class the library exports has a stable string `code` and maps to one
// exit code through exitCodeOf; messages are one line. And the layering that keeps it so: the library
// (host/index.ts) imports nothing from host/cli, and the policy layer nothing from host/runtime.
import { build } from 'esbuild';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ctplug from '../../host/index.js';

const { EXIT, exitCodeOf } = ctplug;

test('every exported error class: a string code, its exit code, one line', () => {
  const cases: [Error & { code: unknown }, number][] = [
    [new ctplug.CtError('zone', 'EINVAL', 'usage', '"70000" is not a zone'), EXIT.USAGE],
    [new ctplug.CtError('dump', 'EPERM', 'privilege', 'EPERM', { hint: 'needs CAP_NET_ADMIN' }), EXIT.PRIVILEGE],
    [new ctplug.CtError('open', 'ENOENT', 'environment', 'no such netns'), EXIT.ENVIRONMENT],
    [new ctplug.CtError('create', 'EEXIST', 'kernel', 'EEXIST'), EXIT.KERNEL],
    [new ctplug.CtError('get', 'ENOENT', 'notfound', 'no such entry'), EXIT.NOTHING_MATCHED],
    [new ctplug.NetlinkError('ENOADDON', 0, 'the native addon is not built'), EXIT.ENVIRONMENT],
    [new ctplug.ManifestError('p', 'plugin "p" manifest: "abi" must be 1'), EXIT.PLUGIN_REFUSED],
    [new ctplug.PolicyError('policy.json: unknown key "x"'), EXIT.PLUGIN_REFUSED],
    [new ctplug.GrantError('p', 'plugin "p" asks for more than the policy allows: zones: asks [1], allows [2]'), EXIT.PLUGIN_REFUSED],
    [new ctplug.ModuleCheckError('p', 'plugin "p": import env.x is not allowed'), EXIT.PLUGIN_REFUSED],
    [new ctplug.PluginTimeoutError('p', 1000, 'ctplug_on_entries'), EXIT.PLUGIN_FAILED],
    [new ctplug.PluginTrapError('p', 'unreachable', 'ctplug_init', undefined, 'abort: bad\nconfig at assembly/p.ts:6:15'), EXIT.PLUGIN_FAILED],
    [new ctplug.PluginFailedError('p', 'ctplug_init', -1, 'returned E_INVAL\n(plugin said: no)'), EXIT.PLUGIN_FAILED],
    [new ctplug.PluginHostError('p', 'worker exited unexpectedly (code 1)'), EXIT.PLUGIN_FAILED],
    [new ctplug.PluginError('p', 'plugin "p" is already running', 'PLUGIN_BUSY'), EXIT.USAGE],
    [new ctplug.AbortError('dump', 'enough'), EXIT.ABORTED],
  ];
  for (const [e, exit] of cases) {
    assert.type(e.code, 'string', e.name);
    assert.ok(/^[A-Z][A-Z0-9_]+$/.test(e.code as string), `${e.name}: code ${e.code}`);
    assert.is(exitCodeOf(e), exit, `${e.name} ${e.code}`);
    assert.not.match(e.message, /\n/, `${e.name}: ${e.message}`);
  }
  assert.is(exitCodeOf(new Error('a bug')), EXIT.KERNEL);
  assert.is(exitCodeOf(Object.assign(new Error('x'), { code: 'toString' })), EXIT.KERNEL, 'only ctplug codes');
  assert.is(new ctplug.PluginFailedError('p', 'ctplug_init', -1, 'x').status, -1, 'the numeric status has its own field');
});

test('a GrantError lists every problem on one line', () => {
  const manifest = ctplug.parseManifest({
    name: 'p', version: '1', abi: 1, module: 'p.wasm', sha256: '0'.repeat(64),
    capabilities: { operations: ['read', 'delete', 'flush'], scope: { zones: [5, 9] } },
  });
  const policy = ctplug.parsePolicy({ default: { capabilities: { operations: ['read'], scope: { zones: [5] } } } });
  assert.throws(() => ctplug.computeGrant(manifest, policy), (e: Error) =>
    e instanceof ctplug.GrantError && e.code === 'GRANT_REFUSED' &&
    e.message === 'plugin "p" asks for more than the policy default allows: operations: asks [read, delete, flush], allows [read]; zones: asks [5, 9], allows [5]');
});

/** The files an entry point pulls in, as esbuild resolves them. */
async function inputsOf(entry: string): Promise<string[]> {
  const r = await build({ entryPoints: [entry], bundle: true, write: false, metafile: true, platform: 'node', format: 'esm', external: ['*.node', '@wasmer/wasi'], logLevel: 'silent' });
  return Object.keys(r.metafile.inputs);
}

test('layers: the library imports nothing from host/cli; policy nothing from runtime', async () => {
  assert.equal((await inputsOf('host/index.ts')).filter((f) => f.startsWith('host/cli/')), []);
  for (const f of ['grant', 'manifest', 'policy', 'errors']) {
    assert.equal((await inputsOf(`host/policy/${f}.ts`)).filter((x) => x.startsWith('host/runtime/')), [], `host/policy/${f}.ts`);
  }
});

test.run();
