// A plugin's worker thread takes ~70 ms to boot here (Node's own bootstrap plus worker.js), most of
// a short command. The CLI starts one as soon as it knows the command runs a plugin, before it
// reads the plugin and checks it; the first Plugin then adopts that worker and sends its init data
// as the first message. Kept apart from plugin.ts so starting it loads almost nothing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../paths.js';

/**
 * The heap bound of every plugin worker. Past it Node terminates the worker (the plugin's run
 * fails with PluginMemoryError), never the process. It bounds what the host holds for a plugin
 * in small pieces (queued operations, log records, the entries a mark-limited grant remembers:
 * all capped well below it); one huge allocation would abort the process instead, which is why
 * tables are bounded at load (module-limits.ts). Wasm memory and output buffers are outside the
 * JS heap: the grant's memory maximum and output_bytes bound those.
 */
export const WORKER_HEAP_MB = 512;
export const RESOURCE_LIMITS = { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 32 };

/** dist/worker.js next to the bundle, or the TypeScript source when run unbundled (tests). */
export function workerEntry(): { url: URL; execArgv?: string[] } {
  const bundled = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(bundled))) return { url: bundled };
  return { url: new URL('./worker.ts', import.meta.url), execArgv: ['--import', join(packageRoot(), 'scripts', 'ts-register.mjs')] };
}

let warm: Worker | undefined;

/** Starts a worker with no plugin yet. It does not keep the process alive if nothing adopts it. */
export function prespawnWorker(): void {
  if (warm) return;
  const entry = workerEntry();
  const w = new Worker(entry.url, { execArgv: entry.execArgv, resourceLimits: RESOURCE_LIMITS });
  w.unref();
  w.on('error', () => undefined); // adopted or not, a failed boot shows up when a run needs it
  w.on('exit', () => { if (warm === w) warm = undefined; });
  warm = w;
}

/** The pre-started worker, once. */
export function adoptPrespawned(): Worker | undefined {
  const w = warm;
  warm = undefined;
  return w;
}
