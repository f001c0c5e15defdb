// One run of a plugin, put together: its call context (instance, memory, deadline), the
// capability gate over the run's ConntrackOps, the hostcalls, output, WASI, and delivery. The
// sequence: instantiate (start section), _start, ctplug_init, the scheduled dumps and
// subscription, ctplug_finish. Where it runs is the caller's: a worker (worker.ts) posts the
// sink's records to the main thread; a main-thread runner or a test writes them directly.
import type { WASI } from '@wasmer/wasi';
import type { ConntrackOps } from '../conntrack/ops.js';
import { abi, EXPORT } from '../policy/abi.js';
import type { Grant } from '../policy/grant.js';
import { type OpFailure, ScopedConntrack } from '../scoped/gate.js';
import { CallContext, type RunClock } from './call-context.js';
import { afterCall, Delivery } from './delivery.js';
import { ctplugImports } from './hostcalls.js';
import { LogSink } from './log-sink.js';
import { Output, type RunSink } from './output.js';
import { emptyStats, type RunStats } from './protocol.js';
import { ProcExit, wasiImports } from './wasi-imports.js';

/** What a run is of (WorkerInit without the thread's plumbing). */
export interface RunSpec {
  plugin: string;
  grant: Grant;
  module: WebAssembly.Module;
  usesWasi: boolean;
  /** The plugin's config as UTF-8 JSON text. */
  config: string;
}

export interface RunEnv {
  ops: ConntrackOps;
  clock: RunClock;
  sink: RunSink;
  /** @wasmer/wasi, loaded by the caller for a plugin that imports WASI (parsing it costs ~100 ms). */
  wasi?: typeof import('@wasmer/wasi');
}

export class PluginRun {
  readonly stats: RunStats = emptyStats();
  private readonly logs: LogSink;
  private readonly ctx: CallContext;
  private readonly gate: ScopedConntrack;
  private readonly output: Output;

  constructor(private readonly spec: RunSpec, private readonly env: RunEnv) {
    const { grant } = spec;
    this.logs = new LogSink(grant.limits.log_lines_per_s, this.stats);
    this.gate = new ScopedConntrack(env.ops, grant, this.stats, (k, l, t) => this.logs.note(k, l, t));
    // A call that did not finish does not get its queued operations sent.
    this.ctx = new CallContext(env.clock, this.logs, () => this.gate.discard());
    this.output = new Output(grant.limits.output_bytes, this.stats, this.logs, env.sink);
  }

  /** The import object: ctplug hostcalls (abi.json) and, for a WASI plugin, the allowed WASI functions. */
  private imports(): { imports: WebAssembly.Imports; wasi?: WASI } {
    const { ctx, gate, output, logs, stats } = this;
    const imports: WebAssembly.Imports = {
      [abi.importModule]: ctplugImports({ ctx, gate, output, logs, stats, config: new TextEncoder().encode(this.spec.config) }),
    };
    if (!this.spec.usesWasi) return { imports };
    // @wasmer/wasi with its in-memory FS: no preopens, no env, argv = [plugin name].
    const wasi = new this.env.wasi!.WASI({ args: [this.spec.plugin], env: {} });
    const all = (wasi.getImports(this.spec.module) as Record<string, Record<string, WebAssembly.ImportValue>>)[abi.wasiModule];
    const own = wasiImports(ctx, logs, all);
    imports[abi.wasiModule] = Object.fromEntries(Object.entries(own).map(([n, f]) => [n, ctx.guarded(`${abi.wasiModule}.${n}`, f as (...a: never[]) => unknown)]));
    return { imports, wasi };
  }

  /** The first operations the kernel refused or failed in this run. */
  get failures(): OpFailure[] {
    return this.gate.failures;
  }

  async execute(): Promise<void> {
    const { ctx, gate, output } = this;
    try {
      const { imports, wasi } = this.imports();
      const instance = ctx.instantiate(this.spec.module, imports);
      wasi?.instantiate(instance); // binds the WASI functions to this instance's memory
      if (ctx.exports(EXPORT.start)) ctx.call(EXPORT.start);
      ctx.check(EXPORT.init, ctx.call(EXPORT.init));
      await afterCall({ gate, output });
      await new Delivery({ ctx, gate, output, clock: this.env.clock, grant: this.spec.grant, stats: this.stats, logs: this.logs }).run();
      ctx.check(EXPORT.finish, ctx.call(EXPORT.finish));
      await afterCall({ gate, output });
    } catch (e) {
      if (!(e instanceof ProcExit)) throw e; // exit(0): the plugin is done
      await afterCall({ gate, output });
    } finally {
      this.env.clock.leave();
      this.logs.end();
      output.publish();
    }
  }
}
