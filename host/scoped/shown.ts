// Under a mark-limited grant, the entries the host delivered to the plugin with an in-scope mark:
// a delete or update must name one of them (by CTA_ID, with that entry's own zone and tuple).
// The mark is not part of the kernel's lookup key, so bytes that lie about it would otherwise
// reach another tenant's entry. This is the first check; the kernel's current entry is then
// confirmed right before acting (conntrack/confirm.ts), because a shown entry can be replaced.
import type { ScopeFields } from '../conntrack/scope.js';

/** Entries remembered (~150 bytes each). A listener runs for hours, so older ones are forgotten. */
export const SHOWN_MAX = 262_144;

export class ShownEntries {
  private readonly ids = new Map<number, string>();

  /** Delivered with an in-scope mark (most recent last; past SHOWN_MAX the oldest is forgotten: refused, the safe side). */
  remember(buf: Uint8Array, at: number, s: ScopeFields): void {
    if (s.id === undefined) return;
    this.ids.delete(s.id);
    this.ids.set(s.id, entryKey(buf, at, s));
    if (this.ids.size > SHOWN_MAX) this.ids.delete(this.ids.keys().next().value!);
  }

  /** A DESTROY event: that entry no longer exists, whatever reuses its id later is not it. */
  forget(s: ScopeFields): void {
    if (s.id !== undefined) this.ids.delete(s.id);
  }

  /** Why the entry in `msg` may not be touched, or undefined when it is one the plugin was shown. */
  unshown(msg: Uint8Array, s: ScopeFields): string | undefined {
    if (s.id === undefined) return 'under a mark-limited grant an entry must carry its CTA_ID';
    return this.ids.get(s.id) === entryKey(msg, 0, s) ? undefined : `entry id ${s.id} with this tuple was not delivered to this plugin (mark-limited grant)`;
  }
}

/** An entry's identity for the check: its zone and original tuple bytes. */
function entryKey(buf: Uint8Array, at: number, s: ScopeFields): string {
  const start = buf.byteOffset + at + s.tupleOffset;
  return `${s.zone}/${Buffer.from(buf.buffer, start, s.tupleLength).toString('latin1')}`;
}
