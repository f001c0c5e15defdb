// The capability gate: the one place a grant is enforced, between whoever asks (a plugin's
// hostcalls; a daemon's client) and the privileged operations (ConntrackOps). Requests arrive as
// the ABI's records (sdk/abi.json: DumpRequest, UpdateRecord + entry message, CreateRecord, entry
// messages back to back); each is decoded here, narrowed to the grant or refused with an ABI
// status, re-derived from what the scanner reads in the bytes (never from what the asker claims),
// queued within caps (op-queue.ts) and sent after the asker's call returns (send.ts). Entries go
// out only through `admit`: every one re-checked by the scanner against the grant.
// Nothing here knows Wasm, threads or sockets: memory bounds, deadlines and output are the
// caller's. One gate per asker session (a plugin run, a client connection): it holds the queue,
// the subscription and the entries shown under a mark-limited grant.
import { align4 } from '../netlink/attr.js';
import { NLMSG_HDRLEN } from '../netlink/constants.js';
import { splitMessages } from '../netlink/message.js';
import { newEntryScope, toNewEntry } from '../conntrack/new-entry.js';
import { type Awaitable, type ConntrackOps, type EventStream, type HeldChange, loop, type OpsCursor, then } from '../conntrack/ops.js';
import { type NewEntry, SETTABLE_STATUS, stateProblem } from '../conntrack/request.js';
import { emptyScope, entryFamily, scanInto } from '../conntrack/scope.js';
import type { EventKind } from '../conntrack/events.js';
import { abi, STATUS } from '../policy/abi.js';
import type { Operation } from '../policy/capabilities.js';
import { confirmationFor } from '../policy/confirm.js';
import { checkCreate, checkMarkUpdate, eventFilter, planDump, ScopeMatcher } from '../policy/enforce.js';
import type { Grant } from '../policy/grant.js';
import { OpQueue, type Plan, type Verb } from './op-queue.js';
import {
  CREATE_EXT_SIZE, CREATE_RECORD_SIZE, createRecordHasExt, DUMP_REQUEST_SIZE, readCreateRecord, readDumpRequest, readEventKinds, readUpdateExt, readUpdateRecord, unknownFlags,
  type UpdateExt, UPDATE_EXT_SIZE, UPDATE_RECORD_SIZE,
} from './records.js';
import { type Note, type OpFailure, perFilter, sendOp } from './send.js';
import { ShownEntries } from './shown.js';
import type { OpStats } from './stats.js';

export type { Plan } from './op-queue.js';
export type { OpFailure } from './send.js';

const { OK, E_INVAL, E_DENIED, E_SCOPE, E_LIMIT, E_STATE } = STATUS;
const ALL_EVENTS: EventKind[] = ['NEW', 'UPDATE', 'DESTROY'];

/** A request the gate refused: the ABI status the asker gets, and why (for its log). */
export class Refusal {
  constructor(readonly status: number, readonly why: string) {}
}

/** A request's outcome: OK (or how many records were queued), or the refusal. */
export type Admitted = number | Refusal;

/** The gate's requests, named as the ABI's imports (sdk/abi.json, whose `needs` names the operation each needs). */
export type Request = 'dump' | 'delete' | 'update' | 'create' | 'flush' | 'subscribe';

/** Where the in-scope entries of each dump batch go, and what becomes of them. */
export interface DumpSink {
  /** The buffer the next batch's in-scope messages are copied to (from its start); it holds one batch. */
  into(): Uint8Array;
  /** One batch of `len` bytes in that buffer, with the ABI's batch flags; false: deliver no more. */
  batch(len: number, flags: number): Awaitable<boolean>;
  /** Asked before each received buffer: true ends the dump (the asker was stopped). */
  stopped(): boolean;
}

export class ScopedConntrack {
  /** The grant's scope, compiled: every entry handed out passes it. */
  readonly matcher: ScopeMatcher;
  private readonly queue = new OpQueue();
  /** Entries delivered under a mark-limited grant (shown.ts). */
  private readonly shown: ShownEntries | undefined;
  /** Reused by every scope check (scanInto fills it in place). */
  private readonly scratch = emptyScope();
  private sub?: { plan: Plan; kinds: EventKind[] };
  /** The first operations the kernel refused or failed (send.ts FAILURES_KEPT). */
  readonly failures: OpFailure[] = [];

  constructor(private readonly ops: ConntrackOps, readonly grant: Grant, readonly stats: OpStats, private readonly note: Note = () => undefined) {
    this.matcher = ScopeMatcher.of(grant.scope);
    this.shown = grant.scope.mark !== null && grant.scope.mark !== undefined ? new ShownEntries() : undefined;
  }

  /** E_DENIED when the grant lacks the operation `request` needs. */
  denied(request: Request): Refusal | undefined {
    const needs = abi.imports[request].needs as Operation | null;
    return needs && !this.grant.operations.includes(needs) ? new Refusal(E_DENIED, `needs the "${needs}" operation, which the grant does not include`) : undefined;
  }

  // ---- requests (nothing reaches the kernel until send) -------------------------------------

  /** Schedules a dump: one DumpRequest, narrowed to the grant; delivered by `deliver`. */
  dump(req: Uint8Array): Admitted {
    const plan = this.plan('dump', req);
    if (plan instanceof Refusal) return plan;
    const cap = this.overCap('dump', 1, req.length);
    if (cap) return cap;
    this.queue.schedule(plan);
    return OK;
  }

  /** One DumpRequest (its filter and, in flags, the EVENT_* kinds; none: all) for the events of this session; once. */
  subscribe(req: Uint8Array): Admitted {
    const denied = this.denied('subscribe');
    if (denied) return denied;
    if (req.length !== DUMP_REQUEST_SIZE) return new Refusal(E_INVAL, `a DumpRequest is ${DUMP_REQUEST_SIZE} bytes, got ${req.length}`);
    if (this.sub) return new Refusal(E_STATE, 'already subscribed in this run');
    const plan = this.plan('subscribe', req);
    if (plan instanceof Refusal) return plan;
    const kinds = readEventKinds(view(req), 0);
    this.sub = { plan, kinds: kinds.length ? kinds : ALL_EVENTS };
    return OK;
  }

  /** A DumpRequest-shaped filter of entries to flush, narrowed to the grant. */
  flush(req: Uint8Array): Admitted {
    const plan = this.plan('flush', req);
    if (plan instanceof Refusal) return plan;
    const cap = this.overCap('flush', 1, req.length);
    if (cap) return cap;
    this.queue.push({ kind: 'flush', plan }, 1, req.length);
    return OK;
  }

  /** Whole entry messages back to back, as delivered; each re-checked; one bad message refuses all. */
  delete(bytes: Uint8Array): Admitted {
    const denied = this.denied('delete');
    if (denied) return denied;
    const over = this.queue.refusal('delete', 0, bytes.length);
    if (over) return new Refusal(E_LIMIT, over); // before copying: the copy is host memory
    const copy = bytes.slice(); // the asker cannot change the bytes after the check
    const msgs: Uint8Array[] = [];
    let end = 0;
    for (const m of splitMessages(copy)) {
      const why = this.held(m);
      if (why) return why;
      msgs.push(m);
      end = m.byteOffset + align4(m.length);
    }
    if (end < copy.length) return new Refusal(E_INVAL, `bytes ${end}..${copy.length} are not a whole netlink message`);
    const cap = this.overCap('delete', msgs.length, copy.length);
    if (cap) return cap;
    this.queue.push({ kind: 'delete', msgs }, msgs.length, copy.length);
    return msgs.length;
  }

  /** UpdateRecord, its UpdateExt when EXT is set, then the entry message it applies to (padded to 4), repeated. */
  update(bytes: Uint8Array): Admitted {
    const denied = this.denied('update');
    if (denied) return denied;
    const len = bytes.length;
    const over = this.queue.refusal('update', 0, len);
    if (over) return new Refusal(E_LIMIT, over); // before copying: the copy is host memory
    const items: HeldChange[] = [];
    const copy = bytes.slice();
    const v = view(copy);
    for (let at = 0; at < len; ) {
      if (at + UPDATE_RECORD_SIZE + 4 > len) return new Refusal(E_INVAL, 'truncated UpdateRecord');
      const bad = unknownFlags('UpdateRecord', v, at);
      if (bad) return new Refusal(E_INVAL, `unknown UpdateRecord flag bits 0x${bad.toString(16)}`);
      const rec = readUpdateRecord(v, at);
      if (rec.twoMarks) return new Refusal(E_INVAL, 'an UpdateRecord sets MARK or MARK_XOR, not both');
      let start = at + UPDATE_RECORD_SIZE;
      let ext: UpdateExt = {};
      if (rec.ext) {
        if (start + UPDATE_EXT_SIZE + 4 > len) return new Refusal(E_INVAL, 'truncated UpdateExt');
        const badExt = unknownFlags('UpdateExt', v, start);
        if (badExt) return new Refusal(E_INVAL, `unknown UpdateExt flag bits 0x${badExt.toString(16)}`);
        ext = readUpdateExt(v, start);
        start += UPDATE_EXT_SIZE;
      }
      if (!rec.mark && rec.timeout === undefined && ext.status === undefined && !ext.labels && ext.state === undefined) {
        return new Refusal(E_INVAL, rec.ext ? 'an UpdateRecord must set MARK, MARK_XOR, TIMEOUT or an UpdateExt field' : 'an UpdateRecord must set MARK and/or TIMEOUT');
      }
      const msgLen = v.getUint32(start, true);
      if (msgLen > len - start) return new Refusal(E_INVAL, 'entry message runs past the buffer');
      const entry = copy.subarray(start, start + msgLen);
      const why = this.held(entry);
      if (why) return why;
      if (rec.mark) {
        // Checked against the mark in the bytes here, and against the kernel's current mark when
        // the grant is mark-limited (policy/confirm.ts); the kernel applies the masked change atomically.
        const next = checkMarkUpdate(this.scratch.mark, rec.mark, this.grant.scope, this.matcher);
        if (typeof next === 'string') return new Refusal(E_SCOPE, next);
      }
      const bits = (ext.status ?? 0) & ~SETTABLE_STATUS;
      if (bits) return new Refusal(E_INVAL, `status bits 0x${bits.toString(16)} cannot be set by an update (the kernel lets only SEEN_REPLY, ASSURED and FIXED_TIMEOUT be set)`);
      const badState = ext.state === undefined ? undefined : stateProblem(this.scratch.protocol, ext.state);
      if (badState) return new Refusal(E_INVAL, badState);
      items.push({ entry, mark: rec.mark?.value, markMask: rec.mark?.mask, markXor: rec.mark?.xor || undefined, timeout: rec.timeout, ...ext });
      at = start + align4(msgLen);
    }
    const cap = this.overCap('update', items.length, len);
    if (cap) return cap;
    this.queue.push({ kind: 'update', items }, items.length, len);
    return items.length;
  }

  /**
   * CreateRecords back to back, each followed by its CreateExt when EXT is set. Each is validated
   * now by toNewEntry, the validator direct mode uses (a record no kernel request can be built from
   * is E_INVAL here, not a failed send later), and the entry it builds, reply tuple and NAT
   * included, must lie inside the grant (newEntryScope: family, protocol, zone by the zone rule, mark).
   */
  create(bytes: Uint8Array): Admitted {
    const denied = this.denied('create');
    if (denied) return denied;
    const len = bytes.length;
    if (len === 0) return new Refusal(E_INVAL, 'no CreateRecord');
    const over = this.queue.refusal('create', 0, len);
    if (over) return new Refusal(E_LIMIT, over);
    const v = view(bytes);
    const entries: NewEntry[] = [];
    for (let at = 0; at < len; ) {
      if (at + CREATE_RECORD_SIZE > len) return new Refusal(E_INVAL, `bytes ${at}..${len} are not a whole ${CREATE_RECORD_SIZE}-byte CreateRecord`);
      const bad = unknownFlags('CreateRecord', v, at);
      if (bad) return new Refusal(E_INVAL, `unknown CreateRecord flag bits 0x${bad.toString(16)}`);
      let extAt = -1, next = at + CREATE_RECORD_SIZE;
      if (createRecordHasExt(v, at)) {
        if (next + CREATE_EXT_SIZE > len) return new Refusal(E_INVAL, `the CreateRecord at ${at} sets EXT but ${len - next} bytes follow, not a ${CREATE_EXT_SIZE}-byte CreateExt`);
        const badExt = unknownFlags('CreateExt', v, next);
        if (badExt) return new Refusal(E_INVAL, `unknown CreateExt flag bits 0x${badExt.toString(16)}`);
        extAt = next;
        next += CREATE_EXT_SIZE;
      }
      const r = readCreateRecord(v, at, extAt);
      if (typeof r === 'string') return new Refusal(E_INVAL, r);
      let entry: NewEntry, scope: ReturnType<typeof newEntryScope>;
      try {
        entry = toNewEntry(r.spec);
        scope = newEntryScope(entry);
      } catch (e) {
        return new Refusal(E_INVAL, (e as Error).message);
      }
      const why = checkCreate(scope, this.matcher);
      if (why) return new Refusal(E_SCOPE, why);
      entries.push(entry);
      at = next;
    }
    const cap = this.overCap('create', entries.length, len);
    if (cap) return cap;
    this.queue.push({ kind: 'create', entries }, entries.length, len);
    return entries.length;
  }

  /** A DumpRequest narrowed to the grant, or the refusal. */
  private plan(request: 'dump' | 'flush' | 'subscribe', req: Uint8Array): Plan | Refusal {
    const denied = this.denied(request);
    if (denied) return denied;
    if (req.length !== DUMP_REQUEST_SIZE) {
      return new Refusal(E_INVAL, request === 'flush' ? `a flush filter is a ${DUMP_REQUEST_SIZE}-byte DumpRequest, got ${req.length}` : `a DumpRequest is ${DUMP_REQUEST_SIZE} bytes, got ${req.length}`);
    }
    const v = view(req);
    const bad = unknownFlags('DumpRequest', v, 0);
    if (bad) return new Refusal(E_INVAL, `unknown DumpRequest flag bits 0x${bad.toString(16)}`);
    if (request !== 'subscribe' && readEventKinds(v, 0).length) return new Refusal(E_INVAL, 'EVENT_* flags are only for subscribe');
    const plan = planDump(readDumpRequest(v, 0), this.grant.scope, this.matcher);
    return plan.ok ? plan : new Refusal(E_SCOPE, plan.reason);
  }

  /**
   * Why a held entry may not be deleted or updated (the scanner reads it into scratch), or
   * undefined: it must be a conntrack entry message with its CTA_ID, not the bytes of a DESTROY
   * event (that entry no longer exists; whatever has its id now is another one), inside the
   * grant and, under a mark-limited grant, one this session was shown.
   */
  private held(msg: Uint8Array): Refusal | undefined {
    const s = this.scratch;
    if (!scanInto(msg, 0, msg.length, s)) return new Refusal(E_INVAL, 'not a conntrack entry message');
    if (s.destroyed) return new Refusal(E_SCOPE, 'bytes of a DESTROY event: that entry no longer exists');
    if (s.id === undefined) return new Refusal(E_INVAL, 'the entry message has no CTA_ID (the kernel sends one with every entry)');
    const why = this.matcher.why(s) ?? this.shown?.unshown(msg, s);
    return why ? new Refusal(E_SCOPE, why) : undefined;
  }

  /** A cap of the operation queue reached: E_LIMIT, nothing of this request queued. */
  private overCap(verb: Verb, ops: number, bytes: number): Refusal | undefined {
    const why = this.queue.refusal(verb, ops, bytes);
    return why === undefined ? undefined : new Refusal(E_LIMIT, why);
  }

  // ---- sending -------------------------------------------------------------------------------

  /** Sends what was queued since the last send, in order (after the asker's call returned). */
  send(): Awaitable<void> {
    const ops = this.queue.take();
    const ctx = {
      ops: this.ops, stats: this.stats, failures: this.failures, note: this.note, scratch: this.scratch,
      confirm: (markChange?: Parameters<typeof confirmationFor>[2]) => confirmationFor(this.grant.scope, this.matcher, markChange),
    };
    let i = 0;
    return loop(() => i < ops.length && then(sendOp(ops[i++], ctx), () => true));
  }

  /** The asker's call did not finish: nothing it queued is sent. */
  discard(): void {
    this.queue.discard();
  }

  // ---- delivery ------------------------------------------------------------------------------

  /** Dumps scheduled so far (requests made while delivering are appended). */
  get dumps(): readonly Plan[] {
    return this.queue.dumps;
  }

  get subscription(): { plan: Plan; kinds: EventKind[] } | undefined {
    return this.sub;
  }

  /**
   * Runs the kernel dumps of `plan` and hands the sink each received buffer's in-scope entries,
   * re-checked by the scanner and copied into its buffer (the raw buffer never leaves the gate).
   * The first batch carries `flags` (RESYNC after lost events); a dump the kernel restarted marks
   * its next batch RESYNC (the entries come again). Returns true when the sink stopped it.
   */
  deliver(plan: Plan, sink: DumpSink, flags = 0): Awaitable<boolean> {
    const d = this.delivery(plan, sink, flags);
    return then(loop(() => d.step()), () => d.stopped);
  }

  /**
   * deliver(), one received buffer per step(): step() answers whether there is more. A caller that
   * must return to its own loop between buffers (a main-thread run, guarded slice by slice) steps it.
   */
  delivery(plan: Plan, sink: DumpSink, flags = 0): { step(): Awaitable<boolean>; readonly stopped: boolean } {
    this.stats.dumps++;
    let stopped = false, i = 0;
    let cursor: OpsCursor | undefined;
    let matcher = plan.matcher;
    const end = () => then(cursor!.stop(), () => { stopped = true; cursor = undefined; return false; });
    return {
      get stopped() { return stopped; },
      step: () => {
        if (stopped) return false;
        if (!cursor) {
          if (i >= plan.filters.length) return false;
          const filter = plan.filters[i++];
          matcher = perFilter(plan, filter);
          cursor = this.ops.dump(filter, () => { flags |= abi.batchFlags.RESYNC; });
        }
        return then(cursor.next(), (b) => {
          if (!b) {
            cursor = undefined;
            return i < plan.filters.length;
          }
          if (sink.stopped()) return end(); // stopped or aborted: deliver no more
          const len = this.admit(b.entries, matcher, sink.into(), 'entries');
          if (len === 0) return true;
          this.stats.batches++;
          const go = sink.batch(len, flags);
          flags = 0;
          return then(go, (more) => more || end());
        });
      },
    };
  }

  /** The events of the subscription, filtered in the kernel as planned (a superset: `admit` each batch). */
  openEvents(): EventStream {
    const { plan, kinds } = this.sub!;
    return this.ops.subscribe(kinds, eventFilter(plan));
  }

  /**
   * Copies the in-scope messages of one received buffer to the start of `out`, counting them as
   * `counter`, and returns the bytes written. This runs for every entry, so it allocates nothing
   * per message: each run of consecutive in-scope messages is one copy (normally the whole buffer).
   */
  admit(batch: Uint8Array, matcher: ScopeMatcher, out: Uint8Array, counter: 'entries' | 'events'): number {
    const s = this.scratch;
    const end = batch.length;
    // Dump entries under a grant (and request) that constrain only the family: the family byte is
    // the whole check (no entry is remembered for later: no shown list).
    const families = counter === 'entries' && !this.shown ? matcher.familyOnly() : undefined;
    let w = 0, run = -1, p = 0;
    const flush = (upTo: number) => {
      out.set(batch.subarray(run, upTo), w);
      w += upTo - run;
      run = -1;
    };
    while (p + NLMSG_HDRLEN <= end) {
      const len = (batch[p] | (batch[p + 1] << 8) | (batch[p + 2] << 16) | (batch[p + 3] << 24)) >>> 0;
      if (len < NLMSG_HDRLEN || p + len > end) break; // malformed tail: never read (as splitMessages)
      const inside = families === undefined
        ? scanInto(batch, p, len, s) && matcher.matches(s)
        : (families === null ? entryFamily(batch, p, len) >= 0 : families.includes(entryFamily(batch, p, len)));
      if (inside) {
        this.stats[counter]++;
        if (this.shown) {
          if (s.destroyed) this.shown.forget(s);
          else this.shown.remember(batch, p, s);
        }
        if (run < 0) run = p;
      } else {
        this.stats.filtered++;
        if (run >= 0) flush(p);
      }
      p = Math.min(end, p + align4(len));
    }
    if (run >= 0) flush(p);
    return w;
  }
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
