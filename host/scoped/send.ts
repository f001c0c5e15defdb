// Sending the operations the gate admitted (op-queue.ts) through ConntrackOps, and counting what
// came of them. Deletes and updates of held entries, and flushes that fall back to deletes, go
// through the grant's confirmation (policy/confirm.ts) when it needs one.
import type { BatchResult } from '../conntrack/conntrack.js';
import type { Confirm } from '../conntrack/confirm.js';
import { type Awaitable, type ConntrackOps, loop, then } from '../conntrack/ops.js';
import type { KernelFilter } from '../conntrack/request.js';
import { scanInto, type ScopeFields } from '../conntrack/scope.js';
import { splitMessages } from '../netlink/message.js';
import type { MarkChange, ScopeMatcher } from '../policy/enforce.js';
import type { Op, Plan } from './op-queue.js';
import type { OpStats } from './stats.js';

export type NoteLevel = 'error' | 'warn' | 'info' | 'debug';
/** Where the gate explains what it did not do (once per key: a refusal repeated 10k times is one line). */
export type Note = (key: string, level: NoteLevel, text: string) => void;

/** One operation the kernel refused or failed (the first few of a session are kept, for the asker's message). */
export interface OpFailure {
  op: 'delete' | 'update' | 'create' | 'flush';
  /** The errno's name (EPERM, ENOSPC, ...). */
  errno: string;
  message: string;
}

/** Failures kept per session: enough to explain, bounded however many fail. */
export const FAILURES_KEPT = 8;

export interface SendContext {
  ops: ConntrackOps;
  stats: OpStats;
  failures: OpFailure[];
  note: Note;
  /** The grant's confirmation for held entries (undefined: none needed); updates pass their mark changes. */
  confirm(markChange?: (index: number) => MarkChange | undefined): Confirm | undefined;
  /** Scratch scope fields for the flush fallback's scan. */
  scratch: ScopeFields;
}

/**
 * The matcher for one kernel dump of a plan: a per-zone dump only accepts its own zone, so a kernel
 * that ignores CTA_ZONE in dumps (before 6.8) cannot make the asker see an entry twice.
 */
export function perFilter(plan: Plan, filter: KernelFilter): ScopeMatcher {
  return filter.zone === undefined || plan.filters.length === 1 ? plan.matcher : plan.matcher.narrowed({ zone: filter.zone });
}

function tally(op: Op, r: BatchResult, what: 'deleted' | 'created' | 'updated', c: SendContext): void {
  c.stats[what] += r.ok;
  c.stats.gone += r.gone;
  c.stats.failed += r.failed.length;
  const refused = r.refused ?? [];
  c.stats.changed += refused.length;
  for (const f of r.failed.slice(0, 3)) c.note(`${what}:${f.errno}`, 'warn', `${op.kind} failed: ${f.message}`);
  for (const f of r.failed.slice(0, FAILURES_KEPT - c.failures.length)) c.failures.push({ op: op.kind, errno: f.errno, message: f.message });
  if (refused.length) c.note(`${what}:changed`, 'warn', `${op.kind} not sent for ${refused.length} entr${refused.length === 1 ? 'y' : 'ies'} that changed since they were shown: ${refused[0].reason}`);
}

export function sendOp(op: Op, c: SendContext): Awaitable<void> {
  switch (op.kind) {
    case 'delete': return then(c.ops.delete(op.msgs, c.confirm()), (r) => tally(op, r, 'deleted', c));
    case 'create': return then(c.ops.create(op.entries), (r) => tally(op, r, 'created', c));
    case 'update': {
      const changes = op.items.map((it) => (it.mark === undefined ? undefined : { value: it.mark, mask: it.markMask ?? 0xffffffff, xor: it.markXor }));
      return then(c.ops.update(op.items, c.confirm((i) => changes[i])), (r) => tally(op, r, 'updated', c));
    }
    case 'flush': {
      c.stats.flushes++;
      const { plan } = op;
      // The kernel filters by zone, mark and family (ConntrackOps.flush does it exactly on any
      // kernel); when the grant narrows further (protocols, more than 16 zones) the flush is a
      // dump re-checked by the scanner, then deletes.
      if (plan.kernelExact) {
        let i = 0;
        return loop(() => i < plan.filters.length && then(c.ops.flush(plan.filters[i++], c.confirm()), (r) => {
          if (r) tally(op, r, 'deleted', c);
          return true;
        }));
      }
      const held: Uint8Array[] = [];
      let i = 0;
      const dumped = loop(() => {
        if (i >= plan.filters.length) return false;
        const f = plan.filters[i++];
        const matcher = perFilter(plan, f);
        const from = held.length;
        const cursor = c.ops.dump(f, () => void (held.length = from)); // restarted: its entries come again
        return then(loop(() => then(cursor.next(), (b) => {
          if (!b) return false;
          for (const m of splitMessages(b.entries)) if (scanInto(m, 0, m.length, c.scratch) && matcher.matches(c.scratch)) held.push(m.slice());
          return true;
        })), () => true);
      });
      return then(dumped, () => then(c.ops.delete(held, c.confirm()), (r) => tally(op, r, 'deleted', c)));
    }
  }
}
