// Which held entries a grant needs confirmed from the kernel before a delete or update, and what
// the kernel's current entry must satisfy (conntrack/confirm.ts does the round trips).
//
// The request's lookup key (conntrack/request.ts lookupAttrs) pins what the kernel compares:
// family, protocol and addresses (the tuple) and a non-zero zone. It does not pin the mark, and
// a zone-0 lookup also finds entries whose zone applies to the other direction only. A grant
// limited by an attribute the key does not pin is attribute-limited: its entries are confirmed.
// Adding a grant attribute (labels, status...) means adding it to `pinned` below as false.
import type { Confirm } from '../conntrack/confirm.js';
import type { ScopeFields } from '../conntrack/scope.js';
import type { Scope } from './capabilities.js';
import { checkMarkUpdate, type MarkChange, type ScopeMatcher } from './enforce.js';

/** Whether the kernel's lookup of an entry of zone `zone` pins each attribute a grant can limit. */
function pinned(zone: number): Record<'zones' | 'families' | 'protocols' | 'mark', boolean> {
  return { zones: zone !== 0, families: true, protocols: true, mark: false };
}

/** The attributes this scope limits. */
function limited(scope: Scope): Record<'zones' | 'families' | 'protocols' | 'mark', boolean> {
  return { zones: scope.zones !== 'any', families: scope.families !== 'any', protocols: scope.protocols !== 'any', mark: !!scope.mark };
}

/**
 * The confirmation for deletes/updates under `scope`, or undefined when every limit is pinned
 * by the lookup key. The current entry must be the held one (same id, same zone) and still inside
 * the grant; for an update, `markChange(i)` gives request i's mark change, which must keep the
 * current mark inside the grant.
 */
export function confirmationFor(scope: Scope, matcher: ScopeMatcher, markChange?: (index: number) => MarkChange | undefined): Confirm | undefined {
  const lim = limited(scope);
  const needed = (held: ScopeFields) => {
    const pin = pinned(held.zone);
    return (Object.keys(lim) as (keyof typeof lim)[]).some((k) => lim[k] && !pin[k]);
  };
  if (!needed({ zone: 0 } as ScopeFields) && !needed({ zone: 1 } as ScopeFields)) return undefined;
  return {
    needed,
    check(held, current, index) {
      if (current.id !== held.id) return `the kernel's entry with this tuple is another one now (id ${current.id}, shown ${held.id})`;
      if (current.zone !== held.zone) return `the entry is in zone ${current.zone} now, not ${held.zone}`;
      const why = matcher.why(current);
      if (why) return `the entry as it is now: ${why}`;
      const change = markChange?.(index);
      if (change) {
        const next = checkMarkUpdate(current.mark, change, scope, matcher);
        if (typeof next === 'string') return next;
      }
      return undefined;
    },
  };
}
