// The deadline clock shared by a worker and the main thread. Worker threads cannot be preempted
// from inside, so the worker records which export it is in and since when (in a SharedArrayBuffer,
// readable while the worker is busy) and the main thread terminates it once that call is too old.
import { abi } from './abi.js';

/** Export functions the host calls, in a fixed order shared by both sides (index + 1 is stored). */
export const CALL_NAMES = [...Object.entries(abi.exports.required), ...Object.entries(abi.exports.optional)]
  .filter(([, def]) => (def as { kind?: string }).kind === undefined)
  .map(([name]) => name);

export class CallClock {
  private readonly call: Int32Array;
  private readonly since: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(16)) {
    this.call = new Int32Array(buffer, 0, 1);
    this.since = new Float64Array(buffer, 8, 1);
  }

  enter(name: string): void {
    this.since[0] = Date.now();
    Atomics.store(this.call, 0, CALL_NAMES.indexOf(name) + 1);
  }

  leave(): void {
    Atomics.store(this.call, 0, 0);
  }

  /** The call in progress and how long it has run, or null when the worker is not inside Wasm. */
  current(now = Date.now()): { name: string; elapsedMs: number } | null {
    const i = Atomics.load(this.call, 0);
    return i === 0 ? null : { name: CALL_NAMES[i - 1] ?? 'wasm', elapsedMs: now - this.since[0] };
  }
}
