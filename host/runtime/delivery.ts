// Delivery, the push model: after ctplug_init, every dump the plugin scheduled, one
// ctplug_on_entries call per received buffer (the gate copies the in-scope entries into the
// plugin's batch buffer) and ctplug_on_dump_done once a dump is delivered in full; then, when subscribed, event batches to ctplug_on_events until the run
// is stopped, with a RESYNC dump of the subscribed scope after lost events. After each call, what
// it queued is sent (the gate) and its output published; both on the call's clock.
import { AbortError } from '../netlink/abort.js';
import { RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { then } from '../conntrack/ops.js';
import { abi, EXPORT, STATUS } from '../policy/abi.js';
import type { Grant } from '../policy/grant.js';
import type { Plan, ScopedConntrack } from '../scoped/gate.js';
import { type CallContext, type RunClock, RunFailure } from './call-context.js';
import type { LogSink } from './log-sink.js';
import type { Output } from './output.js';
import type { RunStats } from './protocol.js';

const { STOP, E_BOUNDS } = STATUS;

/** Bytes one on_entries batch can hold: one kernel dump datagram (+ padding of the last message). */
const BATCH_BYTES = RECV_BUFFER_BYTES + 8;
/** Bytes one on_events batch can hold: every event already queued, up to this (EventSource needs >= 128 KiB). */
const EVENT_BATCH_BYTES = 256 * 1024;

export interface DeliveryParts {
  ctx: CallContext;
  gate: ScopedConntrack;
  output: Output;
  clock: RunClock;
  grant: Grant;
  stats: RunStats;
  logs: LogSink;
}

/** What an export call queued goes to the kernel, then its output is published. */
export function afterCall(p: Pick<DeliveryParts, 'gate' | 'output'>, now = true): Promise<void> | void {
  return then(p.gate.send(), () => p.output.publish(now));
}

export class Delivery {
  /** The plugin's batch buffer (ctplug_alloc), and its size. */
  private ptr = 0;
  private size = 0;

  constructor(private readonly p: DeliveryParts) {}

  async run(): Promise<void> {
    const { ctx, gate, clock } = this.p;
    const dumps = gate.dumps;
    const sub = gate.subscription;
    if (!dumps.length && !sub) return;
    this.size = sub ? EVENT_BATCH_BYTES + 8 : BATCH_BYTES;
    this.ptr = ctx.check(EXPORT.alloc, ctx.call(EXPORT.alloc, this.size));
    if (!ctx.span(this.ptr, this.size)) {
      throw new RunFailure({ kind: 'status', call: EXPORT.alloc, code: E_BOUNDS, detail: `returned ${this.ptr}, which is not a ${this.size}-byte buffer inside memory` });
    }
    // Dumps scheduled from inside on_entries or on_dump_done are appended and delivered after the current one.
    for (let i = 0; i < dumps.length && !clock.stopRequested(); i++) {
      if ((await this.dump(dumps[i], 0)) || !ctx.exports(EXPORT.onDumpDone)) continue;
      const status = ctx.check(EXPORT.onDumpDone, ctx.call(EXPORT.onDumpDone, i));
      await afterCall(this.p);
      if (status === STOP) break;
    }
    if (sub) await this.listen(sub.plan);
  }

  /** One scheduled dump; true when the plugin said STOP (or the run was stopped). */
  private dump(plan: Plan, firstFlags: number): boolean | Promise<boolean> {
    const { ctx, gate, clock } = this.p;
    return gate.deliver(plan, {
      into: () => ctx.bytes(this.ptr, this.size),
      batch: (len, flags) => {
        const status = ctx.check(EXPORT.onEntries, ctx.call(EXPORT.onEntries, this.ptr, len, flags));
        return then(afterCall(this.p, false), () => status !== STOP);
      },
      stopped: () => clock.stopRequested(),
    }, firstFlags);
  }

  /**
   * Event batches until the embedder stops the run (or a scripted source ends, or STOP). Waiting
   * for events is readiness on this thread's event loop, and a stop ends the wait at once.
   */
  private async listen(plan: Plan): Promise<void> {
    const { ctx, gate, clock, stats, logs, output, grant } = this.p;
    const events = gate.openEvents();
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
          stats.overruns++;
          const resync = grant.operations.includes('read');
          logs.note('overrun', 'warn', `events were lost (kernel receive buffer overrun)${resync ? '; the subscribed scope is dumped again (RESYNC)' : ''}`);
          if (resync) {
            const t0 = performance.now();
            stats.resyncs++;
            events.drain?.(); // stale events queued before the loss would undo the dump
            const stopped = await this.dump(plan, abi.batchFlags.RESYNC);
            stats.resyncMs += performance.now() - t0;
            output.publish();
            if (stopped) break;
          }
          continue;
        }
        const len = b.count ? gate.admit(b.bytes, plan.matcher, ctx.bytes(this.ptr, this.size), 'events') : 0;
        if (len === 0) continue;
        const status = ctx.check(EXPORT.onEvents, ctx.call(EXPORT.onEvents, this.ptr, len, 0));
        await afterCall(this.p);
        if (status === STOP) break;
      }
    } finally {
      stop.dispose();
      events.close();
    }
  }
}
