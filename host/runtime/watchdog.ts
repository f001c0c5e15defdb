// The deadline clock shared by a worker and the main thread. Worker threads cannot be preempted
// from inside, so the worker records which export it is in and since when (in a SharedArrayBuffer,
// readable while the worker is busy) and the main thread terminates it once that call is too old.
import { abi } from '../policy/abi.js';

/** Export functions the host calls, in a fixed order shared by both sides (index + 1 is stored). */
export const CALL_NAMES = [...Object.entries(abi.exports.required), ...Object.entries(abi.exports.optional)]
  .filter(([, def]) => (def as { kind?: string }).kind === undefined)
  .map(([name]) => name);

/**
 * Layout: int32 [0] current call (index + 1, 0 = not in Wasm), int32 [1] stop requested,
 * int32 [2] output paused (the embedder's consumer is behind), float64 at byte 16: when the
 * current call started (ms since the epoch).
 */
export class CallClock {
  private readonly words: Int32Array;
  private readonly since: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(24)) {
    this.words = new Int32Array(buffer, 0, 3);
    this.since = new Float64Array(buffer, 16, 1);
  }

  enter(name: string): void {
    this.since[0] = Date.now();
    Atomics.store(this.words, 0, CALL_NAMES.indexOf(name) + 1);
  }

  leave(): void {
    Atomics.store(this.words, 0, 0);
  }

  /** The call in progress and how long it has run, or null when the worker is not inside Wasm. */
  current(now = Date.now()): { name: string; elapsedMs: number } | null {
    const i = Atomics.load(this.words, 0);
    return i === 0 ? null : { name: CALL_NAMES[i - 1] ?? 'wasm', elapsedMs: now - this.since[0] };
  }

  /** The embedder wants the run to end (stop, abort): checked by the worker between batches. */
  requestStop(): void {
    Atomics.store(this.words, 1, 1);
    Atomics.notify(this.words, 1); // a worker waiting for events (whenStopped) wakes at once
    this.resume(); // a paused worker must see the stop
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
   * Output flow control: while the embedder's consumer (e.g. a slow stdout pipe) is behind, the
   * worker waits between batches instead of producing output the host would have to buffer.
   * Kernel data waits in the socket meanwhile (events: counted as overruns if it overflows).
   */
  pause(): void { Atomics.store(this.words, 2, 1); }
  resume(): void {
    Atomics.store(this.words, 2, 0);
    Atomics.notify(this.words, 2);
  }
  /** Worker side, between export calls: blocks while paused (never inside Wasm, so no deadline runs). */
  waitWhilePaused(): void {
    while (Atomics.load(this.words, 2) === 1) Atomics.wait(this.words, 2, 1, 1000);
  }
}
