// A run's output on its way out: `emit` copies the plugin's bytes into host staging (within the
// grant's output cap; never written anywhere inside an export call, where a slow reader would eat
// the call's deadline), and `publish`, between calls, hands staging, log records and progress to
// the run's sink: a worker posts them to the main thread, a main-thread runner writes them.
import { STATUS } from '../policy/abi.js';
import type { LogSink } from './log-sink.js';
import type { LogLine, RunStats } from './protocol.js';

const { OK, E_LIMIT } = STATUS;

/** Output is handed on in chunks of about this size, or this often (during a dump). */
export const PUBLISH_BYTES = 256 * 1024;
const PUBLISH_MS = 50;

/** Where a run's output, logs and progress go. */
export interface RunSink {
  logs(lines: LogLine[]): void;
  /** Output bytes: a view of the staging buffer, valid only during the call (copy or write it now). */
  output(bytes: Uint8Array): void;
  progress(stats: RunStats): void;
}

export class Output {
  /** Output not yet handed on: its first `staged` bytes. */
  private buf = new Uint8Array(0);
  private staged = 0;
  private lastPublish = 0;

  constructor(private readonly capBytes: number, private readonly stats: RunStats, private readonly logs: LogSink, private readonly sink: RunSink) {}

  /** Stages the plugin's bytes; E_LIMIT (nothing staged) past the output cap. */
  emit(bytes: Uint8Array): number {
    const len = bytes.length;
    if (this.stats.emittedBytes + len > this.capBytes) {
      this.stats.refused++;
      this.logs.note('emit:cap', 'warn', `output limit reached (${this.capBytes} bytes); further output is dropped`);
      return E_LIMIT;
    }
    if (this.staged + len > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.staged + len, 2 * this.buf.length));
      bigger.set(this.buf.subarray(0, this.staged));
      this.buf = bigger;
    }
    this.buf.set(bytes, this.staged);
    this.staged += len;
    this.stats.emittedBytes += len;
    return OK;
  }

  /**
   * Logs, output and progress to the sink. During a dump (`now` false) output and progress are
   * coalesced (a message per batch costs more than the batch); events and the end of a run send
   * everything at once.
   */
  publish(now = true): void {
    const lines = this.logs.take();
    if (lines.length) this.sink.logs(lines);
    const t = performance.now();
    if (!now && this.staged < PUBLISH_BYTES && t - this.lastPublish < PUBLISH_MS) return;
    this.lastPublish = t;
    if (this.staged) {
      const view = this.buf.subarray(0, this.staged);
      this.staged = 0;
      this.sink.output(view);
      // One huge emit does not keep its staging size for the rest of a long event run.
      if (this.buf.length > 4 * PUBLISH_BYTES) this.buf = new Uint8Array(0);
    }
    this.sink.progress(this.stats);
  }
}
