// The privileged process's code (issue 14): dist/daemon.js and the chunks it loads hold the
// netlink, conntrack, policy, capability gate, wire and daemon layers and nothing else: no plugin
// runtime, no Wasm, no CLI, no daemon client, no fleet (NATS, metrics). Read from the bundler's metafile; the size of that
// code (source lines) is printed next to what runs privileged in direct mode (CLI + worker).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
// @ts-expect-error: plain ESM script without typings
import { bundle } from '../../scripts/bundle.mjs';

interface Meta { outputs: Record<string, { imports: { path: string; kind: string }[]; inputs: Record<string, unknown> }> }

/** Source files bundled into what `entry` loads (static and dynamic imports). */
function inputsOf(meta: Meta, entry: string): string[] {
  const outs = meta.outputs;
  const key = (name: string) => Object.keys(outs).find((k) => k.endsWith(`/${name}`))!;
  const seen = new Set<string>();
  const walk = (o: string) => {
    if (seen.has(o) || !outs[o]) return;
    seen.add(o);
    for (const i of outs[o].imports) walk(i.path);
  };
  walk(key(entry));
  return [...new Set([...seen].flatMap((o) => Object.keys(outs[o].inputs)))].sort();
}

const lines = (files: string[]) => files.filter((f) => f.endsWith('.ts')).reduce((n, f) => n + readFileSync(f, 'utf8').split('\n').length - 1, 0);

test('dist/daemon.js: netlink, conntrack, policy, scoped, wire, daemon only; its size is printed', async () => {
  const dir = mkdtempSync(join('dist', '.daemon-bundle-'));
  try {
    await bundle({ outdir: dir, types: false, quiet: true });
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Meta;
    const daemon = inputsOf(meta, 'daemon.js');
    const layers = new Set(daemon.map((f) => f.split('/').slice(0, 2).join('/')));
    const allowed = ['host/netlink', 'host/conntrack', 'host/policy', 'host/scoped', 'host/wire', 'host/daemon', 'host/exit-codes.ts', 'host/paths.ts', 'sdk/abi.json'];
    assert.equal([...layers].filter((l) => !allowed.includes(l)), [], `the daemon bundle holds ${daemon.join(', ')}`);
    assert.ok(!daemon.some((f) => /host\/(runtime|cli|client)\/|wasm|worker|sdk\/assembly/.test(f)));
    // `ctplug daemon --nats` runs the fleet agent as a child process: neither NATS, prom-client nor
    // the agent's code is in the daemon, only the few lines that spawn and watch it.
    assert.ok(daemon.includes('host/daemon/fleet-agent.ts'));
    assert.equal(daemon.filter((f) => /node_modules|host\/(fleet|metrics)\/|nats|prom-client/.test(f)), []);
    const direct = [...new Set([...inputsOf(meta, 'cli.cjs'), ...inputsOf(meta, 'worker.js')])];
    assert.ok(direct.includes('host/cli/main.ts'), 'the CLI bundle is in the metafile');
    console.log(`privileged code: daemon ${daemon.length} files, ${lines(daemon)} lines; direct mode (cli + worker) ${direct.length} files, ${lines(direct)} lines`);
    assert.ok(lines(daemon) < lines(direct));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
