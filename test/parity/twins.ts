// A pair of throwaway namespaces for the parity harness: `conntrack` runs in `a`, ctplug in `b`.
// Both get the same seed; commands run asynchronously (so several pairs can work at once) and
// every child is bounded by a deadline. Removed with close(), and on process exit.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeNetns, removeNetns } from '../helpers/netns.js';
import { connlabelArgv, connlabelConfDir } from '../helpers/traffic.js';
import { normalizeOutput } from './normalize.js';
import type { Seed } from './seeds.js';

export interface Outcome { code: number; stdout: string; stderr: string; timedOut?: boolean }

const DEADLINE_MS = 60_000;

export interface Running {
  pid: number;
  done: Promise<Outcome>;
  kill(signal: NodeJS.Signals): void;
  exited(): boolean;
}

/** Starts argv; `done` resolves with its output once it exits (killed after `deadlineMs`). */
export function start(argv: string[], opts: { input?: string; deadlineMs?: number } = {}): Running {
  const p = spawn(argv[0], argv.slice(1), { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, CTPLUG_DEBUG: '' } });
  let stdout = '', stderr = '', over = false, gone = false;
  p.stdout!.setEncoding('utf8').on('data', (d) => (stdout += d));
  p.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d));
  if (opts.input !== undefined) p.stdin!.end(opts.input);
  const timer = setTimeout(() => { over = true; p.kill('SIGKILL'); }, opts.deadlineMs ?? DEADLINE_MS);
  const done = new Promise<Outcome>((resolve) => {
    p.on('error', (e) => { stderr += String(e); });
    p.on('close', (code, sig) => {
      gone = true;
      clearTimeout(timer);
      // killed by a signal: 128 + its number, as a shell reports it (139 for SIGSEGV)
      resolve({ code: code ?? (sig ? 128 + (constants.signals[sig] ?? 0) : -1), stdout, stderr, ...(over ? { timedOut: true } : {}) });
    });
  });
  return { pid: p.pid ?? -1, done, kill: (s) => { if (!gone) p.kill(s); }, exited: () => gone };
}

export function exec(argv: string[], opts: { input?: string; deadlineMs?: number } = {}): Promise<Outcome> {
  return start(argv, opts).done;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Twins {
  readonly a = makeNetns();
  readonly b = makeNetns();
  /** The tables right after seeding, normalised: a case that changes them forces a re-seed. */
  pristine: { a: string[]; b: string[] } = { a: [], b: [] };
  /** The seed lines as a file for `conntrack -R` (it cannot read a socket as stdin, which is what node gives a child). */
  private readonly seedDir = mkdtempSync(join(tmpdir(), 'ctplug-parity-seed-'));
  private readonly cleanup = () => this.close();

  constructor(readonly seed: Seed, readonly cli: string) {
    process.on('exit', this.cleanup);
    // -F first: one conntrack process empties and seeds a namespace
    writeFileSync(join(this.seedDir, 'lines'), ['-F', ...seed.lines].join('\n') + '\n');
  }

  /**
   * argv started inside `ns`, seeing the seed's connlabel.conf if it has one (an overlay of its
   * own per process: two overlay mounts cannot share a work folder).
   */
  start(ns: string, argv: string[]): Running {
    // nsenter joins the network namespace only (ip netns exec also makes a mount namespace and
    // remounts /sys, which costs more than conntrack itself and changes nothing for these tools)
    if (!this.seed.connlabels) return start(['nsenter', `--net=/run/netns/${ns}`, ...argv]);
    const dir = connlabelConfDir(this.seed.connlabels);
    const r = start(connlabelArgv(dir, ns, argv));
    void r.done.finally(() => rmSync(dir, { recursive: true, force: true }));
    return r;
  }

  conntrack(ns: string, args: string[]): Promise<Outcome> {
    return this.start(ns, ['conntrack', ...args]).done;
  }

  ctplug(ns: string, args: string[]): Running {
    return this.start(ns, [process.execPath, this.cli, ...args]);
  }

  /** Once per pair: lo up, sysctls, nft ruleset. */
  async setup(): Promise<void> {
    for (const ns of [this.a, this.b]) {
      await must(exec(['ip', '-n', ns, 'link', 'set', 'lo', 'up']), 'lo up');
      for (const s of this.seed.sysctls ?? []) await must(exec(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', s]), s);
      if (this.seed.nft) await must(exec(['nsenter', `--net=/run/netns/${ns}`, 'nft', '-f', '-'], { input: this.seed.nft }), 'nft ruleset');
    }
    await this.reseed(true);
  }

  /**
   * Empties both tables and seeds them again, in parallel. The first time (and whenever the
   * kernel makes the entries from traffic) the twins are listed and must be identical.
   */
  async reseed(first = false): Promise<void> {
    await Promise.all([this.a, this.b].map((ns) => this.seedOne(ns)));
    if (!first && !this.seed.traffic) return;
    const [a, b] = await Promise.all([this.table(this.a), this.table(this.b)]);
    if (a.join('\n') !== b.join('\n')) throw new Error(`the twins were seeded differently:\n${a.join('\n')}\n---\n${b.join('\n')}`);
    this.pristine = { a, b };
  }

  private async seedOne(ns: string): Promise<void> {
    const s = this.seed;
    if (s.expect) await must(this.conntrack(ns, ['-F', 'expect']), 'flush expect');
    // conntrack 1.4.7 -R frees its label map after the first line and then crashes on a second
    // line with labels (SIGSEGV): such seeds are loaded one line per process.
    if (s.connlabels) {
      await must(this.conntrack(ns, ['-F']), 'flush');
      for (const l of s.lines) await must(this.conntrack(ns, l.split(' ')), l);
    } else await must(this.conntrack(ns, ['-R', join(this.seedDir, 'lines')]), 'load seed lines');
    if (s.traffic) await must(exec(['nsenter', `--net=/run/netns/${ns}`, process.execPath, '-e', s.traffic]), 'traffic');
    for (const l of s.after ?? []) await must(this.conntrack(ns, l.split(' ')), l);
  }

  /** The namespace's tables as conntrack lists them, normalised (labels shown when the seed names some). */
  async table(ns: string): Promise<string[]> {
    const ct = await must(this.conntrack(ns, this.seed.connlabels ? ['-L', '-o', 'labels'] : ['-L']), 'list');
    let lines = normalizeOutput(ct.stdout);
    if (this.seed.expect) lines = lines.concat(normalizeOutput((await must(this.conntrack(ns, ['-L', 'expect']), 'list expect')).stdout).map((l) => `expect: ${l}`));
    return lines;
  }

  /** How many entries the namespace holds (conntrack -C: the kernel's counter, no walk over the table). */
  async count(ns: string): Promise<number> {
    return Number((await must(this.conntrack(ns, ['-C']), 'count')).stdout.trim());
  }

  /** Waits until a conntrack event listener (a netfilter netlink socket with groups) exists in ns, or `p` exited. */
  async listening(ns: string, p: Running, timeoutMs = 15_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && !p.exited()) {
      const r = await exec(['nsenter', `--net=/run/netns/${ns}`, 'cat', '/proc/net/netlink']);
      const listeners = r.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === '12' && /^[0-9a-f]{8}$/.test(f[3] ?? '') && f[3] !== '00000000');
      if (listeners.length) return true;
      await sleep(50);
    }
    return false;
  }

  close(): void {
    removeNetns(this.a);
    removeNetns(this.b);
    rmSync(this.seedDir, { recursive: true, force: true });
    process.off('exit', this.cleanup);
  }
}

async function must(p: Promise<Outcome>, what: string): Promise<Outcome> {
  const r = await p;
  if (r.code !== 0) throw new Error(`seeding: ${what} failed (${r.code}): ${r.stderr.trim()}`);
  return r;
}
