// Main-thread side of a plugin: check everything that can be checked before any code runs
// (manifest, grant, module), then run the plugin in its own worker under a per-call deadline.
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { CtError } from '../conntrack/errors.js';
import { AbortError } from '../netlink/abort.js';
import { FdLedger } from '../netlink/fd-ledger.js';
import { splitMessages } from '../netlink/message.js';
import { closeLeftovers } from '../netlink/socket.js';
import { ManifestError, PluginError, PolicyError } from '../policy/errors.js';
import { computeGrant, type Grant } from '../policy/grant.js';
import { adoptPrespawned, RESOURCE_LIMITS, WORKER_HEAP_MB, workerEntry } from './prespawn.js';
import { type Limits, parseLimits } from '../policy/limits.js';
import { loadManifest, type Manifest, type ManifestDocument, parseManifest } from '../policy/manifest.js';
import { loadPolicy, parsePolicy, type Policy, type PolicyDocument } from '../policy/policy.js';
import { configDepthProblem } from '../policy/config-depth.js';
import { readRegularFile } from '../policy/regular-file.js';
import { abortedRun, ConfigError, errorOf, PluginHostError, PluginMemoryError, PluginTimeoutError } from './errors.js';
import { checkModule } from './module-check.js';
import { MODULE_LIMITS } from './module-limits.js';
import { emptyStats, type BackendSpec, type FromWorker, type LogLine, type RunStats, type ToWorker, type WorkerInit } from './protocol.js';
import { CallClock } from './watchdog.js';
import type { OpFailure } from '../scoped/send.js';

/** A plugin on disk (its manifest path) or in memory. */
export type PluginSource = string | { manifest: Manifest | ManifestDocument; wasm: Uint8Array };

export interface LoadOptions {
  /** The operator policy: a file path or its JSON content. */
  policy: string | Policy | PolicyDocument;
  /** Network namespace (name or path) the plugin's conntrack operations go to. */
  netns?: string;
  /** The plugin's config; handed to it as JSON by the `config` hostcall. */
  config?: unknown;
  /** The embedder's caps on top of the policy's limits. */
  limits?: Partial<Limits>;
  /** Where conntrack operations go; default the kernel in `netns`. The test kit passes a fake. */
  backend?: BackendSpec;
  /**
   * Through `ctplug daemon` at this socket instead of the kernel: the plugin's grant must also be
   * inside what the daemon grants this client (checked here, at load: a GrantError-like refusal,
   * CtError 'privilege'), and the daemon enforces that whatever the worker sends.
   */
  connect?: string;
}

export interface PluginLogLine extends LogLine { plugin: string }

export interface RunOptions {
  /**
   * Output as it is emitted (in chunks). Without it, output is collected in the result. Return a
   * promise to push back: at most two chunks are outstanding (watchdog.ts CHUNKS_IN_FLIGHT), then
   * the plugin waits between batches until one settles (e.g. stdout's 'drain'), so a slow
   * consumer never makes the host buffer without bound. Call `release` once
   * nothing refers to the bytes any more (e.g. in stdout's write callback): their buffer is then
   * reused for later output rather than left to the garbage collector.
   */
  onOutput?: (bytes: Uint8Array, release: () => void) => unknown;
  onLog?: (line: PluginLogLine) => void;
  onProgress?: (stats: RunStats) => void;
  /** This run's config instead of the one given at load (the same worker, a fresh instance). */
  config?: unknown;
  /**
   * Cancels the run: nothing more is delivered after the batch in progress (dump or event), the
   * plugin gets ctplug_finish, and the run rejects with AbortError whose `stats` say what was done.
   * Already aborted: the run rejects at once and nothing runs.
   */
  signal?: AbortSignal;
}

export interface RunResult {
  plugin: string;
  stats: RunStats;
  /** The first operations the kernel refused or failed (stats.failed counts them all). */
  failures: OpFailure[];
  /** All output, when no onOutput callback was given. */
  output: Uint8Array;
  logs: PluginLogLine[];
  /** The fake backend's table after the run (test kit only). */
  table?: Uint8Array[];
}

/** Output chunks (~256 KiB each) a stream() reader may fall behind before the plugin is paused. */
const STREAM_BACKLOG = 8;
/** How often the main thread looks at the worker's call clock while a run is active. */
const WATCHDOG_INTERVAL_MS = 10;

/** The worker entry: dist/worker.js next to the bundle, else the TypeScript source (tests, dev). */
function readSource(src: PluginSource): { manifest: Manifest; wasm: Uint8Array } {
  if (typeof src !== 'string') return { manifest: parseManifest(src.manifest), wasm: src.wasm };
  const { manifest, modulePath } = loadManifest(src);
  try {
    return { manifest, wasm: readRegularFile(modulePath, MODULE_LIMITS.moduleBytes) };
  } catch (e) {
    throw new ManifestError(manifest.name, `plugin "${manifest.name}": cannot read module ${modulePath}: ${(e as Error).message}`);
  }
}

function configText(name: string, config: unknown): string {
  const deep = configDepthProblem(config);
  if (deep) throw new ConfigError(name, `plugin "${name}": config ${deep}`);
  try {
    return JSON.stringify(config);
  } catch (e) {
    throw new ConfigError(name, `plugin "${name}": config is not JSON: ${(e as Error).message}`);
  }
}

/** A loaded plugin: a worker-backed Plugin, or one that runs on the caller's thread (inline.ts loadInline). */
export type LoadedPlugin = Pick<Plugin, 'name' | 'manifest' | 'grant' | 'isClosed' | 'run' | 'stop' | 'close'>;

export type CheckedPlugin = { manifest: Manifest; grant: Grant; init: Omit<WorkerInit, 'clock' | 'recycle' | 'fds'> };

/**
 * Everything checked before any of the plugin's code runs: policy, manifest, grant, config, module,
 * and through a daemon, the daemon's grant.
 */
export async function checkPlugin(src: PluginSource, opts: LoadOptions): Promise<CheckedPlugin> {
  const policy = typeof opts.policy === 'string' ? loadPolicy(opts.policy) : parsePolicy(opts.policy);
  const { manifest, wasm } = readSource(src);
  const limits = parseLimits(opts.limits, 'limits', (msg) => { throw new PolicyError(`loadPlugin options: ${msg}`); });
  const grant = computeGrant(manifest, policy, limits);
  const config = configText(manifest.name, opts.config ?? {});
  const checked = checkModule(manifest.name, wasm, { sha256: manifest.sha256, memoryMaxPages: grant.limits.memory_max_pages });
  const backend: BackendSpec = opts.backend ?? (opts.connect ? { kind: 'daemon', socket: opts.connect, netns: opts.netns } : { kind: 'kernel', netns: opts.netns });
  if (backend.kind === 'daemon') {
    // Effective grant = manifest ∩ policy ∩ the daemon's grant: a plugin asking beyond the last is refused now.
    const { DaemonConnection } = await import('../client/connection.js');
    (await DaemonConnection.open(backend.socket, { netns: backend.netns, capabilities: { operations: grant.operations, scope: grant.scope } })).close();
  }
  const init: CheckedPlugin['init'] = {
    plugin: manifest.name,
    grant,
    module: checked.module,
    usesWasi: checked.usesWasi,
    config,
    backend,
  };
  return { manifest, grant, init };
}

/** Checks manifest, grant and module in this thread (checkPlugin), then starts the plugin's worker. */
export async function loadPlugin(src: PluginSource, opts: LoadOptions): Promise<Plugin> {
  const { manifest, grant, init } = await checkPlugin(src, opts);
  return new Plugin(manifest, grant, init);
}

export class Plugin {
  readonly name: string;
  private worker?: Worker;
  private clock?: CallClock;
  /** Released output buffers go back to the worker through this port (WorkerInit.recycle). */
  private recycle?: MessagePort;
  private busy = false;
  private closed = false;
  /** close() was called: the plugin runs no more. */
  get isClosed(): boolean { return this.closed; }
  /** Ends the run in progress with an error (close() during a run). */
  private cancel?: (err: Error) => void;

  constructor(readonly manifest: Manifest, readonly grant: Grant, private readonly init: Omit<WorkerInit, 'clock' | 'recycle' | 'fds'>) {
    this.name = manifest.name;
    this.spawn();
  }

  /** One worker per plugin instance, reused across runs until it is terminated (timeout, close). */
  private spawn(): Worker {
    if (this.worker) return this.worker;
    this.clock = new CallClock();
    const { port1, port2 } = new MessageChannel();
    port1.unref();
    this.recycle?.close(); // a respawn: the old worker's port goes too (late releases are dropped)
    this.recycle = port1;
    // The worker's sockets: whatever it still holds when it exits (terminated mid-run, closed) is closed here.
    const ledger = new FdLedger();
    const init = { ...this.init, clock: this.clock.buffer, recycle: port2, fds: ledger.buffer } satisfies WorkerInit;
    let w = adoptPrespawned();
    if (w) {
      w.postMessage({ type: 'init', init } satisfies ToWorker, [port2]);
    } else {
      const entry = workerEntry();
      w = new Worker(entry.url, { workerData: init, transferList: [port2], execArgv: entry.execArgv, resourceLimits: RESOURCE_LIMITS });
    }
    w.unref(); // an idle plugin does not keep the process alive; a run holds a ref
    w.on('exit', () => {
      closeLeftovers(ledger);
      if (this.worker === w) this.worker = undefined;
    });
    // A run in progress reports worker errors itself; an idle worker's error must not crash the
    // embedder (an 'error' event without a listener throws). The next run gets a fresh worker.
    w.on('error', () => undefined);
    return (this.worker = w);
  }

  /** Runs the plugin once: _start, ctplug_init, the scheduled dumps, ctplug_finish. */
  run(opts: RunOptions = {}): Promise<RunResult> {
    if (this.closed) return Promise.reject(new PluginError(this.name, `plugin "${this.name}" is closed: load it again`, 'PLUGIN_CLOSED'));
    if (this.busy) return Promise.reject(new PluginError(this.name, `plugin "${this.name}" is already running`, 'PLUGIN_BUSY'));
    if (opts.signal?.aborted) return Promise.reject(this.aborted(opts.signal, emptyStats()));
    let config: string | undefined;
    try {
      config = opts.config === undefined ? undefined : configText(this.name, opts.config);
    } catch (e) {
      return Promise.reject(e);
    }
    this.busy = true;
    const worker = this.spawn();
    const clock = this.clock!;
    const limit = this.grant.limits.timeout_ms;
    const output: Uint8Array[] = [];
    const logs: PluginLogLine[] = [];
    worker.ref();
    clock.clearStop();
    const stop = () => clock.requestStop();
    opts.signal?.addEventListener('abort', stop);

    return new Promise<RunResult>((resolve, reject) => {
      // The last account the worker gave: a run that fails part-way still says what it did.
      let lastStats: RunStats | undefined;
      let settled = false;
      const finish = (err: Error | null, result?: RunResult) => {
        if (settled) return;
        settled = true;
        // An aborted run that ended well reports what it did, but as the cancellation it was.
        if (!err && opts.signal?.aborted) err = this.aborted(opts.signal, result!.stats);
        if ((err instanceof PluginError || err instanceof CtError || err instanceof AbortError) && !err.stats) err.stats = lastStats;
        clearInterval(watchdog);
        opts.signal?.removeEventListener('abort', stop);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        worker.unref();
        this.busy = false;
        this.cancel = undefined;
        if (err) reject(err);
        else resolve(result!);
      };
      this.cancel = (err) => finish(err);
      const watchdog = setInterval(() => {
        const c = clock.current();
        if (c && c.elapsedMs > limit) {
          // Termination is the only preemption Node offers; the next run gets a fresh worker.
          this.worker = undefined;
          void worker.terminate();
          finish(new PluginTimeoutError(this.name, limit, c.name, c.hostWork));
        }
      }, WATCHDOG_INTERVAL_MS);
      const onMessage = (m: FromWorker) => {
        switch (m.type) {
          case 'log':
            for (const l of m.lines) {
              const line = { plugin: this.name, ...l };
              logs.push(line);
              opts.onLog?.(line);
            }
            break;
          case 'emit': {
            const recycle = this.recycle!, buf = m.bytes.buffer as ArrayBuffer;
            let released = false;
            const release = () => { if (!released) { released = true; recycle.postMessage(buf, [buf]); } };
            if (!opts.onOutput) {
              output.push(m.bytes.slice()); // kept to the end of the run: an exact copy, the chunk is reused
              release();
              clock.chunkConsumed();
              break;
            }
            // The worker's output credit comes back once the consumer is done with the chunk.
            const wait = opts.onOutput(m.bytes, release);
            if (wait instanceof Promise) wait.then(() => clock.chunkConsumed(), () => clock.chunkConsumed());
            else clock.chunkConsumed();
            break;
          }
          case 'progress':
            lastStats = m.stats;
            opts.onProgress?.(m.stats);
            break;
          case 'done':
            finish(null, { plugin: this.name, stats: m.stats, failures: m.failures, output: Buffer.concat(output), logs, table: m.table && [...splitMessages(m.table)] });
            break;
          case 'failed':
            lastStats = m.stats;
            finish(errorOf(this.name, m.error));
            break;
        }
      };
      const onError = (e: Error & { code?: string }) => {
        if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          this.worker = undefined; // the next run gets a fresh worker
          return finish(new PluginMemoryError(this.name, clock.current()?.name, WORKER_HEAP_MB));
        }
        finish(new PluginHostError(this.name, `worker failed: ${e.message}`, e.name));
      };
      const onExit = (code: number) => finish(new PluginHostError(this.name, `worker exited unexpectedly (code ${code})`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      worker.postMessage({ type: 'run', config } satisfies ToWorker);
    });
  }

  /**
   * Ends the current run early but normally: nothing more is delivered after the batch in progress
   * (dump or event), the plugin gets ctplug_finish, and the run resolves with what it did.
   */
  stop(): void {
    this.clock?.requestStop();
  }

  /**
   * The run's output as an async iterator of chunks; `result` settles when the run ends. Leaving
   * the loop early (break, return, a throw) stops the run as stop() does, and drops later output.
   */
  stream(opts: Omit<RunOptions, 'onOutput'> = {}): { output: AsyncIterable<Uint8Array>; result: Promise<RunResult> } {
    const chunks: Uint8Array[] = [];
    let wake: (() => void) | undefined;
    let drained: (() => void) | undefined;
    let ended = false, left = false;
    // Backpressure: past STREAM_BACKLOG unread chunks the plugin pauses until the reader catches up.
    const onOutput = (b: Uint8Array) => {
      if (left) return;
      chunks.push(b);
      wake?.();
      if (chunks.length >= STREAM_BACKLOG) return new Promise<void>((r) => (drained = r));
    };
    const result = this.run({ ...opts, onOutput });
    result.then(() => { ended = true; wake?.(); }, () => { ended = true; wake?.(); });
    const leave = () => {
      if (ended || left) return;
      left = true;
      chunks.length = 0;
      this.stop();
      drained?.();
    };
    async function* output() {
      try {
        for (;;) {
          if (chunks.length) {
            yield chunks.shift()!;
            if (chunks.length < STREAM_BACKLOG) drained?.();
          }
          else if (ended) { await result; return; } // rethrows the run's error
          else await new Promise<void>((r) => (wake = r));
        }
      } finally {
        leave();
      }
    }
    return { output: output(), result };
  }

  private aborted(signal: AbortSignal, stats: RunStats): AbortError {
    return abortedRun(this.name, signal, stats);
  }

  /**
   * Ends the plugin: a run in progress rejects with AbortError, the worker is terminated, and every
   * socket it held (its conntrack connection, an event subscription) is closed. Idempotent.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.cancel?.(new AbortError(`plugin "${this.name}" run`, 'the plugin was closed'));
    const w = this.worker;
    this.worker = undefined;
    this.recycle?.close();
    this.recycle = undefined;
    if (w) await w.terminate();
  }
}
