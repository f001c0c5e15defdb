// DaemonClient: ConntrackOps over a daemon connection. The plugin runtime drives it exactly as it
// drives the kernel (its own gate checks the plugin's grant first); every request becomes the
// frame of the same name, carrying the ABI records the daemon's gate checks again against the
// client's grant. Confirmation of held entries (`confirm`) is the daemon gate's: it cannot cross a
// socket, and the daemon confirms under the same grant (notes/gate-api.md). Large batches go as
// several frames within the frame size limit; the result is their sum.
import { constants } from 'node:os';
import type { BatchResult } from '../conntrack/conntrack.js';
import { CtError } from '../conntrack/errors.js';
import type { EventKind } from '../conntrack/events.js';
import type { EventFilter } from '../conntrack/bpf.js';
import type { ConntrackOps, EventStream, HeldChange, OpsCursor } from '../conntrack/ops.js';
import type { KernelFilter, NewEntry } from '../conntrack/request.js';
import { AbortError } from '../netlink/abort.js';
import { MessageReader } from '../netlink/message.js';
import { FLAG, FRAME, HEADER_SIZE, wire } from '../wire/frame.js';
import {
  createRecordOf, decodeResult, dumpRequestOf, messagesOf, updateRecordsOf, type WireResult,
} from '../wire/records.js';
import type { DaemonConnection, FrameStream } from './connection.js';

const ERRNO_NAME = new Map(Object.entries(constants.errno).map(([k, v]) => [v as number, k]));
/** Payload bytes per frame for batches (deletes, updates, creates), well inside the frame limit. */
export const BATCH_FRAME_BYTES = Math.min(1024 * 1024, wire.maxFrameBytes - HEADER_SIZE);

export function countMessages(b: Uint8Array): number {
  let n = 0;
  for (const r = new MessageReader(b); r.next(); ) n++;
  return n;
}

function toBatchResult(r: WireResult, base: number, into: BatchResult): void {
  into.ok += r.ok;
  into.gone += r.gone;
  for (const f of r.failed) {
    const name = ERRNO_NAME.get(f.errno) ?? `errno ${f.errno}`;
    into.failed.push({ index: base + f.index, errno: name, message: name });
  }
  for (let i = r.failed.length; i < r.failedCount; i++) into.failed.push({ index: -1, errno: 'EUNKNOWN', message: 'failed in the kernel (beyond the failures the daemon itemises)' });
  if (r.changed) {
    into.refused ??= [];
    for (let i = 0; i < r.changed; i++) into.refused.push({ index: -1, reason: 'the entry changed since it was shown (confirmed by the daemon)' });
  }
}

/** Items packed into frames of at most BATCH_FRAME_BYTES, each sent and its result summed (indices kept). */
async function batched<T>(conn: DaemonConnection, type: number, items: T[], bytes: (t: T) => Uint8Array): Promise<BatchResult> {
  const out: BatchResult = { ok: 0, gone: 0, failed: [] };
  let start = 0;
  while (start < items.length) {
    const parts: Uint8Array[] = [];
    let size = 0, end = start;
    for (; end < items.length; end++) {
      const b = bytes(items[end]);
      if (size + b.length > BATCH_FRAME_BYTES && end > start) break;
      parts.push(b);
      size += b.length;
    }
    const f = await conn.request(type, Buffer.concat(parts));
    toBatchResult(decodeResult(f.payload), start, out);
    start = end;
  }
  return out;
}

function eventRequest(kinds: EventKind[], f: EventFilter): Uint8Array {
  // A DumpRequest names one zone and one family: a wider filter is sent as "any" (a superset,
  // which the daemon narrows to the grant and the caller's gate re-checks).
  const family = f.families?.length === 1 ? (f.families[0] === 2 ? 'ipv4' : f.families[0] === 10 ? 'ipv6' : undefined) : undefined;
  return dumpRequestOf({ family, zone: f.zones?.length === 1 ? f.zones[0] : undefined, mark: f.mark?.value, markMask: f.mark?.mask, events: kinds });
}

/** A frame stream read as an EventStream (EVENTS batches, OVERRUN as 'overrun'). */
function eventStream(s: FrameStream): EventStream {
  return {
    async read(buf, opts = {}) {
      const { signal } = opts;
      if (signal?.aborted) throw new AbortError('waiting for events', signal.reason);
      let onAbort!: () => void;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(new AbortError('waiting for events', signal!.reason));
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      aborted.catch(() => undefined);
      try {
        const f = await Promise.race([s.next(), aborted]);
        if (!f) return null;
        if (f.type === FRAME.OVERRUN) return 'overrun';
        if (f.payload.length > buf.length) throw new CtError('events', 'EMSGSIZE', 'kernel', `an event batch of ${f.payload.length} bytes does not fit the ${buf.length}-byte buffer`);
        buf.set(f.payload);
        return { bytes: buf.subarray(0, f.payload.length), count: countMessages(f.payload) };
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    drain: () => s.discard(), // the daemon drained the kernel's stale rest before OVERRUN; these are older still
    close: () => s.stop(),
  };
}

export function daemonOps(conn: DaemonConnection): ConntrackOps {
  return {
    dump(filter: KernelFilter, onRestart?: () => void): OpsCursor {
      const s = conn.stream(FRAME.DUMP, dumpRequestOf(filter));
      return {
        async next() {
          const f = await s.next();
          if (!f) return null;
          if (f.flags & FLAG.RESYNC) onRestart?.();
          return { entries: f.payload, count: countMessages(f.payload) };
        },
        stop: () => s.stop(),
      };
    },
    delete: (entries) => batched(conn, FRAME.DELETE, entries, (m) => messagesOf([m])),
    update: (items: HeldChange[]) => batched(conn, FRAME.UPDATE, items, (it) => updateRecordsOf([it])),
    create: (entries: NewEntry[]) => batched(conn, FRAME.CREATE, entries, createRecordOf),
    async flush(filter: KernelFilter) {
      const r = decodeResult((await conn.request(FRAME.FLUSH, dumpRequestOf(filter))).payload);
      if (r.count === 0xffffffff) return undefined;
      const out: BatchResult = { ok: 0, gone: 0, failed: [] };
      toBatchResult(r, 0, out);
      return out;
    },
    subscribe: (kinds, filter) => eventStream(conn.stream(FRAME.SUBSCRIBE, eventRequest(kinds, filter))),
  };
}
