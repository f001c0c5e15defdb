// Plugin worker (worker_threads entry; bundled separately as dist/worker.js). It owns one plugin's
// Wasm instance, its conntrack backend and the ctplug hostcalls. The main thread only spawns it,
// watches the call clock and relays what it posts (protocol.ts).
// Past 400 lines on purpose: every hostcall check, the delivery loops and the run's accounting work
// on one Run's state, and reading them side by side is how the sandbox's rules are audited.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { WASI } from '@wasmer/wasi';
import { RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { AbortError } from '../netlink/abort.js';
import { FdLedger } from '../netlink/fd-ledger.js';
import { recordSocketsIn } from '../netlink/socket.js';
import { CtError } from '../conntrack/errors.js';
import { then } from '../conntrack/ops.js';
import { escapeText } from '../policy/untrusted-text.js';
import { abi, EXPORT, STATUS } from '../policy/abi.js';
import { type Admitted, type Plan, Refusal, type Request, ScopedConntrack } from '../scoped/gate.js';
import { type Backend, openBackend } from './backend.js';
import { LogSink, MAX_LINE_BYTES } from './log-sink.js';
import { emptyStats, type FromWorker, type LogLevel, type RunStats, type WorkerError, type WorkerInit } from './protocol.js';
import { CallClock, INSTANTIATE } from './watchdog.js';
import { type MemoryAccess, ProcExit, wasiImports } from './wasi-imports.js';

const port = parentPort!;
type ToWorker = { type: 'init'; init: WorkerInit } | { type: 'run'; config?: string };
// One listener for the worker's life; messages that arrive before their handler is ready wait here.
const inbox: ToWorker[] = [];
let deliver: ((m: ToWorker) => void) | undefined;
port.on('message', (m: ToWorker) => (deliver ? deliver(m) : inbox.push(m)));
/** Given at spawn, or, to a worker started before its plugin was known (prespawn.ts), as the first message. */
const data: WorkerInit = (workerData as WorkerInit | undefined) ?? await new Promise<WorkerInit>((resolve) => {
  deliver = (m) => {
    if (m.type !== 'init') return;
    deliver = undefined;
    resolve(m.init);
  };
});
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
// Every socket this worker opens is listed where the main thread can close it after a termination.
recordSocketsIn(new FdLedger(data.fds));

/** Bytes one on_entries batch can hold: one kernel dump datagram (+ padding of the last message). */
const BATCH_BYTES = RECV_BUFFER_BYTES + 8;
/** Bytes one on_events batch can hold: every event already queued, up to this (EventSource needs >= 128 KiB). */
const EVENT_BATCH_BYTES = 256 * 1024;
/** Output is handed to the main thread in chunks of about this size, or this often. */
const PUBLISH_BYTES = 256 * 1024;
const PUBLISH_MS = 50;
/**
 * Output chunks the embedder released (RunOptions.onOutput's `release`) are filled again instead
 * of a fresh buffer per chunk: fresh chunks become garbage that V8 lets pile up (tens of MiB)
 * before the main thread collects it; a flow log's RSS rose by that much per 100k-flow burst.
 * Once chunks come back they are sized in powers of two so they fit later ones; before that,
 * exactly (a chunk an embedder keeps holds no slack). At most SPARE_MAX wait for reuse.
 */
const SPARE_MAX = 8;
const spare: ArrayBuffer[] = [];
let releasing = false;
function chunkBuffer(n: number): ArrayBuffer {
  for (let m; (m = receiveMessageOnPort(data.recycle)); releasing = true) if (spare.length < SPARE_MAX) spare.push(m.message as ArrayBuffer);
  const i = spare.findIndex((b) => b.byteLength >= n);
  return i >= 0 ? spare.splice(i, 1)[0] : new ArrayBuffer(releasing ? 2 ** Math.ceil(Math.log2(n)) : n);
}

const { OK, STOP, E_INVAL, E_BOUNDS, E_LIMIT, E_STATE } = STATUS;
const statusName = new Map(Object.entries(STATUS).filter(([k]) => k.startsWith('E_')).map(([k, v]) => [v, k]));
const levelName = new Map(Object.entries(abi.logLevels).map(([k, v]) => [v, k.toLowerCase() as LogLevel]));

/** A failure that ends the run, already described for the main thread. */
class RunFailure { constructor(readonly error: WorkerError) {} }

const clock = new CallClock(data.clock);
const grant = data.grant;
let backend: Backend | undefined;
/** @wasmer/wasi, loaded only for plugins that import WASI: parsing the package alone costs ~100 ms. */
let wasiLib: typeof import('@wasmer/wasi') | undefined;

class Run {
  readonly stats: RunStats = emptyStats();
  /** What the `config` hostcall answers: this run's config, else the one given at load. */
  private readonly configBytes: Uint8Array;
  private instance!: WebAssembly.Instance;
  private memory?: WebAssembly.Memory;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));
  private readonly logs = new LogSink(grant.limits.log_lines_per_s, this.stats);
  /** Output not yet handed to the main thread: its first outputBytes bytes (copied into a chunk). */
  private output = new Uint8Array(0);
  /** The capability gate: every conntrack request of this run goes through it. */
  private gate!: ScopedConntrack;
  private readonly mem: MemoryAccess = { span: (p, n) => this.span(p, n), u8: () => this.u8, dv: () => this.dv };

  constructor(config: string) {
    this.configBytes = new TextEncoder().encode(config);
  }

  /**
   * Builds the import object (ctplug hostcalls from abi.json, plus the allowed WASI functions)
   * and instantiates, under the deadline: the module's start section runs here. Imports called
   * from a start section fail the run: the instance (its memory) does not exist yet.
   */
  instantiate(): void {
    const impls: Record<string, (...a: number[]) => number> = {
      dump: (p, n) => this.request('dump', p, n), delete: (p, n) => this.request('delete', p, n), update: (p, n) => this.request('update', p, n),
      create: (p, n) => this.request('create', p, n), flush: (p, n) => this.request('flush', p, n), subscribe: (p, n) => this.subscribe(p, n),
      emit: (p, n) => this.emit(p, n),
      log: (l, p, n) => this.log(l, p, n), config: (p, n) => this.config(p, n),
      clock: () => (performance.timeOrigin + performance.now()) / 1000,
    };
    const ready = <F extends (...a: never[]) => unknown>(name: string, f: F): F => ((...a: Parameters<F>) => {
      if (!this.memory) {
        throw new RunFailure({ kind: 'status', call: INSTANTIATE, code: E_STATE, detail: `the start section called ${name}; imports are not available before the instance exists (export _start or use ctplug_init instead)` });
      }
      return f(...a);
    }) as F;
    const ctplug: Record<string, (...a: number[]) => number> = {};
    for (const name of Object.keys(abi.imports)) {
      const impl = impls[name];
      if (!impl) throw new Error(`host bug: sdk/abi.json import ctplug.${name} has no implementation`);
      const denied = name in GATE_REQUESTS ? this.gate.denied(name as Request) : undefined;
      ctplug[name] = ready(`${abi.importModule}.${name}`, denied ? () => this.refuse(name, denied) : impl);
    }
    const imports: WebAssembly.Imports = { [abi.importModule]: ctplug };
    let wasi: WASI | undefined;
    if (data.usesWasi) {
      // @wasmer/wasi with its in-memory FS: no preopens, no env, argv = [plugin name].
      wasi = new wasiLib!.WASI({ args: [data.plugin], env: {} });
      const all = (wasi.getImports(data.module) as Record<string, Record<string, WebAssembly.ImportValue>>)[abi.wasiModule];
      const own = wasiImports(this.mem, this.logs, all);
      imports[abi.wasiModule] = Object.fromEntries(Object.entries(own).map(([n, f]) => [n, ready(`${abi.wasiModule}.${n}`, f as (...a: never[]) => unknown)]));
    }
    clock.enter(INSTANTIATE);
    try {
      this.instance = new WebAssembly.Instance(data.module, imports);
    } catch (e) {
      throw this.describe(e, INSTANTIATE);
    } finally {
      clock.hostWork();
    }
    wasi?.instantiate(this.instance); // binds the WASI functions to this instance's memory
    this.memory = this.instance.exports[EXPORT.memory] as WebAssembly.Memory;
  }

  /** Views of the current memory; memory.grow detaches the old ArrayBuffer. */
  private refresh(): void {
    if (this.u8.buffer !== this.memory!.buffer) {
      this.u8 = new Uint8Array(this.memory!.buffer);
      this.dv = new DataView(this.memory!.buffer);
    }
  }

  /** The i32 (ptr, len) pair as a checked range; negative or past the end of memory is E_BOUNDS. */
  private span(ptr: number, len: number): boolean {
    this.refresh();
    return ptr >= 0 && len >= 0 && ptr + len <= this.u8.length;
  }

  /** A refused hostcall: counted, explained once per (call, status), status returned to the plugin. */
  private refuse(call: string, r: Refusal): number {
    this.stats.refused++;
    this.logs.note(`${call}:${r.status}`, 'warn', `${call} refused (${statusName.get(r.status)}): ${r.why}`);
    return r.status;
  }

  private outcome(call: string, r: Admitted): number {
    return r instanceof Refusal ? this.refuse(call, r) : r;
  }

  // ---- hostcalls ---------------------------------------------------------------------------

  /** A request to the gate: the bytes it names (bounds-checked here), its outcome as the plugin's status. */
  private request(call: Exclude<Request, 'subscribe'>, ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse(call, new Refusal(E_BOUNDS, call === 'dump' || call === 'flush' ? 'request out of bounds' : 'buffer out of bounds'));
    return this.outcome(call, this.gate[call](this.u8.subarray(ptr, ptr + len)));
  }

  private subscribe(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('subscribe', new Refusal(E_BOUNDS, 'request out of bounds'));
    if (!this.instance.exports[EXPORT.onEvents]) return this.refuse('subscribe', new Refusal(E_STATE, `the plugin does not export ${EXPORT.onEvents}`));
    return this.outcome('subscribe', this.gate.subscribe(this.u8.subarray(ptr, ptr + len)));
  }

  private emit(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('emit', new Refusal(E_BOUNDS, 'buffer out of bounds'));
    const cap = grant.limits.output_bytes;
    if (this.stats.emittedBytes + len > cap) {
      this.stats.refused++;
      this.logs.note('emit:cap', 'warn', `output limit reached (${cap} bytes); further output is dropped`);
      return E_LIMIT;
    }
    if (this.outputBytes + len > this.output.length) {
      const bigger = new Uint8Array(Math.max(this.outputBytes + len, 2 * this.output.length));
      bigger.set(this.output.subarray(0, this.outputBytes));
      this.output = bigger;
    }
    this.output.set(this.u8.subarray(ptr, ptr + len), this.outputBytes);
    this.outputBytes += len;
    this.stats.emittedBytes += len;
    return OK;
  }

  private log(level: number, ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('log', new Refusal(E_BOUNDS, 'buffer out of bounds'));
    const name = levelName.get(level);
    if (!name) return this.refuse('log', new Refusal(E_INVAL, `unknown log level ${level}`));
    const text = new TextDecoder().decode(this.u8.subarray(ptr, ptr + Math.min(len, MAX_LINE_BYTES + 4)));
    return this.logs.line(name, 'log', text.replace(/\n$/, '')) ? OK : E_LIMIT;
  }

  private config(ptr: number, cap: number): number {
    if (!this.span(ptr, cap)) return this.refuse('config', new Refusal(E_BOUNDS, 'buffer out of bounds'));
    if (this.configBytes.length <= cap) this.u8.set(this.configBytes, ptr);
    return this.configBytes.length;
  }

  // ---- export calls ------------------------------------------------------------------------

  /**
   * Calls one export under the watchdog clock; traps and exits become RunFailure. The clock
   * keeps running after it returns, over the host work the call queued (watchdog.ts).
   */
  private call(name: string, ...args: number[]): number {
    const fn = this.instance.exports[name] as ((...a: number[]) => number) | undefined;
    if (!fn) return OK;
    clock.enter(name);
    try {
      return fn(...args) ?? OK;
    } catch (e) {
      this.gate.discard(); // a call that did not finish does not get its queued operations sent
      throw this.describe(e, name);
    } finally {
      clock.hostWork();
      this.logs.flushLong();
    }
  }

  private check(name: string, status: number): number {
    if (status < 0) {
      const why = this.logs.lastError ? ` (plugin said: ${this.logs.lastError})` : '';
      throw new RunFailure({ kind: 'status', call: name, code: status, detail: `returned ${statusName.get(status) ?? status}${why}` });
    }
    return status;
  }

  private describe(e: unknown, call: string): RunFailure | ProcExit {
    if (e instanceof ProcExit) {
      if (e.code === 0) return e;
      const last = this.logs.lastStderr();
      return new RunFailure({ kind: 'exit', call, code: e.code, detail: `exit code ${e.code}${last ? `: ${last}` : ''}` });
    }
    if (e instanceof RunFailure) return e;
    // Stack overflow in Wasm surfaces as a RangeError; everything else the engine raises is a
    // RuntimeError (a LinkError or CompileError here can only come from the module too).
    if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError || (call === INSTANTIATE && e instanceof Error)) {
      const frames = (e.stack ?? '').split('\n').filter((l) => l.includes('wasm://') || l.includes('wasm-function'));
      // The SDK's abort() logs "abort: MESSAGE at FILE:LINE:COL" and then traps: that line is the reason.
      const abort = this.logs.lastError.startsWith('abort: ') ? escapeText(this.logs.lastError) : undefined;
      return new RunFailure({ kind: 'trap', call, message: escapeText(e.message), abort, stack: frames.slice(0, 20).map(escapeText).join('\n') || undefined });
    }
    return new RunFailure(hostFailure(e, call));
  }

  /**
   * After each export call: queued kernel operations (on the call's clock), then logs, output
   * and progress to main. During a dump, output and progress are coalesced (a message per batch
   * costs more than the batch); `now` (events, the end of a run) sends everything at once.
   */
  private async afterCall(now = true): Promise<void> {
    const sent = this.gate.send();
    if (sent instanceof Promise) await sent;
    this.publish(now);
  }


  private outputBytes = 0;
  private lastPublish = 0;

  private publish(now = true): void {
    const lines = this.logs.take();
    if (lines.length) post({ type: 'log', lines });
    const t = performance.now();
    if (!now && this.outputBytes < PUBLISH_BYTES && t - this.lastPublish < PUBLISH_MS) return;
    this.lastPublish = t;
    if (this.outputBytes) {
      const bytes = new Uint8Array(chunkBuffer(this.outputBytes), 0, this.outputBytes);
      bytes.set(this.output.subarray(0, this.outputBytes));
      // One huge emit does not keep its staging size for the rest of a long event run.
      if (this.output.length > 4 * PUBLISH_BYTES) this.output = new Uint8Array(0);
      this.outputBytes = 0;
      clock.waitForOutputCredit(); // the embedder's consumer is behind: produce nothing more until it catches up
      clock.chunkPosted();
      post({ type: 'emit', bytes }, [bytes.buffer as ArrayBuffer]);
    }
    post({ type: 'progress', stats: this.stats });
  }

  async execute(b: Backend): Promise<void> {
    this.gate = new ScopedConntrack(b.ops, grant, this.stats, (k, l, t) => this.logs.note(k, l, t));
    try {
      this.instantiate();
      if (this.instance.exports[EXPORT.start]) this.call(EXPORT.start);
      this.check(EXPORT.init, this.call(EXPORT.init));
      await this.afterCall();
      await this.deliver();
      this.check(EXPORT.finish, this.call(EXPORT.finish));
      await this.afterCall();
    } catch (e) {
      if (!(e instanceof ProcExit)) throw e; // exit(0): the plugin is done
      await this.afterCall();
    } finally {
      clock.leave();
      this.logs.end();
      this.publish();
    }
  }

  /**
   * Push model: every scheduled dump, one ctplug_on_entries call per received buffer; then, when
   * subscribed, event batches to ctplug_on_events until stopped.
   */
  private async deliver(): Promise<void> {
    const dumps = this.gate.dumps;
    const sub = this.gate.subscription;
    if (!dumps.length && !sub) return;
    const size = sub ? EVENT_BATCH_BYTES + 8 : BATCH_BYTES;
    const ptr = this.check(EXPORT.alloc, this.call(EXPORT.alloc, size));
    if (!this.span(ptr, size)) {
      throw new RunFailure({ kind: 'status', call: EXPORT.alloc, code: E_BOUNDS, detail: `returned ${ptr}, which is not a ${size}-byte buffer inside memory` });
    }
    // Dumps scheduled from inside on_entries are appended and delivered after the current one.
    for (let i = 0; i < dumps.length && !clock.stopRequested(); i++) await this.dump1(dumps[i], ptr, size, 0);
    if (sub) await this.listen(ptr, size);
  }

  /** One scheduled dump. Returns true when the plugin said STOP (or the run was stopped). */
  private async dump1(plan: Plan, ptr: number, size: number, firstFlags: number): Promise<boolean> {
    const r = this.gate.deliver(plan, {
      into: () => {
        this.refresh();
        return this.u8.subarray(ptr, ptr + size);
      },
      batch: (len, flags) => {
        const status = this.check(EXPORT.onEntries, this.call(EXPORT.onEntries, ptr, len, flags));
        return then(this.gate.send(), () => {
          this.publish(false);
          return status !== STOP;
        });
      },
      stopped: () => clock.stopRequested(),
    }, firstFlags);
    return r instanceof Promise ? await r : r;
  }

  /**
   * Event batches until the embedder stops the run (or the fake's script ends, or STOP). Waiting
   * for events is readiness on this worker's event loop, and a stop ends the wait at once.
   */
  private async listen(ptr: number, size: number): Promise<void> {
    const { plan } = this.gate.subscription!;
    const events = this.gate.openEvents();
    const buf = new Uint8Array(EVENT_BATCH_BYTES);
    const stop = clock.whenStopped();
    try {
      while (!clock.stopRequested()) {
        clock.leave(); // waiting for the kernel is nobody's time
        let b: Awaited<ReturnType<typeof events.read>>;
        try {
          b = await events.read(buf, { signal: stop.signal });
        } catch (e) {
          if (e instanceof AbortError && clock.stopRequested()) break;
          throw e;
        }
        // A stop that came while events arrived wins: nothing is delivered after it.
        if (b === null || clock.stopRequested()) break;
        if (b === 'overrun') {
          // Events were lost: the plugin's view is stale. Re-dump the subscribed scope (RESYNC).
          this.stats.overruns++;
          const resync = grant.operations.includes('read');
          this.logs.note('overrun', 'warn', `events were lost (kernel receive buffer overrun)${resync ? '; the subscribed scope is dumped again (RESYNC)' : ''}`);
          if (resync) {
            const t0 = performance.now();
            this.stats.resyncs++;
            events.drain?.(); // stale events queued before the loss would undo the dump
            const stop = await this.dump1(plan, ptr, size, abi.batchFlags.RESYNC);
            this.stats.resyncMs += performance.now() - t0;
            this.publish();
            if (stop) break;
          }
          continue;
        }
        this.refresh();
        const len = b.count ? this.gate.admit(b.bytes, plan.matcher, this.u8.subarray(ptr, ptr + size), 'events') : 0;
        if (len === 0) continue;
        const status = this.check(EXPORT.onEvents, this.call(EXPORT.onEvents, ptr, len, 0));
        await this.afterCall();
        if (status === STOP) break;
      }
    } finally {
      stop.dispose();
      events.close();
    }
  }
}

/** The gate's requests, by hostcall name. */
const GATE_REQUESTS: Record<Request, true> = { dump: true, delete: true, update: true, create: true, flush: true, subscribe: true };

/** A failure outside the plugin, for the main thread; a CtError keeps its fields (the same class on both sides). */
function hostFailure(e: unknown, call: string): WorkerError {
  const err = e as { message?: string; name?: string; hint?: string };
  const ct = e instanceof CtError ? { op: e.op, code: e.code, kind: e.kind, detail: e.detail, errno: e.errno, ack: e.ack, hint: e.hint } : undefined;
  return { kind: 'host', call, message: err?.message ?? String(e), name: err?.name, hint: err?.hint, ct };
}

async function onMessage(msg: ToWorker): Promise<void> {
  if (msg.type !== 'run') return;
  const run = new Run(msg.config ?? data.config);
  try {
    // @wasmer/wasi's own module costs ~50 ms to initialise: once per worker, reused across runs.
    if (data.usesWasi && !wasiLib) {
      const lib = await import('@wasmer/wasi');
      await lib.init();
      wasiLib = lib;
    }
    backend ??= await openBackend(data.backend);
    await run.execute(backend);
    const table = backend?.table?.();
    post({ type: 'done', stats: run.stats, table }, table ? [table.buffer as ArrayBuffer] : []);
  } catch (e) {
    const error: WorkerError = e instanceof RunFailure ? e.error : hostFailure(e, 'run');
    post({ type: 'failed', error, stats: run.stats });
  }
}

deliver = (m) => void onMessage(m);
for (const m of inbox.splice(0)) void onMessage(m);

