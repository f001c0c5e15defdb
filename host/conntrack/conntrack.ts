// Conntrack operations over ctnetlink, in the network namespace the caller names.
// Past ~400 lines on purpose: Conntrack is the one privileged entry point of the library (every
// operation with its validation and its typed errors); what can live apart does (request.ts the
// builders, kernel-filter.ts the filters, confirm.ts the confirmations).
import { release } from 'node:os';
import { AttrDecoder, type Encoder } from '../netlink/attr.js';
import { NETLINK_NETFILTER, NLMSG_HDRLEN } from '../netlink/constants.js';
import {
  NetlinkConnection, RECV_BUFFER_BYTES, type AsyncDumpOptions, type DumpBatch, type DumpCursor, type DumpProgress, emptyProgress,
} from '../netlink/connection.js';
import { chainCursors, drainCursor } from '../netlink/cursor.js';
import { NetlinkError, errnoName } from '../netlink/errors.js';
import { NFGENMSG_LEN, splitMessages } from '../netlink/message.js';
import { openNetlinkSocket, type NetlinkSocketLike } from '../netlink/socket.js';
import { CTA_STATS_CPU, CTA_STATS_GLOBAL_ENTRIES } from './constants.js';
import { CtError, TOLERATED, fromNetlink, invalid } from './errors.js';
import { decodeFlow, type Flow } from './flow.js';
import { toNewEntry, type CreateSpec } from './new-entry.js';
import { type KernelAbilities, type PlannedFilter, planDumps, planFlush, probeAnswer, probeFilter } from './kernel-filter.js';
import {
  SETTABLE_STATUS, createRequest, cpuStatsRequest, deleteRequest, kernelDumpRequest, flushRequest, getRequest, stateProblem, statsRequest, updateRequest,
  type Change, type KernelFilter, type Lookup, type NewEntry,
} from './request.js';
import { LABEL_BYTES } from './labels.js';
import { type Confirm, confirmThenAct } from './confirm.js';
import { emptyScope, scanInto, zoneOfEntry } from './scope.js';
import { netnsPath, parseFamily, parsePort, parseU32, parseU8, parseZone } from './validate.js';

export type { KernelFilter as DumpFilter } from './request.js';
// Conntrack.create's vocabulary beside it, for callers that hold a Conntrack (tests, bench); host code imports new-entry.js.
export { toNewEntry, type CreateSpec } from './new-entry.js';

export interface BatchFailure {
  index: number;
  errno: string;
  message: string;
}

export interface BatchResult {
  /** Requests the kernel carried out. */
  ok: number;
  /** Tolerated misses (delete: the entry was already gone). */
  gone: number;
  failed: BatchFailure[];
  /** With confirmation: entries not acted on because the kernel's current entry failed it. */
  refused?: { index: number; reason: string }[];
  /** With confirmation: the longest time from confirming a chunk to its actions being answered (ms). */
  windowMs?: number;
}

export interface OpenOptions {
  /** A namespace name (`ip netns`) or path (/proc/PID/ns/net). Default: the caller's. */
  netns?: string;
  /** A socket to use instead of the kernel's (the fake kernel in tests). */
  socket?: NetlinkSocketLike;
  /** A second socket for batches sent while a dump is being read. */
  actionSocket?: NetlinkSocketLike;
  /** The kernel's release (uname -r); default this machine's. Tests inject one to check version gates. */
  kernelRelease?: string;
}

function validateFilter(f: KernelFilter): KernelFilter {
  const out: KernelFilter = {
    family: f.family === undefined ? undefined : parseFamily(f.family),
    zone: f.zone === undefined ? undefined : parseZone(f.zone),
    mark: f.mark === undefined ? undefined : parseU32(f.mark, 'mark'),
    markMask: f.markMask === undefined ? undefined : parseU32(f.markMask, 'mark mask'),
  };
  const t = f.tuple;
  if (t) {
    const addr = (a: Uint8Array | undefined, what: string) => {
      if (a !== undefined && (!(a instanceof Uint8Array) || (a.length !== 4 && a.length !== 16))) throw invalid('dump', `the ${what} of a tuple filter must be 4 or 16 bytes`);
      return a;
    };
    out.tuple = {
      protocol: t.protocol === undefined ? undefined : parseU8(t.protocol, 'protocol'),
      src: addr(t.src, 'source address'),
      dst: addr(t.dst, 'destination address'),
      sport: t.sport === undefined ? undefined : parsePort(t.sport, 'source port'),
      dport: t.dport === undefined ? undefined : parsePort(t.dport, 'destination port'),
    };
  }
  return out;
}

/** Kernel-side filtered delete by zone exists from Linux 6.8; older kernels ignore CTA_ZONE
 * there and would flush everything, so they get dump + batch delete instead. */
export function kernelFiltersDeleteByZone(rel = release()): boolean {
  const [maj, min] = rel.split('.').map((x) => parseInt(x, 10));
  return maj > 6 || (maj === 6 && min >= 8);
}

export class Conntrack {
  private readonly conn: NetlinkConnection;
  private actionConn?: NetlinkConnection;
  /** Whether this kernel has CTA_FILTER in dumps: probed on first need (kernel-filter.ts). */
  private ctaFilter?: boolean;

  private constructor(
    socket: NetlinkSocketLike,
    private readonly openAction: () => NetlinkSocketLike,
    /** uname -r of the kernel behind the socket (injectable for tests of the version gates). */
    private readonly kernelRelease = release(),
  ) {
    this.conn = connect(socket);
  }

  /** Opens the socket(s) in `netns`. Release them with close(). */
  static open(opts: OpenOptions = {}): Conntrack {
    const path = opts.netns === undefined ? undefined : netnsPath(opts.netns);
    const open = () => {
      try {
        return openNetlinkSocket(NETLINK_NETFILTER, path);
      } catch (e) {
        throw fromNetlink('open', e);
      }
    };
    if (opts.socket) return new Conntrack(opts.socket, () => opts.actionSocket ?? opts.socket!, opts.kernelRelease);
    return new Conntrack(open(), open, opts.kernelRelease);
  }

  /** Batches sent while a dump is read go over a second socket, opened on first use. */
  private actions(): NetlinkConnection {
    return (this.actionConn ??= connect(this.openAction()));
  }

  private run<T>(op: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw fromNetlink(op, e);
    }
  }

  /** What this kernel honours, for the planner; CTA_FILTER is probed when `tuple` needs it. */
  abilities(tuple = false): KernelAbilities {
    if (tuple && this.ctaFilter === undefined) this.ctaFilter = this.probeCtaFilter();
    return { zoneFilter: this.filtersDeleteByZone(), ctaFilter: this.ctaFilter ?? false };
  }

  /** kernel-filter.ts probeFilter: refused = understood, answered = ignored. */
  private probeCtaFilter(): boolean {
    try {
      this.conn.dumpSync((enc, seq) => kernelDumpRequest(enc, seq, probeFilter()), new Uint8Array(RECV_BUFFER_BYTES), () => undefined);
      return false;
    } catch (e) {
      if (e instanceof NetlinkError && probeAnswer(e.code)) return true;
      throw fromNetlink('dump', e);
    }
  }

  /**
   * The dumps that cover `filter` (planDumps), or none when the namespace holds no entry at all:
   * the kernel's entry count (one request, no walk) is asked first, because every dump walks the
   * whole global hash table whatever the namespace holds (12-20 ms here for an empty one). An
   * entry created in between is the race a dump started a moment earlier has too.
   */
  private plan(filter: KernelFilter): PlannedFilter[] {
    const f = validateFilter(filter);
    const plans = planDumps(f, this.abilities(f.tuple !== undefined));
    return plans.length === 0 || this.countSync(undefined, 'dump') === 0 ? [] : plans;
  }

  /** A dump, filtered in the kernel; entries are handed over in place, one call per buffer. */
  dumpSync(filter: KernelFilter, buf: Uint8Array, onBatch: (entries: Uint8Array, count: number) => boolean | void, onRestart?: () => void): DumpProgress {
    return drainCursor(this.dumpCursor(filter, buf, onRestart), onBatch);
  }

  /** The same dump pulled one buffer at a time (NetlinkConnection.dumpCursor): `next()` blocks for the next batch. */
  dumpCursor(filter: KernelFilter, buf: Uint8Array = new Uint8Array(RECV_BUFFER_BYTES), onRestart?: () => void): DumpCursor {
    const plans = this.plan(filter);
    const c = chainCursors(plans.map((p) => () => this.run('dump', () => this.conn.dumpCursor((enc, seq) => kernelDumpRequest(enc, seq, p), buf, onRestart))));
    return { progress: c.progress, next: () => this.run('dump', () => c.next()), stop: () => this.run('dump', () => c.stop()) };
  }

  /**
   * The same dump without blocking the event loop or a thread (each buffer is received when the
   * socket is readable). Return false from `onBatch` to stop early. With `signal`, an abort rejects
   * with AbortError whose `stats` are the progress so far; nothing more is delivered.
   */
  async dump(filter: KernelFilter, onBatch: (entries: Uint8Array, count: number) => boolean | void | Promise<boolean | void>, opts: AsyncDumpOptions = {}): Promise<DumpProgress> {
    const progress = emptyProgress();
    for await (const b of this.batches(filter, opts, progress)) if ((await onBatch(b.entries, b.count)) === false) break;
    return progress;
  }

  /** The dump as an async iterator of batches (views reused by the next one); leaving it early stops the dump. */
  async *batches(filter: KernelFilter, opts: AsyncDumpOptions = {}, progress = emptyProgress()): AsyncGenerator<DumpBatch, DumpProgress> {
    const plans = this.plan(filter);
    try {
      for (const p of plans) {
        const part = emptyProgress();
        const base = { ...progress };
        const sum = () => {
          progress.messages = base.messages + part.messages;
          progress.batches = base.batches + part.batches;
          progress.restarts = base.restarts + part.restarts;
        };
        const it = this.conn.dumpBatches((enc, seq) => kernelDumpRequest(enc, seq, p), opts, part);
        try {
          for (let r = await it.next(); !r.done; r = await it.next()) {
            sum();
            yield r.value;
          }
        } finally {
          await it.return?.(part); // left early: drains the rest (and counts the batch handed out)
          sum();
        }
      }
      return progress;
    } catch (e) {
      throw fromNetlink('dump', e);
    }
  }

  /** The dump as typed flows (see decodeFlow), filtered in the kernel by zone, family and mark. */
  async *flows(filter: KernelFilter = {}, opts: AsyncDumpOptions = {}): AsyncGenerator<Flow> {
    for await (const b of this.batches(filter, opts)) {
      for (const m of splitMessages(b.entries)) {
        const flow = decodeFlow(m);
        if (flow) yield flow;
      }
    }
  }

  /** One entry by tuple (+ zone); null when there is none. */
  getSync(lookup: Lookup): Uint8Array | null {
    let found: Uint8Array | null = null;
    try {
      this.conn.requestSync((enc, seq) => getRequest(enc, seq, lookup), (msg) => (found = msg.slice()));
    } catch (e) {
      const err = fromNetlink('get', e);
      if (err instanceof CtError && err.code === 'ENOENT') return null;
      throw err;
    }
    return found;
  }

  /**
   * Deletes entries as the kernel returned them (whole messages). Each request is re-derived
   * from the message's own tuple/zone/id attributes (request.ts lookupAttrs); a message that
   * is not a conntrack entry, or has no CTA_ID, fails with EINVAL and is never sent. With
   * `confirm`, entries it names are confirmed from the kernel first (confirm.ts).
   */
  deleteSync(entries: Uint8Array[], onProgress?: (done: number) => void, confirm?: Confirm): BatchResult {
    const scope = emptyScope();
    return this.held('delete', entries, (enc, m, seq) => {
      scanInto(m, 0, m.length, scope);
      deleteRequest(enc, seq, m, 0, scope);
    }, onProgress, confirm);
  }

  /**
   * Changes mark bits, timeout, status bits, labels and/or the protocol state of entries as the kernel returned them, many per send.
   * An entry that vanished meanwhile counts as gone. `confirm`: as deleteSync.
   */
  updateSync(items: (Change & { entry: Uint8Array })[], onProgress?: (done: number) => void, confirm?: Confirm): BatchResult {
    const probe = emptyScope();
    for (const it of items) {
      if (it.state !== undefined && scanInto(it.entry, 0, it.entry.length, probe)) {
        const why = stateProblem(probe.protocol, it.state);
        if (why) throw invalid('update', why);
      }
      if (it.mark !== undefined) parseU32(it.mark, 'mark');
      if (it.markMask !== undefined) parseU32(it.markMask, 'mark mask');
      if (it.timeout !== undefined) parseU32(it.timeout, 'timeout');
      if (it.status !== undefined) {
        const st = parseU32(it.status, 'status');
        if (st & ~SETTABLE_STATUS) {
          throw invalid('update', `status bits 0x${(st & ~SETTABLE_STATUS).toString(16)} cannot be set by an update: the kernel lets only SEEN_REPLY, ASSURED and FIXED_TIMEOUT be set (and none cleared)`);
        }
      }
      if (it.labels !== undefined || it.labelsMask !== undefined) {
        const ok = (b: unknown) => b instanceof Uint8Array && b.length > 0 && b.length <= LABEL_BYTES && b.length % 4 === 0;
        if (!ok(it.labels)) throw invalid('update', `labels must be a bitmap of 4 to ${LABEL_BYTES} bytes (a multiple of 4)`);
        if (it.labelsMask !== undefined && (!ok(it.labelsMask) || it.labelsMask.length !== it.labels!.length)) {
          throw invalid('update', 'the labels mask must be as long as the labels');
        }
      }
    }
    const scope = emptyScope();
    const byEntry = new Map<Uint8Array, Change>(items.map((it) => [it.entry, it]));
    return this.held('update', items.map((it) => it.entry), (enc, m, seq) => {
      scanInto(m, 0, m.length, scope);
      updateRequest(enc, seq, m, 0, scope, byEntry.get(m)!);
    }, onProgress, confirm);
  }

  /** Requests about entries the caller holds (delete, update): checked, optionally confirmed, many per send. */
  private held(
    op: 'delete' | 'update', entries: Uint8Array[], build: (enc: Encoder, m: Uint8Array, seq: number) => void,
    onProgress: ((done: number) => void) | undefined, confirm: Confirm | undefined,
  ): BatchResult {
    const valid: number[] = [];
    const bad: BatchFailure[] = [];
    const scratch = emptyScope();
    entries.forEach((m, i) => {
      if (!scanInto(m, 0, m.length, scratch)) bad.push({ index: i, errno: 'EINVAL', message: 'not a conntrack entry message' });
      else if (scratch.id === undefined) bad.push({ index: i, errno: 'EINVAL', message: 'the entry message has no CTA_ID (the kernel sends one with every entry)' });
      else valid.push(i);
    });
    const outcome = this.run(op, () => confirmThenAct(this.actions(), valid.length, (k) => entries[valid[k]], (enc, k, seq) => build(enc, entries[valid[k]], seq), confirm, onProgress));
    const result = tally(op, outcome.errnos, outcome.messages, (k) => valid[k], outcome.sent);
    if (confirm) {
      result.refused = outcome.refused.map((r) => ({ index: valid[r.index], reason: r.reason }));
      result.windowMs = outcome.windowMs;
    }
    result.failed.push(...bad);
    result.failed.sort((a, b) => a.index - b.index);
    return result;
  }

  /** Creates entries, many per send; each failure is reported with its index. */
  createSync(specs: (CreateSpec | NewEntry)[], onProgress?: (done: number) => void): BatchResult {
    const entries = specs.map((s) => ('tuple' in s ? s : toNewEntry(s)));
    const outcome = this.run('create', () => this.actions().batchSync(entries.length, (enc, i, seq) => createRequest(enc, seq, entries[i]), onProgress));
    return tally('create', outcome.errnos, outcome.messages, (i) => i);
  }

  /**
   * Deletes every entry `filter` selects (all entries when empty), exactly, on any kernel: in the
   * kernel where it honours every attribute of the filter (CTA_ZONE in a delete from Linux 6.8;
   * older kernels ignore it there and would flush every zone), else as a dump with the filter, the
   * zone judged here by the zone rule, and a batch delete of what it selected (confirmed with
   * `confirm`, as deleteSync). Returns the fallback's batch result; undefined when the kernel did
   * it in one request (it does not say how many entries that removed).
   */
  flushSync(filter: KernelFilter = {}, confirm?: Confirm): BatchResult | undefined {
    const plan = planFlush(validateFilter(filter), this.abilities());
    if (plan.kind === 'kernel') {
      this.run('flush', () => this.conn.requestSync((enc, seq) => flushRequest(enc, seq, plan.filter)));
      return undefined;
    }
    // Such kernels ignore CTA_ZONE in deletes and zone 0 in dumps: the zone is judged here, by the zone rule.
    const held: Uint8Array[] = [];
    const buf = new Uint8Array(RECV_BUFFER_BYTES);
    for (const p of plan.dump) {
      this.run('dump', () => this.conn.dumpSync((enc, seq) => kernelDumpRequest(enc, seq, p), buf, (b) => {
        for (const m of splitMessages(b)) if (zoneOfEntry(m) === plan.zone) held.push(m.slice());
      }, () => void (held.length = 0)));
    }
    return this.deleteSync(held, undefined, confirm);
  }

  /** Deletes one zone (flushSync({ zone })); the count when known (the fallback path). */
  deleteZoneSync(zone: number): BatchResult | undefined {
    return this.flushSync({ zone: parseZone(zone) });
  }

  /** Whether this kernel honours CTA_ZONE in a filtered delete (kernelFiltersDeleteByZone). */
  filtersDeleteByZone(): boolean {
    return kernelFiltersDeleteByZone(this.kernelRelease);
  }

  /**
   * How many entries: the kernel's counter (IPCTNL_MSG_CT_GET_STATS: no walk), or with `filter` the
   * entries a kernel-filtered dump returns (a dump interrupted and restarted counts once).
   * `op` names the operation in errors.
   */
  countSync(filter?: KernelFilter, op = 'count'): number {
    let count = 0;
    if (filter) {
      this.dumpSync(filter, new Uint8Array(RECV_BUFFER_BYTES), (_b, c) => void (count += c), () => void (count = 0));
      return count;
    }
    this.run(op, () =>
      this.conn.requestSync((enc, seq) => statsRequest(enc, seq), (msg) => {
        for (const d = new AttrDecoder(msg, NLMSG_HDRLEN + NFGENMSG_LEN, msg.length); d.next(); ) {
          if (d.type === CTA_STATS_GLOBAL_ENTRIES) count = d.u32be() ?? 0;
        }
      }),
    );
    return count;
  }

  /** Per-CPU statistics, as `conntrack -S` prints them. */
  statsSync(): Record<string, number>[] {
    const cpus: Record<string, number>[] = [];
    this.run('stats', () =>
      this.conn.dumpSync((enc, seq) => cpuStatsRequest(enc, seq), new Uint8Array(RECV_BUFFER_BYTES), (b) => {
        for (const msg of splitMessages(b)) {
          const cpu: Record<string, number> = { cpu: new DataView(msg.buffer, msg.byteOffset).getUint16(NLMSG_HDRLEN + 2, false) };
          for (const d = new AttrDecoder(msg, NLMSG_HDRLEN + NFGENMSG_LEN, msg.length); d.next(); ) {
            const name = CTA_STATS_CPU[d.type];
            if (name && d.length === 4) cpu[name] = d.u32be()!;
          }
          cpus.push(cpu);
        }
      }),
    );
    return cpus;
  }

  close(): void {
    this.conn.close();
    if (this.actionConn && this.actionConn.sock !== this.conn.sock) this.actionConn.close();
  }
}

/** A connection over `sock`; the socket is closed when setting it up fails. */
function connect(sock: NetlinkSocketLike): NetlinkConnection {
  try {
    return new NetlinkConnection(sock);
  } catch (e) {
    sock.close();
    throw fromNetlink('open', e);
  }
}

function tally(op: string, errnos: Int32Array, messages: Map<number, string>, index: (k: number) => number, sent?: Uint8Array): BatchResult {
  const tolerated = TOLERATED[op];
  const result: BatchResult = { ok: 0, gone: 0, failed: [] };
  errnos.forEach((e, k) => {
    if (e === 0) {
      if (!sent || sent[k]) result.ok++;
      return;
    }
    const name = errnoName(e);
    if (tolerated[name]) return void result.gone++;
    const text = messages.get(k);
    result.failed.push({ index: index(k), errno: name, message: text ? `${name}: ${text}` : name });
  });
  return result;
}
