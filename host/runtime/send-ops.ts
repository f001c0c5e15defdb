// Sending the operations one export call queued (op-queue.ts) to the kernel, and counting what
// came of them in the run's stats. Deletes and updates of held entries go through the grant's
// confirmation (policy/confirm.ts) when it has one.
import type { BatchResult, Conntrack, DumpFilter } from '../conntrack/conntrack.js';
import type { Confirm } from '../conntrack/confirm.js';
import { scanInto, type ScopeFields } from '../conntrack/scope.js';
import { RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { splitMessages } from '../netlink/message.js';
import type { Mark } from '../policy/capabilities.js';
import type { ScopeMatcher } from '../policy/enforce.js';
import type { Op, Plan } from './op-queue.js';
import type { LogLevel, RunStats } from './protocol.js';

export interface SendContext {
  ct: Conntrack;
  stats: RunStats;
  note(key: string, level: LogLevel, text: string): void;
  /** The grant's confirmation for held entries (undefined: none needed); updates pass their mark changes. */
  confirm(markChange?: (index: number) => Mark | undefined): Confirm | undefined;
  /** Scratch scope fields for the flush fallback's scan. */
  scratch: ScopeFields;
}

/**
 * The matcher for one kernel dump of a plan: a per-zone dump only accepts its own zone, so a kernel
 * that ignores CTA_ZONE in dumps (before 6.8) cannot make the plugin see an entry twice.
 */
export function perFilter(plan: Plan, filter: DumpFilter): ScopeMatcher {
  return filter.zone === undefined || plan.filters.length === 1 ? plan.matcher : plan.matcher.narrowed({ zone: filter.zone });
}

export function sendOp(op: Op, c: SendContext): void {
  const tally = (r: BatchResult, what: 'deleted' | 'created' | 'updated') => {
    c.stats[what] += r.ok;
    c.stats.gone += r.gone;
    c.stats.failed += r.failed.length;
    const refused = r.refused ?? [];
    c.stats.changed += refused.length;
    for (const f of r.failed.slice(0, 3)) c.note(`${what}:${f.errno}`, 'warn', `${op.kind} failed: ${f.message}`);
    if (refused.length) c.note(`${what}:changed`, 'warn', `${op.kind} not sent for ${refused.length} entr${refused.length === 1 ? 'y' : 'ies'} that changed since they were shown: ${refused[0].reason}`);
  };
  switch (op.kind) {
    case 'delete': return tally(c.ct.deleteSync(op.msgs, undefined, c.confirm()), 'deleted');
    case 'create': return tally(c.ct.createSync(op.entries), 'created');
    case 'update': {
      const changes = op.items.map((it) => (it.mark === undefined ? undefined : { value: it.mark, mask: it.markMask ?? 0xffffffff }));
      return tally(c.ct.updateSync(op.items, undefined, c.confirm((i) => changes[i])), 'updated');
    }
    case 'flush': {
      c.stats.flushes++;
      const { plan } = op;
      // The kernel can only filter by zone, mark and family; when the grant narrows further
      // (protocols, more than 16 zones) the flush is a dump re-checked by the scanner + deletes.
      // Kernels before 6.8 ignore CTA_ZONE in a flush and would empty the whole table.
      if (plan.kernelExact && (c.ct.filtersDeleteByZone() || plan.filters.every((f) => f.zone === undefined))) {
        for (const f of plan.filters) c.ct.flushSync(f);
        return;
      }
      const held: Uint8Array[] = [];
      const staging = new Uint8Array(RECV_BUFFER_BYTES);
      for (const f of plan.filters) {
        const matcher = perFilter(plan, f);
        c.ct.dumpSync(f, staging, (batch) => {
          for (const m of splitMessages(batch)) if (scanInto(m, 0, m.length, c.scratch) && matcher.matches(c.scratch)) held.push(m.slice());
        });
      }
      return tally(c.ct.deleteSync(held, undefined, c.confirm()), 'deleted');
    }
  }
}
