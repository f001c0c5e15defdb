// One plugin instance as the host calls it: the instance and its memory (views re-taken after
// memory.grow, every (ptr, len) bounds-checked), each export call under the deadline clock, and
// what a call's failure means (trap, exit, bad status) as a RunFailure for whoever reports it.
// Nothing here assumes a worker thread: a main-thread runner (trusted first-party plugins, issue
// 15) gives it its own clock.
import { CtError } from '../conntrack/errors.js';
import { EXPORT, STATUS } from '../policy/abi.js';
import { escapeText } from '../policy/untrusted-text.js';
import type { LogSink } from './log-sink.js';
import type { WorkerError } from './protocol.js';
import type { MemoryAccess } from './wasi-imports.js';
import { ProcExit } from './wasi-imports.js';
import { INSTANTIATE, type CallClock } from './watchdog.js';

const { OK, E_STATE } = STATUS;
export const statusName = new Map(Object.entries(STATUS).filter(([k]) => k.startsWith('E_')).map(([k, v]) => [v, k]));

/** The deadline clock as a run uses it (watchdog.ts CallClock; a main-thread runner may bring another). */
export type RunClock = Pick<CallClock, 'enter' | 'hostWork' | 'leave' | 'stopRequested' | 'whenStopped'>;

/** A failure that ends the run, already described for whoever reports it. */
export class RunFailure {
  constructor(readonly error: WorkerError) {}
}

export class CallContext implements MemoryAccess {
  private instance?: WebAssembly.Instance;
  private memory?: WebAssembly.Memory;
  private view8 = new Uint8Array(0);
  private view = new DataView(new ArrayBuffer(0));

  /** `unfinished`: a call trapped or exited, so what it queued must not be sent (the gate's discard). */
  constructor(private readonly clock: RunClock, private readonly logs: LogSink, private readonly unfinished: () => void) {}

  /** Instantiates under the deadline: the module's start section runs here. */
  instantiate(module: WebAssembly.Module, imports: WebAssembly.Imports): WebAssembly.Instance {
    this.clock.enter(INSTANTIATE);
    try {
      this.instance = new WebAssembly.Instance(module, imports);
    } catch (e) {
      throw this.describe(e, INSTANTIATE);
    } finally {
      this.clock.hostWork();
    }
    this.memory = this.instance.exports[EXPORT.memory] as WebAssembly.Memory;
    return this.instance;
  }

  /**
   * `f` as an import: called from a start section (the instance, and its memory, do not exist
   * yet) it fails the run instead of running.
   */
  guarded<F extends (...a: never[]) => unknown>(name: string, f: F): F {
    return ((...a: Parameters<F>) => {
      if (!this.memory) {
        throw new RunFailure({ kind: 'status', call: INSTANTIATE, code: E_STATE, detail: `the start section called ${name}; imports are not available before the instance exists (export _start or use ctplug_init instead)` });
      }
      return f(...a);
    }) as F;
  }

  exports(name: string): boolean {
    return !!this.instance?.exports[name];
  }

  /** Views of the current memory; memory.grow detaches the old ArrayBuffer. */
  private refresh(): void {
    if (this.view8.buffer !== this.memory!.buffer) {
      this.view8 = new Uint8Array(this.memory!.buffer);
      this.view = new DataView(this.memory!.buffer);
    }
  }

  /** The i32 (ptr, len) pair as a checked range; negative or past the end of memory is false (E_BOUNDS). */
  span(ptr: number, len: number): boolean {
    this.refresh();
    return ptr >= 0 && len >= 0 && ptr + len <= this.view8.length;
  }

  /** The range as a view (after span said it is inside). */
  bytes(ptr: number, len: number): Uint8Array {
    this.refresh();
    return this.view8.subarray(ptr, ptr + len);
  }

  u8(): Uint8Array {
    return this.view8;
  }

  dv(): DataView {
    return this.view;
  }

  /**
   * Calls one export under the deadline clock; traps and exits become RunFailure. The clock
   * keeps running after it returns, over the host work the call queued (watchdog.ts).
   */
  call(name: string, ...args: number[]): number {
    const fn = this.instance!.exports[name] as ((...a: number[]) => number) | undefined;
    if (!fn) return OK;
    this.clock.enter(name);
    try {
      return fn(...args) ?? OK;
    } catch (e) {
      this.unfinished();
      throw this.describe(e, name);
    } finally {
      this.clock.hostWork();
      this.logs.flushLong();
    }
  }

  /** A status an export returned: negative fails the run, with the plugin's own last error line. */
  check(name: string, status: number): number {
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
}

/** A failure outside the plugin; a CtError keeps its fields (the main thread raises the same class). */
export function hostFailure(e: unknown, call: string): WorkerError {
  const err = e as { message?: string; name?: string; hint?: string };
  const ct = e instanceof CtError ? { op: e.op, code: e.code, kind: e.kind, detail: e.detail, errno: e.errno, ack: e.ack, hint: e.hint } : undefined;
  return { kind: 'host', call, message: err?.message ?? String(e), name: err?.name, hint: err?.hint, ct };
}
