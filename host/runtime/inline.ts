// A plugin run on the calling thread instead of a worker: for the CLI's first-party plugins (their
// modules pinned by sha256 in the package's own manifests), where a worker's boot, a second load
// of the host's code and its JIT, and the output's hop between threads cost more than the run
// itself on a small table (issue 15: ~25-40 ms of CPU per command on this 2-core machine).
//
// Everything a worker run checks is checked the same way: the same PluginRun (loadPlugin's
// checks before it, the capability gate re-checking every entry, the output and log caps, the
// module's declared memory maximum, its tables bounded at load). What differs is preemption. A
// worker is terminated from outside when a call passes its deadline; the main thread can only be
// interrupted by V8's own watchdog, which node:vm arms for one script run. Arming it per export
// call costs a thread start and join each time (54 us quiet, 13-15 ms per call under load here),
// so it is armed per SLICE of the run: the run's steps (PluginRun.program) go on until the first
// step boundary past `timeout_ms`, under a guard of twice that. A call that never returns is
// therefore stopped between 1x and 2x its deadline (a worker: within 10 ms of it), and the run
// fails with PluginTimeoutError as in a worker. Waits (a promise a step yields: events, a daemon
// transport) and the writing of output happen between slices, off the clock, as a worker's
// waits for the embedder are. What cannot be bounded here is the host's own V8 heap, which a
// worker's resourceLimits bound: hence first-party plugins only (their queues are capped by the
// gate like anyone's, and their modules are known).
import { Script } from 'node:vm';
import { AbortError } from '../netlink/abort.js';
import { splitMessages } from '../netlink/message.js';
import { CtError } from '../conntrack/errors.js';
import type { Manifest } from '../policy/manifest.js';
import type { Grant } from '../policy/grant.js';
import { PluginError } from '../policy/errors.js';
import { openBackend } from './backend.js';
import { hostFailure, RunFailure } from './call-context.js';
import type { Program } from './delivery.js';
import { abortedRun, errorOf, PluginHostError, PluginTimeoutError } from './errors.js';
import type { RunSink } from './output.js';
import { checkPlugin, type LoadOptions, type PluginLogLine, type PluginSource, type RunOptions, type RunResult } from './plugin.js';
import { PluginRun } from './plugin-run.js';
import { emptyStats, type RunStats, type WorkerInit } from './protocol.js';
import { CallClock } from './watchdog.js';

/**
 * Output a slice may stage before it ends so that the output is written (outside the guard: a
 * slow reader is not the plugin's time). Each guard costs ~80 us (a watchdog thread's start and
 * join), so a slice is not ended per 256 KiB chunk: 16 guards for the 16.5 MB of a 100k list.
 */
const SLICE_OUTPUT_BYTES = 1 << 20;

/** One guarded slice: runs globalThis[SLICE]() under node:vm's timeout. */
const SLICE = Symbol.for('ctplug.inline.slice');
const guardScript = new Script('globalThis[Symbol.for("ctplug.inline.slice")]()', { filename: 'ctplug-inline-slice' });

function guarded<T>(timeoutMs: number, f: () => T): T {
  const g = globalThis as unknown as Record<symbol, unknown>;
  g[SLICE] = f;
  try {
    return guardScript.runInThisContext({ timeout: timeoutMs }) as T;
  } finally {
    delete g[SLICE];
  }
}

const timedOut = (e: unknown) => (e as { code?: string })?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';

export type InlineInit = Omit<WorkerInit, 'clock' | 'recycle' | 'fds'>;

/**
 * loadPlugin's checks (checkPlugin), then a plugin that runs on this thread: for trusted plugins
 * only (the CLI's own; see the top of this file). Everything else is checked as for a worker.
 */
export async function loadInline(src: PluginSource, opts: LoadOptions): Promise<InlinePlugin> {
  const { manifest, grant, init } = await checkPlugin(src, opts);
  return new InlinePlugin(manifest, grant, init);
}

/** A plugin that runs on this thread; the same run() and close() as a worker-backed Plugin. */
export class InlinePlugin {
  readonly name: string;
  private closed = false;
  private busy = false;
  private clock = new CallClock();

  constructor(readonly manifest: Manifest, readonly grant: Grant, private readonly init: InlineInit) {
    this.name = manifest.name;
  }

  get isClosed(): boolean { return this.closed; }

  stop(): void {
    this.clock.requestStop();
  }

  async run(opts: RunOptions = {}): Promise<RunResult> {
    if (this.closed) throw new PluginError(this.name, `plugin "${this.name}" is closed: load it again`, 'PLUGIN_CLOSED');
    if (this.busy) throw new PluginError(this.name, `plugin "${this.name}" is already running`, 'PLUGIN_BUSY');
    if (opts.signal?.aborted) throw this.aborted(opts.signal, emptyStats());
    this.busy = true;
    const clock = this.clock;
    clock.clearStop();
    const stop = () => clock.requestStop();
    opts.signal?.addEventListener('abort', stop);
    const logs: PluginLogLine[] = [];
    const collected: Uint8Array[] = [];
    /** Output staged during a slice, written after it (off the clock). */
    const pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let lastStats: RunStats = emptyStats();
    const sink: RunSink = {
      logs: (lines) => {
        for (const l of lines) {
          const line = { plugin: this.name, ...l };
          logs.push(line);
          opts.onLog?.(line);
        }
      },
      output: (view) => {
        pending.push(view.slice()); // the view is only valid during the call
        pendingBytes += view.length;
      },
      progress: (stats) => {
        lastStats = stats;
        opts.onProgress?.(stats);
      },
    };
    const backend = await openBackend(this.init.backend, this.init.grant);
    const config = opts.config === undefined ? this.init.config : JSON.stringify(opts.config);
    const wasi = this.init.usesWasi ? await loadWasi() : undefined;
    const run = new PluginRun({ ...this.init, config }, { ops: backend.ops, clock, sink, wasi });
    const limit = this.grant.limits.timeout_ms;
    try {
      await this.drive(run.program(), limit, () => pendingBytes >= SLICE_OUTPUT_BYTES, async () => {
        pendingBytes = 0;
        for (const b of pending.splice(0)) {
          if (!opts.onOutput) collected.push(b);
          else await opts.onOutput(b, () => undefined);
        }
      });
      const stats = run.stats;
      if (opts.signal?.aborted) throw this.aborted(opts.signal, stats);
      return { plugin: this.name, stats, failures: run.failures, output: Buffer.concat(collected), logs, table: backend.table && [...splitMessages(backend.table())] };
    } catch (e) {
      throw this.failure(e, limit, lastStats, run.stats);
    } finally {
      opts.signal?.removeEventListener('abort', stop);
      backend.close();
      this.busy = false;
    }
  }

  /**
   * Runs the program's steps in slices, each under one guard of 2 x `limit`: a slice ends at the
   * first step past `limit` ms, once `full` (output to write), or at a step that waits (a promise).
   */
  private async drive(program: Program, limit: number, full: () => boolean, flush: () => Promise<void>): Promise<void> {
    let input: unknown;
    let thrown: { e: unknown } | undefined;
    for (;;) {
      const r = guarded(2 * limit, () => {
        const t0 = performance.now();
        let s = thrown ? program.throw(thrown.e) : program.next(input);
        while (!s.done && !(s.value instanceof Promise) && !full() && performance.now() - t0 < limit) s = program.next(s.value);
        return s;
      });
      thrown = undefined;
      await flush();
      if (r.done) return;
      try {
        input = await r.value;
      } catch (e) {
        thrown = { e };
      }
    }
  }

  private failure(e: unknown, limit: number, lastStats: RunStats, stats: RunStats): Error {
    let err: Error;
    if (timedOut(e)) {
      const c = this.clock.current();
      err = new PluginTimeoutError(this.name, limit, c?.name ?? 'its run', c?.hostWork ?? false);
    } else if (e instanceof RunFailure) err = errorOf(this.name, e.error);
    else if (e instanceof PluginError || e instanceof CtError || e instanceof AbortError) err = e;
    else err = errorOf(this.name, hostFailure(e, 'run'));
    if ((err instanceof PluginError || err instanceof CtError || err instanceof AbortError) && !err.stats) err.stats = stats ?? lastStats;
    return err instanceof Error ? err : new PluginHostError(this.name, String(err));
  }

  private aborted(signal: AbortSignal, stats: RunStats): AbortError {
    return abortedRun(this.name, signal, stats);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clock.requestStop();
  }
}

async function loadWasi(): Promise<typeof import('@wasmer/wasi')> {
  const lib = await import('@wasmer/wasi');
  await lib.init();
  return lib;
}
