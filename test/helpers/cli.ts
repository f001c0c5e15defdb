// The `ctplug` command as users run it (bundled), built once per test file from the current
// sources into a private folder in dist/ (transpiling on every spawn would triple the run time).
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: plain ESM script without typings
import { bundle } from '../../scripts/bundle.mjs';

export interface Run { code: number; stdout: string; stderr: string }

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `ctplug ARGS` from the TypeScript sources (no build, no root needed): for tests of what the
 * command prints and exits with when nothing touches the kernel (load-time refusals, fake
 * backends). Slower to start than the bundle (it transpiles as it loads).
 */
export function sourceCli(args: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string>; encoding?: BufferEncoding } = {}): Run & { ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', join(root, 'scripts', 'ts-register.mjs'), join(root, 'host', 'cli', 'main.ts'), ...args], {
    encoding: opts.encoding ?? 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 1 << 28, env: { ...process.env, CTPLUG_DEBUG: '', ...opts.env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

export function bundledCli(name: string) {
  const dir = join('dist', `.${name}-${process.pid}`);
  return {
    /** The bundled cli.cjs, for tests that spawn it themselves (pipes, signals). */
    entry: join(dir, 'cli.cjs'),
    /** The bundled daemon.js (`ctplug daemon`: bin/ctplug.js sends it there), for tests that start a daemon. */
    daemon: join(dir, 'daemon.js'),
    async build(): Promise<void> {
      if (!existsSync('dist/plugins/list.wasm') || !existsSync('dist/plugins/match.wasm')) {
        throw new Error('dist/plugins/{list,match}.wasm are missing: run `npm run build` (npm install does it) before the tests');
      }
      await bundle({ outdir: dir, types: false, quiet: true });
    },
    remove(): void {
      rmSync(dir, { recursive: true, force: true });
    },
    /** `ctplug ARGS`, optionally under a prefix command (e.g. setpriv dropping a capability). */
    run(args: string[], opts: { input?: string; prefix?: string[] } = {}): Run {
      const argv = [...(opts.prefix ?? []), process.execPath, join(dir, 'cli.cjs'), ...args];
      const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', input: opts.input, maxBuffer: 1 << 28, env: { ...process.env, CTPLUG_DEBUG: '' } });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
  };
}
