// The kernel work an asker (a plugin's run, a client's session) requests, bounded. Deletes,
// updates, creates and flushes queued during one call are sent after it returns (a plugin's call
// may still trap: then nothing is sent); dumps are scheduled for the session. Each verb has caps
// per call and per session ("run"), in operations and in bytes of host memory; past one the
// request gets E_LIMIT and nothing of it is queued. For a plugin the time the host spends sending
// runs on the call's deadline clock (runtime/watchdog.ts).
import type { HeldChange } from '../conntrack/ops.js';
import type { NewEntry } from '../conntrack/request.js';
import type { DumpPlan } from '../policy/enforce.js';

export type Plan = Extract<DumpPlan, { ok: true }>;

export type Op =
  | { kind: 'delete'; msgs: Uint8Array[] }
  | { kind: 'update'; items: HeldChange[] }
  | { kind: 'create'; entries: NewEntry[] }
  | { kind: 'flush'; plan: Plan };

export type Verb = Op['kind'] | 'dump';

interface Cap { ops: number; bytes: number }

const MiB = 1024 * 1024;
/**
 * Bytes are what the host holds for the operation: the entry messages of deletes and updates,
 * a record's worth per create, flush and dump. Creates are held as parsed objects, so their
 * count is the tighter bound. Flushes and dumps each walk the kernel's table, hence few. The
 * per-run caps on deletes, updates and creates are far above any table (nf_conntrack_max is
 * 262144 by default) and stop only a plugin that never ends its run.
 */
export const QUEUE_CAPS: Record<Verb, { call: Cap; run: Cap }> = {
  delete: { call: { ops: 65_536, bytes: 16 * MiB }, run: { ops: 16 * MiB, bytes: 4096 * MiB } },
  update: { call: { ops: 65_536, bytes: 16 * MiB }, run: { ops: 16 * MiB, bytes: 4096 * MiB } },
  create: { call: { ops: 65_536, bytes: 4 * MiB }, run: { ops: 16 * MiB, bytes: 1024 * MiB } },
  flush: { call: { ops: 16, bytes: 16 * 16 }, run: { ops: 256, bytes: 256 * 16 } },
  dump: { call: { ops: 64, bytes: 64 * 16 }, run: { ops: 64, bytes: 64 * 16 } },
};

const PLURAL: Record<Verb, string> = { delete: 'deletes', update: 'updates', create: 'creates', flush: 'flushes', dump: 'dumps' };

const zero = (): Record<Verb, Cap> => ({ delete: { ops: 0, bytes: 0 }, update: { ops: 0, bytes: 0 }, create: { ops: 0, bytes: 0 }, flush: { ops: 0, bytes: 0 }, dump: { ops: 0, bytes: 0 } });

export class OpQueue {
  private pending: Op[] = [];
  private call = zero();
  private readonly run = zero();
  /** Dumps scheduled for this run, delivered after ctplug_init (and appended while delivering). */
  readonly dumps: Plan[] = [];

  /** Why `ops` more operations of `bytes` may not be queued now (a cap reached), or undefined. */
  refusal(verb: Verb, ops: number, bytes: number): string | undefined {
    const caps = QUEUE_CAPS[verb];
    for (const [scope, used, cap] of [['run', this.run[verb], caps.run], ['call', this.call[verb], caps.call]] as const) {
      if (used.ops + ops > cap.ops) return `more than ${cap.ops} ${PLURAL[verb]} in one ${scope}`;
      if (used.bytes + bytes > cap.bytes) return `more than ${cap.bytes} bytes of ${PLURAL[verb]} queued in one ${scope}`;
    }
    return undefined;
  }

  private count(verb: Verb, ops: number, bytes: number): void {
    for (const used of [this.call[verb], this.run[verb]]) {
      used.ops += ops;
      used.bytes += bytes;
    }
  }

  /** Queues an operation admitted by `refusal`. Consecutive ones of a kind go to the kernel as one batch. */
  push(op: Op, ops: number, bytes: number): void {
    this.count(op.kind, ops, bytes);
    const last = this.pending[this.pending.length - 1];
    if (last && last.kind === op.kind && op.kind !== 'flush') {
      if (op.kind === 'delete') (last as typeof op).msgs.push(...op.msgs);
      else if (op.kind === 'create') (last as typeof op).entries.push(...op.entries);
      else if (op.kind === 'update') (last as typeof op).items.push(...op.items);
    } else this.pending.push(op);
  }

  schedule(plan: Plan): void {
    this.count('dump', 1, 16);
    this.dumps.push(plan);
  }

  /** The operations of the call that just returned; the per-call counts start again. */
  take(): Op[] {
    const ops = this.pending;
    this.pending = [];
    this.call = zero();
    return ops;
  }

  /** A call that did not finish gets none of its operations sent. */
  discard(): void {
    this.take();
  }
}
