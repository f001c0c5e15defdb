// Throwaway network namespaces for integration tests, removed even when a test fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { suite, type Test } from 'uvu';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';

export const isRoot = process.getuid?.() === 0;
/** .ci/run sets CI=true: there, a kernel test that cannot run is a failure, not a skip. */
export const inCI = process.env.CI === 'true';

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(): string | undefined {
  if (!isRoot) return 'integration tests need root (they create network namespaces)';
  if (spawnSync('conntrack', ['--version']).status !== 0) return 'conntrack (conntrack-tools) is not installed: apt-get install -y conntrack';
  return undefined;
}

export function makeNetns(): string {
  const name = `ctplug-test-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  return name;
}

export function removeNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
}

/** Runs fn with a fresh namespace and always deletes it. */
export async function withNetns<T>(fn: (ns: string) => T | Promise<T>): Promise<T> {
  const ns = makeNetns();
  try {
    return await fn(ns);
  } finally {
    removeNetns(ns);
  }
}

/** `conntrack ARGS` inside the namespace; returns stdout (stderr has its summary line). */
export function conntrackIn(ns: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'conntrack', ...args], { encoding: 'utf8', input: opts.input, maxBuffer: 1 << 30 });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`conntrack ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** The ids `conntrack -L ARGS -o id` prints, sorted. */
export function conntrackIds(ns: string, args: string[] = []): number[] {
  return conntrackIn(ns, ['-L', ...args, '-o', 'id'])
    .split('\n')
    .map((l) => l.match(/ id=(\d+)$/)?.[1])
    .filter((x): x is string => !!x)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * A uvu suite for kernel tests. Without root (or conntrack) every test registered with `it`
 * is reported as skipped, and a `SKIP file: reason` line says why; hooks are not run. Under
 * CI=true the suite gets one failing test instead that says why (scripts/test.mjs fails any
 * skip there too).
 */
export function kernelSuite(name: string, file: string) {
  const skip = kernelSkipReason();
  const t = suite(name);
  if (skip) process.stdout.write(`SKIP ${file}: ${skip}\n`);
  if (skip && inCI) t(`CI=true: the kernel tests of ${file} must run`, () => { throw new Error(`CI=true but ${skip}`); });
  return { t, it: skip ? t.skip : t, skip };
}

/**
 * kernelSuite plus one namespace and an open Conntrack for the whole file, flushed before each
 * test and removed at the end (also when a test fails). Use `env.ns` and `env.ct` in tests.
 */
export function conntrackSuite(name: string, file: string) {
  const s = kernelSuite(name, file);
  const env = { ns: '', ct: undefined as unknown as Conntrack };
  if (!s.skip) {
    s.t.before(() => {
      env.ns = makeNetns();
      env.ct = Conntrack.open({ netns: env.ns });
    });
    s.t.after(() => {
      env.ct?.close();
      removeNetns(env.ns);
    });
    s.t.before.each(() => { env.ct.flushSync(); });
  }
  return { ...s, env };
}

/**
 * Two namespaces for a whole file (one for ctplug, one for its conntrack oracle), both seeded with
 * `specs` before each test and removed at the end, also when the process exits mid-test. `set`
 * receives their names once made; `cli`, when given, is built first and removed with them.
 */
export function twinNetns(t: Test, specs: CreateSpec[], set: (a: string, b: string) => void, cli?: { build(): Promise<void>; remove(): void }): void {
  let a = '', b = '';
  const cleanup = () => {
    if (a) removeNetns(a);
    if (b) removeNetns(b);
    a = b = '';
    cli?.remove();
  };
  t.before(async () => {
    await cli?.build();
    a = makeNetns();
    b = makeNetns();
    set(a, b);
  });
  t.after(cleanup);
  t.before.each(() => {
    seedNetns(a, specs);
    seedNetns(b, specs);
  });
  process.on('exit', cleanup);
}

/** Empties the namespace's table and creates `specs` through the netlink core; any failure throws. */
export function seedNetns(ns: string, specs: CreateSpec[], opts: { flush?: boolean } = {}): void {
  const ct = Conntrack.open({ netns: ns });
  try {
    if (opts.flush !== false) ct.flushSync();
    const r = ct.createSync(specs);
    if (r.failed.length) throw new Error(`seeding ${ns}: ${r.ok} created, failed: ${JSON.stringify(r.failed.slice(0, 3))}`);
  } finally {
    ct.close();
  }
}

/**
 * `conntrack -L` (or ctplug) text as comparable lines: the timeout column (it ticks) removed,
 * and optionally use= (a reference count) and the trailing conntrack id= (differs per namespace); sorted.
 */
export function listingLines(text: string, drop: ('use' | 'id')[] = []): string[] {
  return text.split('\n').filter(Boolean).map((l) => {
    let out = l.replace(/^((?:ipv[46]\s+\d+\s+)?\S+\s+\d+\s+)\d+ /, '$1');
    if (drop.includes('use')) out = out.replace(/ use=\d+/, '');
    if (drop.includes('id')) out = out.replace(/ id=\d+$/, ''); // the conntrack id ends the line (an ICMP id= does not)
    return out;
  }).sort();
}
