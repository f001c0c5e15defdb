// A real `nats-server -js` for fleet tests: its own temp dir (JetStream store), a free port, stopped
// (and its dir removed) by `stop()`, which tests call in `finally`/`after` so a failing test leaves
// nothing running. `restart()` keeps the store, as an operator restarting the server would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelSuite } from './netns.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Why fleet tests cannot run here, or undefined. */
export function natsSkipReason(): string | undefined {
  if (spawnSync('nats-server', ['--version']).status !== 0) return 'nats-server is not installed: apt-get install -y nats-server';
  return undefined;
}

/**
 * kernelSuite for files that also need nats-server: `it` skips, saying why, when either the kernel
 * or nats-server is missing (CI counts skips as failures); `skip` is the first reason.
 */
export function natsKernelSuite(name: string, file: string) {
  const natsSkip = natsSkipReason();
  if (natsSkip) process.stdout.write(`SKIP ${file}: ${natsSkip}\n`);
  const s = kernelSuite(name, file);
  return { t: s.t, it: natsSkip ? s.t.skip : s.it, skip: s.skip ?? natsSkip };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = tcpConnect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export interface NatsServer {
  url: string;
  port: number;
  dir: string;
  /** Stops the server (SIGTERM, then SIGKILL); the store stays for restart(). */
  halt(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startNats(): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-nats-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';
  const launch = async () => {
    child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(dir, 'store')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (d) => { log = (log + d).slice(-4000); });
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}): ${log}`);
      if (/Server is ready/.test(log) && (await accepting(port))) return;
      await sleep(50);
    }
    throw new Error(`nats-server did not become ready: ${log}`);
  };
  const halt = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  };
  try {
    await launch();
  } catch (e) {
    await halt();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `nats://127.0.0.1:${port}`, port, dir, halt,
    restart: launch,
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
