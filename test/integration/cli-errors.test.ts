// Every bad input an operator can give the CLI ends in ONE line on stderr,
// `ctplug: <what was wrong>; <what to do>`, and the exit code documented in host/exit-codes.ts.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { EXIT } from '../../host/exit-codes.js';
import { bundledCli, type Run } from '../helpers/cli.js';
import { conntrackIn, kernelSuite, makeNetns, removeNetns } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('ctplug CLI errors and exit codes (kernel)', 'test/integration/cli-errors.test.ts');
let ns = '';
const cli = bundledCli('cli-errors-test');
const run = (prefix: string[], args: string[]): Run => cli.run(args, { prefix });
const ctplug = (...args: string[]) => cli.run(args);

/** Exactly one line, in the documented shape. */
function oneLineError(r: Run, code: number, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.is(r.code, code, `exit ${r.code}, expected ${code}; stderr: ${r.stderr}`);
  assert.is(lines.length, 1, `expected one line, got: ${r.stderr}`);
  assert.match(lines[0], /^ctplug: .+; .+/);
  assert.match(lines[0], pattern);
}

/** The tool that runs a command without CAP_NET_ADMIN here (setpriv, else capsh). */
function dropNetAdmin(): string[] {
  if (spawnSync('setpriv', ['--inh-caps=-all', '--bounding-set=-net_admin', 'true']).status === 0) {
    return ['setpriv', '--inh-caps=-all', '--bounding-set=-net_admin'];
  }
  if (spawnSync('capsh', ['--drop=cap_net_admin', '--', '-c', 'true']).status === 0) return ['capsh', '--drop=cap_net_admin', '--'];
  throw new Error('neither setpriv (util-linux) nor capsh (libcap2-bin) can drop CAP_NET_ADMIN here');
}

if (!skip) {
  t.before(async () => {
    await cli.build();
    ns = makeNetns();
    conntrackIn(ns, ['-I', '-p', 'udp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--sport', '1000', '--dport', '53', '-t', '60', '-w', '5']);
  });
  t.after(() => {
    removeNetns(ns);
    cli.remove();
  });
  process.on('exit', () => {
    if (ns) removeNetns(ns);
    cli.remove();
  });
}

it('bad zone (65536): one line, exit 2, nothing sent', () => {
  for (const cmd of [['list'], ['delete'], ['flush'], ['count']]) {
    oneLineError(ctplug(...cmd, '--netns', ns, '-w', '65536'), EXIT.USAGE, /65536.*0 to 65535/);
  }
  oneLineError(ctplug('create', '--netns', ns, '-p', 'udp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--sport', '1', '--dport', '2', '-t', '5', '-w', '70000'), EXIT.USAGE, /70000/);
  assert.is(conntrackIn(ns, ['-C']).trim(), '1');
});

it('bad address, bad port, bad CIDR, bad mark, bad state: one line, exit 2', () => {
  oneLineError(ctplug('list', '--netns', ns, '-s', '10.0.0.300'), EXIT.USAGE, /10\.0\.0\.300/);
  oneLineError(ctplug('delete', '--netns', ns, '-d', 'not-an-ip'), EXIT.USAGE, /not-an-ip/);
  oneLineError(ctplug('list', '--netns', ns, '-s', '10.0.0.1/33'), EXIT.USAGE, /prefix/);
  oneLineError(ctplug('list', '--netns', ns, '-p', 'udp', '--dport', '70000'), EXIT.USAGE, /70000/);
  oneLineError(ctplug('list', '--netns', ns, '-m', '1/2/3'), EXIT.USAGE, /mark/);
  oneLineError(ctplug('list', '--netns', ns, '--state', 'BOGUS'), EXIT.USAGE, /BOGUS/);
  oneLineError(ctplug('create', '--netns', ns, '-p', 'udp', '-s', '10.0.0.1', '-d', '2001:db8::1', '--sport', '1', '--dport', '2', '-t', '5'), EXIT.USAGE, /ipv/);
});

it('unknown flag, missing value, flag of another command, unknown command: one line, exit 2', () => {
  oneLineError(ctplug('list', '--bogus'), EXIT.USAGE, /unknown option --bogus/);
  oneLineError(ctplug('list', '-w'), EXIT.USAGE, /-w needs a value/);
  oneLineError(ctplug('list', '-w', '-p', 'tcp'), EXIT.USAGE, /-w needs a value/);
  oneLineError(ctplug('stats', '-w', '5'), EXIT.USAGE, /not an option of `ctplug stats`/);
  oneLineError(ctplug('frobnicate'), EXIT.USAGE, /unknown command/);
  oneLineError(ctplug('create', '-p', 'tcp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--sport', '1', '--dport', '2'), EXIT.USAGE, /timeout/);
});

it('missing netns: one line, exit 4', () => {
  for (const cmd of [['list'], ['delete', '-w', '5'], ['count'], ['stats'], ['flush']]) {
    oneLineError(ctplug(...cmd, '--netns', 'ctplug-test-does-not-exist'), EXIT.ENVIRONMENT, /does not exist.*; .*ip netns/);
  }
});

it('no CAP_NET_ADMIN: one line, exit 3', () => {
  const drop = dropNetAdmin();
  for (const cmd of [['list'], ['delete', '-w', '5', '-p', 'udp'], ['delete', '-w', '5'], ['count'], ['flush', '-w', '5']]) {
    oneLineError(run(drop, [...cmd, '--netns', ns]), EXIT.PRIVILEGE, /permission denied.*CAP_NET_ADMIN/);
  }
  assert.is(conntrackIn(ns, ['-C']).trim(), '1');
});

it('nothing matched: delete and get exit 1; an empty list exits 0', () => {
  const d = ctplug('delete', '--netns', ns, '-w', '7');
  assert.is(d.code, EXIT.NOTHING_MATCHED, d.stderr);
  assert.match(d.stderr, /0 flow entries have been deleted\./);
  const g = ctplug('get', '--netns', ns, '-p', 'udp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--sport', '1000', '--dport', '54', '-w', '5');
  assert.is(g.code, EXIT.NOTHING_MATCHED, g.stderr);
  const l = ctplug('list', '--netns', ns, '-w', '7');
  assert.is(l.code, EXIT.OK, l.stderr);
  assert.match(l.stderr, /0 flow entries have been shown\./);
});

it('plugin problems: missing policy is usage (2); bad module is refused at load (6)', () => {
  oneLineError(ctplug('--plugin', 'test/does-not-exist.wasm'), EXIT.USAGE, /no such file/);
  if (existsSync('dist/plugins/stale.wasm')) {
    // A third-party plugin without --policy is refused before anything runs.
    oneLineError(ctplug('--plugin', 'dist/plugins/stale.manifest.json', '--netns', ns), EXIT.USAGE, /policy/);
  }
  // A module whose bytes are not the ones its manifest pins is refused at load: exit 6.
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-cli-'));
  try {
    copyFileSync('dist/plugins/list.wasm', join(dir, 'list.wasm'));
    const manifest = JSON.parse(readFileSync('dist/plugins/list.manifest.json', 'utf8'));
    writeFileSync(join(dir, 'list.manifest.json'), JSON.stringify({ ...manifest, sha256: '0'.repeat(64) }));
    writeFileSync(join(dir, 'policy.json'), JSON.stringify({ default: { capabilities: { operations: ['read'] } } }));
    oneLineError(ctplug('--plugin', join(dir, 'list.wasm'), '--policy', join(dir, 'policy.json'), '--netns', ns), EXIT.PLUGIN_REFUSED, /sha256/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a plugin that aborts: its error line carries the abort message and source position, exit 7', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-cli-'));
  try {
    writeFileSync(join(dir, 'policy.json'), JSON.stringify({ default: { capabilities: { operations: ['read', 'delete'] } } }));
    const r = ctplug('--plugin', 'dist/test-plugins/probe.wasm', '--config', '{"mode":"abort"}', '--policy', join(dir, 'policy.json'), '--netns', ns);
    assert.is(r.code, EXIT.PLUGIN_FAILED, r.stderr);
    const last = r.stderr.trim().split('\n').pop()!;
    assert.match(last, /^ctplug: plugin "probe" trapped in ctplug_init: abort: config asked for it at test\/plugin\/fixtures-src\/probe\.ts:\d+:\d+ \(unreachable\); /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
