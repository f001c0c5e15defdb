// The deadline clock shared by a worker and the main thread. Worker threads cannot be preempted
// from inside, so the worker records which export it is in and since when (in a SharedArrayBuffer,
// readable while the worker is busy) and the main thread terminates it once that call is too old.
// The clock keeps running after the call returns, while the host does the work the call asked
// for (queued kernel operations, the dump batches it scheduled), until the next call or until
// the worker waits (for events, or for the embedder's consumer): that work is the plugin's time.
import { abi } from '../policy/abi.js';

/** The instantiation of the module (its start section runs there), timed like an export call. */
export const INSTANTIATE = 'instantiation (start section)';

/** Export functions the host calls, in a fixed order shared by both sides (index + 1 is stored). */
export const CALL_NAMES = [...Object.entries(abi.exports.required), ...Object.entries(abi.exports.optional)]
  .filter(([, def]) => (def as { kind?: string }).kind === undefined)
  .map(([name]) => name)
  .concat(INSTANTIATE);

/** Output chunks the worker may have posted that the embedder has not consumed yet. */
export const CHUNKS_IN_FLIGHT = 2;

/**
 * Layout: int32 [0] current call (index + 1, 0 = idle), int32 [1] stop requested, int32 [2]
 * output chunks posted and not yet consumed, int32 [3] 1 while the host works on what the call
 * queued, float64 at byte 16: when the current call started (ms since the epoch).
 */
export class CallClock {
  private readonly words: Int32Array;
  private readonly since: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(24)) {
    this.words = new Int32Array(buffer, 0, 4);
    this.since = new Float64Array(buffer, 16, 1);
  }

  enter(name: string): void {
    this.since[0] = Date.now();
    Atomics.store(this.words, 3, 0);
    Atomics.store(this.words, 0, CALL_NAMES.indexOf(name) + 1);
  }

  /** The call returned; the clock runs on while the host does the work it queued. */
  hostWork(): void {
    Atomics.store(this.words, 3, 1);
  }

  /** Nothing runs for the plugin (waiting for events or for the embedder): the clock stops. */
  leave(): void {
    Atomics.store(this.words, 0, 0);
  }

  /**
   * The call in progress (or whose queued work the host is doing: `hostWork`) and how long
   * since it started, or null when idle.
   */
  current(now = Date.now()): { name: string; elapsedMs: number; hostWork: boolean } | null {
    const i = Atomics.load(this.words, 0);
    return i === 0 ? null : { name: CALL_NAMES[i - 1] ?? 'wasm', elapsedMs: now - this.since[0], hostWork: Atomics.load(this.words, 3) === 1 };
  }

  /** The embedder wants the run to end (stop, abort): checked by the worker between batches. */
  requestStop(): void {
    Atomics.store(this.words, 1, 1);
    Atomics.notify(this.words, 1); // a worker waiting for events (whenStopped) wakes at once
    Atomics.notify(this.words, 2); // a worker waiting for output credit must see the stop
  }
  /**
   * Worker side, while it waits for events: a signal that aborts as soon as a stop is requested
   * (Atomics.waitAsync: no polling). Call dispose() when the wait is over.
   */
  whenStopped(): { signal: AbortSignal; dispose(): void } {
    const ac = new AbortController();
    let disposed = false;
    const fire = () => { if (!disposed && this.stopRequested()) ac.abort('stopped'); };
    const w = Atomics.waitAsync(this.words, 1, 0);
    if (w.async) void w.value.then(fire);
    else fire();
    return { signal: ac.signal, dispose: () => { disposed = true; Atomics.notify(this.words, 1); } };
  }
  stopRequested(): boolean { return Atomics.load(this.words, 1) === 1; }
  clearStop(): void { Atomics.store(this.words, 1, 0); }

  /**
   * Output flow control, by credit: the worker posts at most CHUNKS_IN_FLIGHT output chunks the
   * embedder has not consumed (its onOutput promise settled), then waits between batches, with
   * the clock stopped (the embedder's time). Kernel data waits in the socket meanwhile (events:
   * counted as overruns if it overflows). Deterministic: however slow the main thread is to
   * see a chunk, no more than that many are ever outstanding.
   */
  chunkPosted(): void { Atomics.add(this.words, 2, 1); }
  chunkConsumed(): void {
    Atomics.sub(this.words, 2, 1);
    Atomics.notify(this.words, 2);
  }
  /** Worker side, before posting a chunk: blocks while CHUNKS_IN_FLIGHT are outstanding (unless a stop is requested). */
  waitForOutputCredit(): void {
    for (let n; (n = Atomics.load(this.words, 2)) >= CHUNKS_IN_FLIGHT && !this.stopRequested(); ) {
      this.leave();
      Atomics.wait(this.words, 2, n, 1000);
    }
  }
}
