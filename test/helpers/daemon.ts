// `ctplug daemon` for tests: started as root from a bundle (it drops to DAEMON_UID with only its
// capabilities, as in production), on a socket in a private temp folder, and always stopped
// (SIGTERM, then SIGKILL of both processes) by `stop()`, also when a test failed. Clients run as
// CLIENT_UID with no capability at all (setpriv), as an operator's unprivileged user would.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The unprivileged user the daemon drops to (no passwd entry needed: --user UID). */
export const DAEMON_UID = 64_910;
/** The client of the tests (nobody). */
export const CLIENT_UID = 65_534;

/** setpriv prefix: `uid` with no capability in any set (bounding included) and no groups. */
export function unprivileged(uid = CLIENT_UID): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
}

export interface TestDaemon {
  socket: string;
  dir: string;
  /** The dropped (serving) process. */
  pid: number;
  /** What it logged so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts `node <bundle>/daemon.js` with `policy`; resolves once it serves. */
export async function startTestDaemon(daemonJs: string, policy: object, extra: string[] = []): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-daemon-'));
  chmodSync(dir, 0o755);
  const socket = join(dir, 'ctplug.sock');
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policy));
  const child: ChildProcess = spawn(process.execPath, [daemonJs, '--socket', socket, '--policy', policyFile, '--user', String(DAEMON_UID), ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let pid = 0;
  // A test process that dies without its after hook leaves no daemon behind.
  const kill = () => {
    child.kill('SIGKILL');
    if (pid) spawnSync('kill', ['-9', String(pid)]);
  };
  process.once('exit', kill);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        if (pid) spawnSync('kill', ['-9', String(pid)]);
      }, 5000);
      await exited;
      clearTimeout(t);
    }
    if (pid) spawnSync('kill', ['-9', String(pid)]); // never left behind, whatever happened to the parent
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the daemon did not start in 20 s: ${err}`)), 20_000);
      const check = () => {
        const m = /serving .* \(pid (\d+)\)/.exec(err);
        if (m) {
          pid = Number(m[1]);
          clearTimeout(t);
          resolve();
        }
      };
      child.stderr!.on('data', check);
      child.once('exit', (c) => reject(new Error(`the daemon exited (${c}): ${err}`)));
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { socket, dir, pid, log: () => err, stop };
}

/** /proc/PID/status capability sets as numbers (bigint). */
export function procCaps(pid: number): Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb', bigint> {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => BigInt('0x' + (new RegExp(`^${k}:\\s*([0-9a-f]+)$`, 'm').exec(s)?.[1] ?? 'x'));
  return { CapInh: get('CapInh'), CapPrm: get('CapPrm'), CapEff: get('CapEff'), CapBnd: get('CapBnd'), CapAmb: get('CapAmb') };
}
