// The shipped systemd units (systemd/ctplug.{socket,service}) as systemd would run them: the
// socket made by "systemd" (here: this test, with the socket unit's path mode), handed over as
// fd 3 with LISTEN_FDS/LISTEN_PID, the daemon exec'd under the service's user with exactly its
// AmbientCapabilities and CapabilityBoundingSet and NoNewPrivileges (setpriv). A client then works
// through it, and the daemon holds what the unit says and nothing more.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { bundledCli } from '../helpers/cli.js';
import { CLIENT_UID, DAEMON_UID, procCaps, unprivileged } from '../helpers/daemon.js';
import { conntrackIn, kernelSuite, listingLines, makeNetns, removeNetns, seedNetns } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('daemon: the systemd units (kernel)', 'test/integration/daemon-systemd.test.ts');
const cli = bundledCli('daemon-systemd');
let ns = '';

/** `Key=value` lines of a unit's [section]. */
function unit(file: string, section: string): Record<string, string> {
  const out: Record<string, string> = {};
  let cur = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const s = /^\[(\w+)\]$/.exec(line.trim());
    if (s) cur = s[1];
    else if (cur === section && /^\w+=/.test(line)) out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
  }
  return out;
}

const service = () => unit('systemd/ctplug.service', 'Service');
const capList = (v: string) => v.split(/\s+/).filter(Boolean).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');

/** Runs the daemon as the service unit says, on a socket-activated fd; resolves with its pid and stop(). */
async function asService(policy: object): Promise<{ pid: number; socket: string; log: () => string; exited: Promise<number | null>; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-systemd-'));
  chmodSync(dir, 0o755);
  const socket = join(dir, 'ctplug.sock');
  writeFileSync(join(dir, 'policy.json'), JSON.stringify(policy));
  chmodSync(join(dir, 'policy.json'), 0o644);
  const server: Server = createServer();
  // Bound under another name and renamed: closing this process's copy unlinks the name it was bound to.
  await new Promise<void>((res) => server.listen(`${socket}.tmp`, () => res()));
  renameSync(`${socket}.tmp`, socket);
  chmodSync(socket, Number.parseInt(unit('systemd/ctplug.socket', 'Socket').SocketMode, 8));
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const s = service();
  assert.is(s.NoNewPrivileges, 'yes');
  const exec = s.ExecStart.replace('/usr/bin/env ctplug daemon', '').replace('/etc/ctplug/policy.json', join(dir, 'policy.json')).trim().split(/\s+/);
  const setpriv = [`--reuid=${DAEMON_UID}`, `--regid=${DAEMON_UID}`, '--clear-groups', `--inh-caps=-all,${capList(s.AmbientCapabilities)}`,
    `--ambient-caps=-all,${capList(s.AmbientCapabilities)}`, `--bounding-set=-all,${capList(s.CapabilityBoundingSet)}`, '--no-new-privs'];
  // LISTEN_PID is the daemon's own pid: the shell's, which exec keeps.
  const child = spawn('sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec setpriv "$@"', 'sh', ...setpriv, '--', process.execPath, cli.entry.replace(/cli\.cjs$/, 'daemon.js'), ...exec], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
  });
  server.close();
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (x: string) => (err += x));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', () => child.kill('SIGKILL'));
  return { pid: child.pid!, socket, log: () => err, exited, stop };
}

async function serving(d: { log: () => string; exited: Promise<number | null> }): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (/serving descriptor 3/.test(d.log())) return true;
    if (await Promise.race([d.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))])) return false;
  }
  return false;
}

if (!skip) {
  t.before(async () => {
    ns = makeNetns();
    seedNetns(ns, [1, 2].map((zone): CreateSpec => ({ protocol: 'udp', src: `10.${zone}.0.1`, dst: '198.51.100.53', sport: 5000, dport: 53, timeout: 600, zone })));
    await cli.build();
  });
  t.after(() => {
    cli.remove();
    removeNetns(ns);
  });
}

it('the service unit: a dedicated user, the same capabilities ambient and bounding, socket activation', () => {
  const s = service();
  assert.is(s.User, 'ctplug');
  assert.is(s.AmbientCapabilities, 'CAP_NET_ADMIN CAP_SYS_ADMIN');
  assert.is(s.CapabilityBoundingSet, s.AmbientCapabilities);
  assert.match(s.ExecStart, /ctplug daemon --policy /);
  assert.is(unit('systemd/ctplug.socket', 'Socket').ListenStream, '/run/ctplug/ctplug.sock');
  assert.ok(!/\bsocket\b/.test(s.ExecStart), 'the socket comes from the socket unit');
});

it('run as the units say: an unprivileged client lists through it; the daemon holds NET_ADMIN + SYS_ADMIN only', async () => {
  const d = await asService({ clients: { [`uid:${CLIENT_UID}`]: { capabilities: { operations: ['read'], scope: { zones: [1] } }, netns: [ns] } } });
  try {
    assert.ok(await serving(d), d.log());
    const caps = procCaps(d.pid);
    const want = (1n << 12n) | (1n << 21n);
    assert.equal([caps.CapEff, caps.CapPrm, caps.CapBnd, caps.CapAmb], [want, want, want, want]);
    const r = cli.run(['list', '--netns', ns, '-o', 'id'], { prefix: [...unprivileged(), 'env', `CTPLUG_SOCKET=${d.socket}`] });
    assert.is(r.code, 0, r.stderr);
    assert.equal(listingLines(r.stdout), listingLines(conntrackIn(ns, ['-L', '-w', '1', '-o', 'id'])));
    const status = spawnSync('cat', [`/proc/${d.pid}/status`], { encoding: 'utf8' }).stdout;
    assert.match(status, new RegExp(`^Uid:\\s+${DAEMON_UID}\\s`, 'm'));
  } finally {
    await d.stop();
  }
});

it('a policy naming no namespace: the unit`s CAP_SYS_ADMIN is more than needed, and the daemon does not start', async () => {
  const d = await asService({ clients: { [`uid:${CLIENT_UID}`]: { capabilities: { operations: ['read'] } } } });
  try {
    assert.is(await d.exited, 3, d.log());
    assert.match(d.log(), /^ctplug: the daemon does not start: it holds capabilities it does not need/m);
  } finally {
    await d.stop();
  }
});

t.run();
