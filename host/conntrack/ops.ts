// The privileged conntrack operations as one typed interface, ConntrackOps: what the capability
// gate (host/scoped) drives on behalf of a plugin or a client. kernelOps() implements it with a
// Conntrack in one network namespace; a daemon client implements it over its socket. Every method
// may complete synchronously (the kernel answers at once: Conntrack) or return a promise (a
// transport that waits: a socket); callers chain with `then` below, so a synchronous
// implementation keeps the whole path synchronous (no microtask per batch, and a plugin can run
// on the main thread under one deadline guard per slice of work).
import type { DumpBatch } from '../netlink/connection.js';
import type { EventFilter } from './bpf.js';
import type { Confirm } from './confirm.js';
import type { BatchResult, Conntrack } from './conntrack.js';
import { EventSource, type EventBatch, type EventKind, type EventReadOptions } from './events.js';
import type { Change, KernelFilter, NewEntry } from './request.js';

export type Awaitable<T> = T | Promise<T>;

/** `f(x)`, now when `x` is a value, once it settles when it is a promise. */
export function then<T, U>(x: Awaitable<T>, f: (t: T) => Awaitable<U>): Awaitable<U> {
  return x instanceof Promise ? x.then(f) : f(x);
}

/**
 * Runs `step` until it returns false, awaiting it whenever it returns a promise: synchronous as
 * long as every step is (a loop, not a chain of promises, when it is not).
 */
export function loop(step: () => Awaitable<boolean>): Awaitable<void> {
  for (;;) {
    const go = step();
    if (go instanceof Promise) return go.then(async (more) => { while (more) more = await step(); });
    if (!go) return;
  }
}

/** A dump pulled one batch at a time; a batch is valid until the next call. */
export interface OpsCursor {
  /** The next batch of whole entry messages, or null when the dump is over. */
  next(): Awaitable<DumpBatch | null>;
  /** Ends the dump early (the rest is dropped). */
  stop(): Awaitable<void>;
}

/** Event batches of one subscription: null when no more will ever come (a scripted source ended). */
export interface EventStream {
  read(buf: Uint8Array, opts: EventReadOptions): Promise<EventBatch | 'overrun' | null>;
  /** After an overrun, before the resync dump: discard what is still queued (stale). */
  drain?(): number;
  close(): void;
}

/** An entry the caller holds (whole message, as the kernel sent it) and what to change in it. */
export type HeldChange = Change & { entry: Uint8Array };

export interface ConntrackOps {
  /** A dump filtered in the kernel by `filter` (a superset: callers re-check every entry). */
  dump(filter: KernelFilter, onRestart?: () => void): OpsCursor;
  /** Deletes held entries, each request re-derived from the message (Conntrack.deleteSync). */
  delete(entries: Uint8Array[], confirm?: Confirm): Awaitable<BatchResult>;
  update(items: HeldChange[], confirm?: Confirm): Awaitable<BatchResult>;
  create(entries: NewEntry[]): Awaitable<BatchResult>;
  /** Deletes exactly what `filter` selects, on any kernel (Conntrack.flushSync); undefined: count unknown. */
  flush(filter: KernelFilter, confirm?: Confirm): Awaitable<BatchResult | undefined>;
  /** Events of `kinds`, filtered in the kernel by `filter` (a superset, as dumps). */
  subscribe(kinds: EventKind[], filter: EventFilter): EventStream;
}

export interface KernelOpsOptions {
  /** The namespace of the event subscriptions (the Conntrack's own). */
  netns?: string;
  /** The event socket's receive buffer (events.ts DEFAULT_EVENT_BUFFER). */
  eventBufferBytes?: number;
}

/** ConntrackOps over a Conntrack (direct, privileged): every method completes synchronously. */
export function kernelOps(ct: Conntrack, opts: KernelOpsOptions = {}): ConntrackOps {
  return {
    dump: (filter, onRestart) => ct.dumpCursor(filter, undefined, onRestart),
    delete: (entries, confirm) => ct.deleteSync(entries, undefined, confirm),
    update: (items, confirm) => ct.updateSync(items, undefined, confirm),
    create: (entries) => ct.createSync(entries),
    flush: (filter, confirm) => ct.flushSync(filter, confirm),
    subscribe: (kinds, filter) => EventSource.open({ netns: opts.netns, kinds, filter, bufferBytes: opts.eventBufferBytes }),
  };
}
