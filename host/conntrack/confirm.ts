// Confirm-then-act: deletes and updates of entries a plugin holds, when the kernel's lookup key
// does not pin everything the grant limits (the mark, or the zone of a zone-0 lookup, which also
// reaches entries whose zone applies to the other direction only). Held bytes may be stale: the
// entry can have been deleted and recreated, with the same id (the kernel reuses the object and
// the id hashes it with the original tuple) and other attributes. So right before acting, the
// host asks the kernel for the entry each request would reach (a GET with the same lookup
// attributes, many per send), judges what the kernel answers and acts only on the confirmed
// ones, chunk by chunk so the gap between a confirmation and its action stays short.
import type { Encoder } from '../netlink/attr.js';
import type { BatchOutcome, NetlinkConnection } from '../netlink/connection.js';
import { confirmRequest } from './request.js';
import { emptyScope, scanInto, type ScopeFields } from './scope.js';

export interface Confirm {
  /** Whether the entry, as held, must be confirmed from the kernel before it is acted on. */
  needed(held: ScopeFields): boolean;
  /** Why the entry as the kernel has it now may not be acted on; undefined: go ahead. */
  check(held: ScopeFields, current: ScopeFields, index: number): string | undefined;
}

/** Entries confirmed per round trip, then acted on: the race window is one chunk's worth. */
export const CONFIRM_CHUNK = 128;

export interface Refusal {
  index: number;
  reason: string;
}

export interface ConfirmedOutcome {
  /** Per request index: 0 done, else the errno (ENOENT from the GET: gone). Refused indexes stay 0 and are listed in `refused`. */
  errnos: Int32Array;
  messages: Map<number, string>;
  refused: Refusal[];
  /** Indexes acted on (sent to the kernel). */
  sent: Uint8Array;
  /** Longest time from sending a chunk's confirmations to its actions being answered (ms). */
  windowMs: number;
}

/**
 * Runs `count` requests over `conn`; `entry(i)` is the held message of request i, `build` writes
 * its action. Without `confirm` this is a plain batch.
 */
export function confirmThenAct(
  conn: NetlinkConnection, count: number, entry: (i: number) => Uint8Array,
  build: (enc: Encoder, i: number, seq: number) => void, confirm: Confirm | undefined, onProgress?: (done: number) => void,
): ConfirmedOutcome {
  const out: ConfirmedOutcome = { errnos: new Int32Array(count), messages: new Map(), refused: [], sent: new Uint8Array(count), windowMs: 0 };
  const held = emptyScope(), current = emptyScope();
  for (let from = 0; from < count; from += confirm ? CONFIRM_CHUNK : count) {
    const to = confirm ? Math.min(count, from + CONFIRM_CHUNK) : count;
    const go: number[] = [];
    const ask: number[] = [];
    for (let i = from; i < to; i++) {
      const m = entry(i);
      scanInto(m, 0, m.length, held);
      (confirm?.needed(held) ? ask : go).push(i);
    }
    const t0 = performance.now();
    if (ask.length) {
      const answered = new Set<number>();
      const gets = conn.batchSync(ask.length, (enc, j, seq) => {
        const m = entry(ask[j]);
        scanInto(m, 0, m.length, held);
        confirmRequest(enc, seq, m, 0, held);
      }, undefined, (j, msg) => {
        const i = ask[j], m = entry(i);
        answered.add(j);
        scanInto(m, 0, m.length, held);
        const why = scanInto(msg, 0, msg.length, current) ? confirm!.check(held, current, i) : 'the kernel answered with something that is not an entry';
        if (why) out.refused.push({ index: i, reason: why });
        else go.push(i);
      });
      ask.forEach((i, j) => {
        // ENOENT: nothing to act on any more (gone); another errno: the confirmation failed.
        if (gets.errnos[j]) { out.errnos[i] = gets.errnos[j]; copyMessage(gets, j, out, i); }
        else if (!answered.has(j)) out.refused.push({ index: i, reason: 'the kernel gave no answer to the confirmation' });
      });
      go.sort((a, b) => a - b);
    }
    const r = conn.batchSync(go.length, (enc, k, seq) => build(enc, go[k], seq));
    go.forEach((i, k) => {
      out.sent[i] = 1;
      out.errnos[i] = r.errnos[k];
      copyMessage(r, k, out, i);
    });
    if (ask.length) out.windowMs = Math.max(out.windowMs, performance.now() - t0);
    onProgress?.(to);
  }
  out.refused.sort((a, b) => a.index - b.index);
  return out;
}

function copyMessage(from: BatchOutcome, k: number, to: ConfirmedOutcome, i: number): void {
  const text = from.messages.get(k);
  if (text) to.messages.set(i, text);
}
