// RemoteConntrack: the embedder's Conntrack through `ctplug daemon` (`Conntrack.connect(PATH)`),
// for a process that holds no capability. Same operations as the direct Conntrack, all async:
// where the direct one has xxxSync (countSync, getSync, flushSync, deleteSync, updateSync,
// createSync, statsSync), this has xxx() returning a promise; dump/batches/flows/events are the
// same async shapes. What it may do is its policy entry's "clients" grant (or less: `capabilities`),
// enforced by the daemon. A daemon session carries per-session caps (as a plugin run does: 64
// dumps, 256 flushes); this object opens a fresh session after SESSION_DUMPS dump-like calls, so a
// long-lived embedder never reaches them (under a mark-limited grant, entries shown in an earlier
// session then have to be shown again before they can be deleted).
import type { BatchResult } from '../conntrack/conntrack.js';
import { toNewEntry, type CreateSpec } from '../conntrack/new-entry.js';
import type { EventBatch, EventKind } from '../conntrack/events.js';
import { decodeFlow, type Flow } from '../conntrack/flow.js';
import type { HeldChange } from '../conntrack/ops.js';
import type { KernelFilter, Lookup, NewEntry } from '../conntrack/request.js';
import { type DumpBatch, type DumpProgress, emptyProgress } from '../netlink/connection.js';
import { splitMessages } from '../netlink/message.js';
import type { Capabilities, CapabilitiesDocument, Operation, Scope } from '../policy/capabilities.js';
import { CtError } from '../conntrack/errors.js';
import { FLAG, FRAME } from '../wire/frame.js';
import { createRecordOf, decodeResult, dumpRequestOf } from '../wire/records.js';
import { DaemonConnection } from './connection.js';
import { daemonOps } from './ops.js';

/** Dump-like calls (dump, count, flush) per daemon session before a fresh one is opened. */
export const SESSION_DUMPS = 32;

export interface ConnectOptions {
  /** `ip netns` name; default the daemon's own namespace. */
  netns?: string;
  /** Ask for less than the policy entry allows (default: all of it). */
  capabilities?: CapabilitiesDocument;
}

/** Where a flush of `f` would reach outside `scope` (described), or undefined when it stays inside. */
function beyondScope(f: KernelFilter, scope: Scope): string | undefined {
  const out: string[] = [];
  if (scope.zones !== 'any' && (f.zone === undefined || !scope.zones.some((r) => r.from <= f.zone! && f.zone! <= r.to))) {
    out.push(`zones ${scope.zones.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`)).join(', ')}`);
  }
  if (scope.families !== 'any' && (f.family === undefined || !scope.families.includes(f.family))) out.push(`families ${scope.families.join(', ')}`);
  if (scope.protocols !== 'any') out.push(`protocols ${scope.protocols.join(', ')} (a flush cannot name one)`);
  const m = scope.mark;
  if (m && (f.mark === undefined || ((f.markMask ?? 0xffffffff) & m.mask) >>> 0 !== m.mask || ((f.mark & m.mask) >>> 0) !== m.value)) {
    out.push(`mark 0x${m.value.toString(16)}/0x${m.mask.toString(16)}`);
  }
  return out.length ? out.join(', ') : undefined;
}

export class RemoteConntrack {
  private uses = 0;
  private busy = 0;

  private constructor(private conn: DaemonConnection, readonly path: string, private readonly opts: ConnectOptions) {}

  /** Connects to the daemon at `path` and opens a session; refused: CtError (privilege), no daemon: CtError (environment). */
  static async connect(path: string, opts: ConnectOptions = {}): Promise<RemoteConntrack> {
    return new RemoteConntrack(await DaemonConnection.open(path, { netns: opts.netns, capabilities: opts.capabilities ?? null }), path, opts);
  }

  /** What the daemon granted this session. */
  get grant(): Capabilities {
    return this.conn.welcome.grant;
  }

  /** The session for the next call (a fresh one once this one did SESSION_DUMPS dump-like calls and nothing streams). */
  private async session(dumpLike: boolean): Promise<DaemonConnection> {
    if (dumpLike && ++this.uses > SESSION_DUMPS && this.busy === 0) {
      const next = await DaemonConnection.open(this.path, { netns: this.opts.netns, capabilities: this.opts.capabilities ?? null });
      this.conn.close();
      this.conn = next;
      this.uses = 1;
    }
    return this.conn;
  }

  /** Whether the session's grant includes `op`. */
  allows(op: Operation): boolean {
    return this.grant.operations.includes(op);
  }

  /** Entries the grant lets this client see (with `filter`: of that filter). */
  async count(filter: KernelFilter & { protocol?: number } = {}): Promise<number> {
    const f = await (await this.session(true)).request(FRAME.COUNT, dumpRequestOf(filter));
    return decodeResult(f.payload).count;
  }

  /** Per-CPU statistics (conntrack -S); only for a grant that reads everything. */
  async stats(): Promise<Record<string, number>[]> {
    const f = await (await this.session(false)).request(FRAME.STATS, new Uint8Array(0));
    return JSON.parse(Buffer.from(f.payload).toString('utf8')) as Record<string, number>[];
  }

  /** The daemon's requests and refusals by client entry (all of them for a grant that reads everything, else ours). */
  async clientCounters(): Promise<Record<string, { requests: number; refusals: number }>> {
    const f = await (await this.session(false)).request(FRAME.CLIENTS, new Uint8Array(0));
    return JSON.parse(Buffer.from(f.payload).toString('utf8')) as Record<string, { requests: number; refusals: number }>;
  }

  /** One entry by tuple (+ zone), or null (also when it exists outside the grant). */
  async get(lookup: Lookup): Promise<Uint8Array | null> {
    const t = lookup.tuple;
    const rec = createRecordOf({ tuple: t, timeout: 0, zone: lookup.zone });
    const s = (await this.session(false)).stream(FRAME.GET, rec, lookup.direction === 'reply' ? FLAG.REPLY : 0);
    let entry: Uint8Array | null = null;
    for (let f; (f = await s.next()); ) entry = f.payload.slice();
    return entry;
  }

  /**
   * Deletes what `filter` selects. A filter reaching beyond the grant is refused here, with nothing
   * deleted: the daemon would narrow it to the grant, and "the table has been emptied" would then
   * not be true.
   */
  async flush(filter: KernelFilter = {}): Promise<BatchResult | undefined> {
    // (Without the flush operation the daemon refuses it anyway, with that reason.)
    const beyond = this.allows('flush') ? beyondScope(filter, this.grant.scope) : undefined;
    if (beyond) {
      throw new CtError('daemon', 'E_SCOPE', 'privilege', `the ctplug daemon at ${this.path} grants a flush within ${beyond} only, and this one reaches further: nothing was flushed`, {
        hint: 'name the zone, family or mark your grant covers (-w, -f, -m)',
      });
    }
    return daemonOps(await this.session(true)).flush(filter);
  }

  deleteZone(zone: number): Promise<BatchResult | undefined> {
    return this.flush({ zone });
  }

  /** The daemon's flush is exact on any kernel (its Conntrack.flushSync). */
  filtersDeleteByZone(): boolean {
    return true;
  }

  async delete(entries: Uint8Array[]): Promise<BatchResult> {
    return daemonOps(await this.session(false)).delete(entries);
  }

  async update(items: HeldChange[]): Promise<BatchResult> {
    return daemonOps(await this.session(false)).update(items);
  }

  async create(specs: (CreateSpec | NewEntry)[], onProgress?: (done: number) => void): Promise<BatchResult> {
    const entries = specs.map((s) => ('tuple' in s ? s : toNewEntry(s)));
    const r = await daemonOps(await this.session(false)).create(entries);
    onProgress?.(entries.length);
    return r;
  }

  /** The dump as batches (each valid until the next); leaving early stops it. */
  async *batches(filter: KernelFilter = {}): AsyncGenerator<DumpBatch, DumpProgress> {
    const cursor = daemonOps(await this.session(true)).dump(filter);
    const progress = emptyProgress();
    this.busy++;
    let done = false;
    try {
      for (let b; (b = await cursor.next()); ) {
        progress.batches++;
        progress.messages += b.count;
        yield b;
      }
      done = true;
      return progress;
    } finally {
      this.busy--;
      if (!done) await cursor.stop();
    }
  }

  async dump(filter: KernelFilter, onBatch: (entries: Uint8Array, count: number) => boolean | void | Promise<boolean | void>): Promise<DumpProgress> {
    const it = this.batches(filter);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      if ((await onBatch(r.value.entries, r.value.count)) === false) {
        const rest = await it.return(emptyProgress());
        return rest.value as DumpProgress;
      }
    }
  }

  async *flows(filter: KernelFilter = {}): AsyncGenerator<Flow> {
    for await (const b of this.batches(filter)) {
      for (const m of splitMessages(b.entries)) {
        const flow = decodeFlow(m);
        if (flow) yield flow;
      }
    }
  }

  /** Event batches of `kinds` within the grant, or 'overrun' where this subscriber lost events (resync by dumping). */
  async *events(opts: { kinds?: EventKind[]; filter?: KernelFilter; signal?: AbortSignal } = {}): AsyncGenerator<EventBatch | 'overrun'> {
    const f = opts.filter ?? {};
    const families = f.family === 'ipv4' ? [2] : f.family === 'ipv6' ? [10] : undefined;
    const stream = daemonOps(await this.session(false)).subscribe(opts.kinds ?? ['NEW', 'UPDATE', 'DESTROY'], {
      families, zones: f.zone === undefined ? undefined : [f.zone], mark: f.mark === undefined ? undefined : { value: f.mark, mask: f.markMask ?? 0xffffffff },
    });
    const buf = new Uint8Array(512 * 1024);
    this.busy++;
    try {
      for (;;) {
        const b = await stream.read(buf, { signal: opts.signal });
        if (b === null) return;
        yield b;
      }
    } finally {
      this.busy--;
      stream.close();
    }
  }

  close(): void {
    this.conn.close();
  }
}
