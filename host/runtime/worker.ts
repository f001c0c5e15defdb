// Plugin worker (worker_threads entry; bundled separately as dist/worker.js). It owns one plugin's
// Wasm instance, its conntrack backend and the ctplug hostcalls. The main thread only spawns it,
// watches the call clock and relays what it posts (protocol.ts).
// Past 400 lines on purpose: every hostcall check, the delivery loops and the run's accounting work
// on one Run's state, and reading them side by side is how the sandbox's rules are audited.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { WASI } from '@wasmer/wasi';
import { align4 } from '../netlink/attr.js';
import { RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { NLMSG_HDRLEN } from '../netlink/constants.js';
import { splitMessages } from '../netlink/message.js';
import { AbortError } from '../netlink/abort.js';
import { FdLedger } from '../netlink/fd-ledger.js';
import { recordSocketsIn } from '../netlink/socket.js';
import { CtError } from '../conntrack/errors.js';
import { emptyScope, scanInto, type ScopeFields } from '../conntrack/scope.js';
import { toNewEntry } from '../conntrack/conntrack.js';
import type { Change, NewEntry } from '../conntrack/request.js';
import type { EventKind } from '../conntrack/events.js';
import { confirmationFor } from '../policy/confirm.js';
import { checkCreate, checkMarkUpdate, eventFilter, planDump, ScopeMatcher } from '../policy/enforce.js';
import { escapeText } from '../policy/untrusted-text.js';
import { abi, EXPORT, STATUS } from '../policy/abi.js';
import { type Backend, openBackend } from './backend.js';
import { LogSink, MAX_LINE_BYTES } from './log-sink.js';
import { OpQueue, type Plan, type Verb } from './op-queue.js';
import { emptyStats, type FromWorker, type LogLevel, type RunStats, type WorkerError, type WorkerInit } from './protocol.js';
import {
  CREATE_RECORD_SIZE, DUMP_REQUEST_SIZE, readCreateRecord, readDumpRequest, readEventKinds, readUpdateRecord, unknownFlags, UPDATE_RECORD_SIZE,
} from './records.js';
import { perFilter, sendOp, type SendContext } from './send-ops.js';
import { ShownEntries } from './shown.js';
import { CallClock, INSTANTIATE } from './watchdog.js';
import { type MemoryAccess, ProcExit, wasiImports } from './wasi-imports.js';

const port = parentPort!;
type ToWorker = { type: 'init'; init: WorkerInit } | { type: 'run'; config?: string };
// One listener for the worker's life; messages that arrive before their handler is ready wait here.
const inbox: ToWorker[] = [];
let deliver: ((m: ToWorker) => void) | undefined;
port.on('message', (m: ToWorker) => (deliver ? deliver(m) : inbox.push(m)));
/** Given at spawn, or, to a worker started before its plugin was known (prespawn.ts), as the first message. */
const data: WorkerInit = (workerData as WorkerInit | undefined) ?? await new Promise<WorkerInit>((resolve) => {
  deliver = (m) => {
    if (m.type !== 'init') return;
    deliver = undefined;
    resolve(m.init);
  };
});
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
// Every socket this worker opens is listed where the main thread can close it after a termination.
recordSocketsIn(new FdLedger(data.fds));

/** Bytes one on_entries batch can hold: one kernel dump datagram (+ padding of the last message). */
const BATCH_BYTES = RECV_BUFFER_BYTES + 8;
/** Bytes one on_events batch can hold: every event already queued, up to this (EventSource needs >= 128 KiB). */
const EVENT_BATCH_BYTES = 256 * 1024;
const ALL_EVENTS: EventKind[] = ['NEW', 'UPDATE', 'DESTROY'];
/** Output is handed to the main thread in chunks of about this size, or this often. */
const PUBLISH_BYTES = 256 * 1024;
const PUBLISH_MS = 50;
/**
 * Output chunks the embedder released (RunOptions.onOutput's `release`) are filled again instead
 * of a fresh buffer per chunk: fresh chunks become garbage that V8 lets pile up (tens of MiB)
 * before the main thread collects it; a flow log's RSS rose by that much per 100k-flow burst.
 * Once chunks come back they are sized in powers of two so they fit later ones; before that,
 * exactly (a chunk an embedder keeps holds no slack). At most SPARE_MAX wait for reuse.
 */
const SPARE_MAX = 8;
const spare: ArrayBuffer[] = [];
let releasing = false;
function chunkBuffer(n: number): ArrayBuffer {
  for (let m; (m = receiveMessageOnPort(data.recycle)); releasing = true) if (spare.length < SPARE_MAX) spare.push(m.message as ArrayBuffer);
  const i = spare.findIndex((b) => b.byteLength >= n);
  return i >= 0 ? spare.splice(i, 1)[0] : new ArrayBuffer(releasing ? 2 ** Math.ceil(Math.log2(n)) : n);
}

const { OK, STOP, E_INVAL, E_BOUNDS, E_DENIED, E_SCOPE, E_LIMIT, E_STATE } = STATUS;
const statusName = new Map(Object.entries(STATUS).filter(([k]) => k.startsWith('E_')).map(([k, v]) => [v, k]));
const levelName = new Map(Object.entries(abi.logLevels).map(([k, v]) => [v, k.toLowerCase() as LogLevel]));

/** A failure that ends the run, already described for the main thread. */
class RunFailure { constructor(readonly error: WorkerError) {} }

const clock = new CallClock(data.clock);
const grant = data.grant;
const baseMatcher = ScopeMatcher.of(grant.scope);
const markScoped = grant.scope.mark !== null && grant.scope.mark !== undefined;
/** Reused by every scope check (scanInto fills it in place). */
const scratch = emptyScope();
let backend: Backend | undefined;
/** @wasmer/wasi, loaded only for plugins that import WASI: parsing the package alone costs ~100 ms. */
let wasiLib: typeof import('@wasmer/wasi') | undefined;

class Run {
  readonly stats: RunStats = emptyStats();
  /** What the `config` hostcall answers: this run's config, else the one given at load. */
  private readonly configBytes: Uint8Array;
  private instance!: WebAssembly.Instance;
  private memory?: WebAssembly.Memory;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));
  private readonly logs = new LogSink(grant.limits.log_lines_per_s, this.stats);
  /** Output not yet handed to the main thread: its first outputBytes bytes (copied into a chunk). */
  private output = new Uint8Array(0);
  private readonly queue = new OpQueue();
  private subscription?: { plan: Plan; kinds: EventKind[] };
  /** Entries delivered under a mark-limited grant (shown.ts). */
  private readonly shown = markScoped ? new ShownEntries() : undefined;
  private readonly mem: MemoryAccess = { span: (p, n) => this.span(p, n), u8: () => this.u8, dv: () => this.dv };

  constructor(config: string) {
    this.configBytes = new TextEncoder().encode(config);
  }

  /**
   * Builds the import object (ctplug hostcalls from abi.json, plus the allowed WASI functions)
   * and instantiates, under the deadline: the module's start section runs here. Imports called
   * from a start section fail the run: the instance (its memory) does not exist yet.
   */
  instantiate(): void {
    const impls: Record<string, (...a: number[]) => number> = {
      dump: (p, n) => this.dump(p, n), delete: (p, n) => this.del(p, n), update: (p, n) => this.update(p, n),
      create: (p, n) => this.create(p, n), flush: (p, n) => this.flush(p, n), subscribe: (p, n) => this.subscribe(p, n),
      emit: (p, n) => this.emit(p, n),
      log: (l, p, n) => this.log(l, p, n), config: (p, n) => this.config(p, n),
      clock: () => (performance.timeOrigin + performance.now()) / 1000,
    };
    const ready = <F extends (...a: never[]) => unknown>(name: string, f: F): F => ((...a: Parameters<F>) => {
      if (!this.memory) {
        throw new RunFailure({ kind: 'status', call: INSTANTIATE, code: E_STATE, detail: `the start section called ${name}; imports are not available before the instance exists (export _start or use ctplug_init instead)` });
      }
      return f(...a);
    }) as F;
    const ctplug: Record<string, (...a: number[]) => number> = {};
    for (const [name, def] of Object.entries(abi.imports)) {
      const impl = impls[name];
      if (!impl) throw new Error(`host bug: sdk/abi.json import ctplug.${name} has no implementation`);
      ctplug[name] = ready(`${abi.importModule}.${name}`, def.needs && !grant.operations.includes(def.needs as never)
        ? () => this.refuse(name, E_DENIED, `needs the "${def.needs}" operation, which the grant does not include`)
        : impl);
    }
    const imports: WebAssembly.Imports = { [abi.importModule]: ctplug };
    let wasi: WASI | undefined;
    if (data.usesWasi) {
      // @wasmer/wasi with its in-memory FS: no preopens, no env, argv = [plugin name].
      wasi = new wasiLib!.WASI({ args: [data.plugin], env: {} });
      const all = (wasi.getImports(data.module) as Record<string, Record<string, WebAssembly.ImportValue>>)[abi.wasiModule];
      const own = wasiImports(this.mem, this.logs, all);
      imports[abi.wasiModule] = Object.fromEntries(Object.entries(own).map(([n, f]) => [n, ready(`${abi.wasiModule}.${n}`, f as (...a: never[]) => unknown)]));
    }
    clock.enter(INSTANTIATE);
    try {
      this.instance = new WebAssembly.Instance(data.module, imports);
    } catch (e) {
      throw this.describe(e, INSTANTIATE);
    } finally {
      clock.hostWork();
    }
    wasi?.instantiate(this.instance); // binds the WASI functions to this instance's memory
    this.memory = this.instance.exports[EXPORT.memory] as WebAssembly.Memory;
  }

  /** Views of the current memory; memory.grow detaches the old ArrayBuffer. */
  private refresh(): void {
    if (this.u8.buffer !== this.memory!.buffer) {
      this.u8 = new Uint8Array(this.memory!.buffer);
      this.dv = new DataView(this.memory!.buffer);
    }
  }

  /** The i32 (ptr, len) pair as a checked range; negative or past the end of memory is E_BOUNDS. */
  private span(ptr: number, len: number): boolean {
    this.refresh();
    return ptr >= 0 && len >= 0 && ptr + len <= this.u8.length;
  }

  /** A refused hostcall: counted, explained once per (call, status), status returned to the plugin. */
  private refuse(call: string, status: number, why: string): number {
    this.stats.refused++;
    this.logs.note(`${call}:${status}`, 'warn', `${call} refused (${statusName.get(status)}): ${why}`);
    return status;
  }

  /** A cap of the operation queue reached: E_LIMIT, nothing of this call queued. */
  private overCap(call: string, verb: Verb, ops: number, bytes: number): number | undefined {
    const why = this.queue.refusal(verb, ops, bytes);
    return why === undefined ? undefined : this.refuse(call, E_LIMIT, why);
  }

  // ---- hostcalls ---------------------------------------------------------------------------

  private dump(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('dump', E_BOUNDS, 'request out of bounds');
    if (len !== DUMP_REQUEST_SIZE) return this.refuse('dump', E_INVAL, `a DumpRequest is ${DUMP_REQUEST_SIZE} bytes, got ${len}`);
    const plan = this.plan('dump', ptr);
    if (typeof plan === 'number') return plan;
    const cap = this.overCap('dump', 'dump', 1, len);
    if (cap !== undefined) return cap;
    this.queue.schedule(plan);
    return OK;
  }

  /** A DumpRequest at ptr (already bounds-checked) narrowed to the grant, or the refusal status. */
  private plan(call: string, ptr: number): Plan | number {
    const bad = unknownFlags('DumpRequest', this.dv, ptr);
    if (bad) return this.refuse(call, E_INVAL, `unknown DumpRequest flag bits 0x${bad.toString(16)}`);
    if (call !== 'subscribe' && readEventKinds(this.dv, ptr).length) return this.refuse(call, E_INVAL, 'EVENT_* flags are only for subscribe');
    const plan = planDump(readDumpRequest(this.dv, ptr), grant.scope, baseMatcher);
    return plan.ok ? plan : this.refuse(call, E_SCOPE, plan.reason);
  }

  private subscribe(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('subscribe', E_BOUNDS, 'request out of bounds');
    if (len !== DUMP_REQUEST_SIZE) return this.refuse('subscribe', E_INVAL, `a DumpRequest is ${DUMP_REQUEST_SIZE} bytes, got ${len}`);
    if (this.subscription) return this.refuse('subscribe', E_STATE, 'already subscribed in this run');
    if (!this.instance.exports[EXPORT.onEvents]) return this.refuse('subscribe', E_STATE, `the plugin does not export ${EXPORT.onEvents}`);
    const plan = this.plan('subscribe', ptr);
    if (typeof plan === 'number') return plan;
    const kinds = readEventKinds(this.dv, ptr);
    this.subscription = { plan, kinds: kinds.length ? kinds : ALL_EVENTS };
    return OK;
  }

  /**
   * Why a held entry (scanned into s) may not be deleted or updated, or undefined: bytes of a
   * DESTROY event describe an entry that no longer exists (whatever has its id now is another
   * one), an entry needs its CTA_ID, it must be inside the grant and, under a mark-limited
   * grant, one the plugin was shown.
   */
  private heldWhy(msg: Uint8Array, s: ScopeFields): [number, string] | undefined {
    if (s.destroyed) return [E_SCOPE, 'bytes of a DESTROY event: that entry no longer exists'];
    if (s.id === undefined) return [E_INVAL, 'the entry message has no CTA_ID (the kernel sends one with every entry)'];
    const why = baseMatcher.why(s) ?? this.shown?.unshown(msg, s);
    return why ? [E_SCOPE, why] : undefined;
  }

  /** Copies (ptr, len) and splits it into whole entry messages, each re-checked against the grant. */
  private del(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('delete', E_BOUNDS, 'buffer out of bounds');
    const over = this.queue.refusal('delete', 0, len);
    if (over) return this.refuse('delete', E_LIMIT, over); // before copying: the copy is host memory
    const copy = this.u8.slice(ptr, ptr + len); // the plugin cannot change the bytes after the check
    const msgs: Uint8Array[] = [];
    let end = 0;
    for (const m of splitMessages(copy)) {
      if (!scanInto(m, 0, m.length, scratch)) return this.refuse('delete', E_INVAL, 'not a conntrack entry message');
      const why = this.heldWhy(m, scratch);
      if (why) return this.refuse('delete', why[0], why[1]);
      msgs.push(m);
      end = m.byteOffset + align4(m.length);
    }
    if (end < len) return this.refuse('delete', E_INVAL, `bytes ${end}..${len} are not a whole netlink message`);
    const cap = this.overCap('delete', 'delete', msgs.length, len);
    if (cap !== undefined) return cap;
    this.queue.push({ kind: 'delete', msgs }, msgs.length, len);
    return msgs.length;
  }

  /** UpdateRecord, then the entry message it applies to (padded to 4), repeated. */
  private update(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('update', E_BOUNDS, 'buffer out of bounds');
    const over = this.queue.refusal('update', 0, len);
    if (over) return this.refuse('update', E_LIMIT, over); // before copying: the copy is host memory
    const items: (Change & { entry: Uint8Array })[] = [];
    const copy = this.u8.slice(ptr, ptr + len);
    const v = new DataView(copy.buffer);
    for (let at = 0; at < len; ) {
      if (at + UPDATE_RECORD_SIZE + 4 > len) return this.refuse('update', E_INVAL, 'truncated UpdateRecord');
      const bad = unknownFlags('UpdateRecord', v, at);
      if (bad) return this.refuse('update', E_INVAL, `unknown UpdateRecord flag bits 0x${bad.toString(16)}`);
      const rec = readUpdateRecord(v, at);
      if (!rec.mark && rec.timeout === undefined) return this.refuse('update', E_INVAL, 'an UpdateRecord must set MARK and/or TIMEOUT');
      const msgLen = v.getUint32(at + UPDATE_RECORD_SIZE, true);
      const start = at + UPDATE_RECORD_SIZE;
      if (msgLen > len - start) return this.refuse('update', E_INVAL, 'entry message runs past the buffer');
      const entry = copy.subarray(start, start + msgLen);
      if (!scanInto(entry, 0, entry.length, scratch)) return this.refuse('update', E_INVAL, 'not a conntrack entry message');
      const why = this.heldWhy(entry, scratch);
      if (why) return this.refuse('update', why[0], why[1]);
      if (rec.mark) {
        // Checked against the mark in the bytes here, and against the kernel's current mark when
        // the grant is mark-limited (policy/confirm.ts); the kernel applies the masked change atomically.
        const next = checkMarkUpdate(scratch.mark, rec.mark.value, rec.mark.mask, grant.scope, baseMatcher);
        if (typeof next === 'string') return this.refuse('update', E_SCOPE, next);
      }
      items.push({ entry, mark: rec.mark?.value, markMask: rec.mark?.mask, timeout: rec.timeout });
      at = start + align4(msgLen);
    }
    const cap = this.overCap('update', 'update', items.length, len);
    if (cap !== undefined) return cap;
    this.queue.push({ kind: 'update', items }, items.length, len);
    return items.length;
  }

  /** CreateRecords, each validated now (a record the kernel request could not be built from is E_INVAL here, not a failed run later). */
  private create(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('create', E_BOUNDS, 'buffer out of bounds');
    if (len === 0 || len % CREATE_RECORD_SIZE !== 0) return this.refuse('create', E_INVAL, `length ${len} is not a multiple of ${CREATE_RECORD_SIZE} (CreateRecord)`);
    const cap = this.overCap('create', 'create', len / CREATE_RECORD_SIZE, len);
    if (cap !== undefined) return cap;
    const entries: NewEntry[] = [];
    for (let at = ptr; at < ptr + len; at += CREATE_RECORD_SIZE) {
      const bad = unknownFlags('CreateRecord', this.dv, at);
      if (bad) return this.refuse('create', E_INVAL, `unknown CreateRecord flag bits 0x${bad.toString(16)}`);
      const r = readCreateRecord(this.dv, at);
      if (typeof r === 'string') return this.refuse('create', E_INVAL, r);
      const why = checkCreate({ family: r.family, protocol: r.protocol, zone: r.spec.zone, mark: r.spec.mark }, baseMatcher);
      if (why) return this.refuse('create', E_SCOPE, why);
      try {
        entries.push(toNewEntry(r.spec));
      } catch (e) {
        return this.refuse('create', E_INVAL, (e as Error).message);
      }
    }
    this.queue.push({ kind: 'create', entries }, entries.length, len);
    return entries.length;
  }

  private flush(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('flush', E_BOUNDS, 'request out of bounds');
    if (len !== DUMP_REQUEST_SIZE) return this.refuse('flush', E_INVAL, `a flush filter is a ${DUMP_REQUEST_SIZE}-byte DumpRequest, got ${len}`);
    const plan = this.plan('flush', ptr);
    if (typeof plan === 'number') return plan;
    const cap = this.overCap('flush', 'flush', 1, len);
    if (cap !== undefined) return cap;
    this.queue.push({ kind: 'flush', plan }, 1, len);
    return OK;
  }

  private emit(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('emit', E_BOUNDS, 'buffer out of bounds');
    const cap = grant.limits.output_bytes;
    if (this.stats.emittedBytes + len > cap) {
      this.stats.refused++;
      this.logs.note('emit:cap', 'warn', `output limit reached (${cap} bytes); further output is dropped`);
      return E_LIMIT;
    }
    if (this.outputBytes + len > this.output.length) {
      const bigger = new Uint8Array(Math.max(this.outputBytes + len, 2 * this.output.length));
      bigger.set(this.output.subarray(0, this.outputBytes));
      this.output = bigger;
    }
    this.output.set(this.u8.subarray(ptr, ptr + len), this.outputBytes);
    this.outputBytes += len;
    this.stats.emittedBytes += len;
    return OK;
  }

  private log(level: number, ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('log', E_BOUNDS, 'buffer out of bounds');
    const name = levelName.get(level);
    if (!name) return this.refuse('log', E_INVAL, `unknown log level ${level}`);
    const text = new TextDecoder().decode(this.u8.subarray(ptr, ptr + Math.min(len, MAX_LINE_BYTES + 4)));
    return this.logs.line(name, 'log', text.replace(/\n$/, '')) ? OK : E_LIMIT;
  }

  private config(ptr: number, cap: number): number {
    if (!this.span(ptr, cap)) return this.refuse('config', E_BOUNDS, 'buffer out of bounds');
    if (this.configBytes.length <= cap) this.u8.set(this.configBytes, ptr);
    return this.configBytes.length;
  }

  // ---- export calls ------------------------------------------------------------------------

  /**
   * Calls one export under the watchdog clock; traps and exits become RunFailure. The clock
   * keeps running after it returns, over the host work the call queued (watchdog.ts).
   */
  private call(name: string, ...args: number[]): number {
    const fn = this.instance.exports[name] as ((...a: number[]) => number) | undefined;
    if (!fn) return OK;
    clock.enter(name);
    try {
      return fn(...args) ?? OK;
    } catch (e) {
      this.queue.discard(); // a call that did not finish does not get its queued operations sent
      throw this.describe(e, name);
    } finally {
      clock.hostWork();
      this.logs.flushLong();
    }
  }

  private check(name: string, status: number): number {
    if (status < 0) {
      const why = this.logs.lastError ? ` (plugin said: ${this.logs.lastError})` : '';
      throw new RunFailure({ kind: 'status', call: name, code: status, detail: `returned ${statusName.get(status) ?? status}${why}` });
    }
    return status;
  }

  private describe(e: unknown, call: string): RunFailure | ProcExit {
    if (e instanceof ProcExit) {
      if (e.code === 0) return e;
      const last = this.logs.lastStderr();
      return new RunFailure({ kind: 'exit', call, code: e.code, detail: `exit code ${e.code}${last ? `: ${last}` : ''}` });
    }
    if (e instanceof RunFailure) return e;
    // Stack overflow in Wasm surfaces as a RangeError; everything else the engine raises is a
    // RuntimeError (a LinkError or CompileError here can only come from the module too).
    if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError || (call === INSTANTIATE && e instanceof Error)) {
      const frames = (e.stack ?? '').split('\n').filter((l) => l.includes('wasm://') || l.includes('wasm-function'));
      // The SDK's abort() logs "abort: MESSAGE at FILE:LINE:COL" and then traps: that line is the reason.
      const abort = this.logs.lastError.startsWith('abort: ') ? escapeText(this.logs.lastError) : undefined;
      return new RunFailure({ kind: 'trap', call, message: escapeText(e.message), abort, stack: frames.slice(0, 20).map(escapeText).join('\n') || undefined });
    }
    return new RunFailure(hostFailure(e, call));
  }

  /**
   * After each export call: queued kernel operations (on the call's clock), then logs, output
   * and progress to main. During a dump, output and progress are coalesced (a message per batch
   * costs more than the batch); `now` (events, the end of a run) sends everything at once.
   */
  private afterCall(now = true): void {
    const ctx: SendContext = {
      ct: backend!.ct, stats: this.stats, scratch,
      note: (k, l, t) => this.logs.note(k, l, t),
      confirm: (markChange) => confirmationFor(grant.scope, baseMatcher, markChange),
    };
    for (const op of this.queue.take()) sendOp(op, ctx);
    this.publish(now);
  }

  private outputBytes = 0;
  private lastPublish = 0;

  private publish(now = true): void {
    const lines = this.logs.take();
    if (lines.length) post({ type: 'log', lines });
    const t = performance.now();
    if (!now && this.outputBytes < PUBLISH_BYTES && t - this.lastPublish < PUBLISH_MS) return;
    this.lastPublish = t;
    if (this.outputBytes) {
      const bytes = new Uint8Array(chunkBuffer(this.outputBytes), 0, this.outputBytes);
      bytes.set(this.output.subarray(0, this.outputBytes));
      // One huge emit does not keep its staging size for the rest of a long event run.
      if (this.output.length > 4 * PUBLISH_BYTES) this.output = new Uint8Array(0);
      this.outputBytes = 0;
      clock.waitForOutputCredit(); // the embedder's consumer is behind: produce nothing more until it catches up
      clock.chunkPosted();
      post({ type: 'emit', bytes }, [bytes.buffer as ArrayBuffer]);
    }
    post({ type: 'progress', stats: this.stats });
  }

  /**
   * Copies the in-scope messages of one received buffer into the plugin's batch buffer. This runs
   * for every entry, so it allocates nothing per message: each run of consecutive in-scope
   * messages is one copy (normally the whole buffer).
   */
  private compact(batch: Uint8Array, matcher: ScopeMatcher, dest: number, counter: 'entries' | 'events'): number {
    this.refresh();
    const s = scratch;
    const end = batch.length;
    let w = dest, run = -1, p = 0;
    const flush = (upTo: number) => {
      this.u8.set(batch.subarray(run, upTo), w);
      w += upTo - run;
      run = -1;
    };
    while (p + NLMSG_HDRLEN <= end) {
      const len = (batch[p] | (batch[p + 1] << 8) | (batch[p + 2] << 16) | (batch[p + 3] << 24)) >>> 0;
      if (len < NLMSG_HDRLEN || p + len > end) break; // malformed tail: never read (as splitMessages)
      if (scanInto(batch, p, len, s) && matcher.matches(s)) {
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
    return w - dest;
  }

  async execute(): Promise<void> {
    try {
      this.instantiate();
      if (this.instance.exports[EXPORT.start]) this.call(EXPORT.start);
      this.check(EXPORT.init, this.call(EXPORT.init));
      this.afterCall();
      await this.deliver();
      this.check(EXPORT.finish, this.call(EXPORT.finish));
      this.afterCall();
    } catch (e) {
      if (!(e instanceof ProcExit)) throw e; // exit(0): the plugin is done
      this.afterCall();
    } finally {
      clock.leave();
      this.logs.end();
      this.publish();
    }
  }

  /**
   * Push model: every scheduled dump, one ctplug_on_entries call per received buffer; then, when
   * subscribed, event batches to ctplug_on_events until stopped.
   */
  private async deliver(): Promise<void> {
    const dumps = this.queue.dumps;
    if (!dumps.length && !this.subscription) return;
    const size = this.subscription ? EVENT_BATCH_BYTES + 8 : BATCH_BYTES;
    const ptr = this.check(EXPORT.alloc, this.call(EXPORT.alloc, size));
    if (!this.span(ptr, size)) {
      throw new RunFailure({ kind: 'status', call: EXPORT.alloc, code: E_BOUNDS, detail: `returned ${ptr}, which is not a ${size}-byte buffer inside memory` });
    }
    const staging = new Uint8Array(RECV_BUFFER_BYTES);
    // Dumps scheduled from inside on_entries are appended and delivered after the current one.
    for (let i = 0; i < dumps.length && !clock.stopRequested(); i++) this.dump1(dumps[i], ptr, staging, 0);
    if (this.subscription) await this.listen(ptr, staging);
  }

  /** One scheduled dump. Returns true when the plugin said STOP. */
  private dump1(plan: Plan, ptr: number, staging: Uint8Array, firstFlags: number): boolean {
    this.stats.dumps++;
    let flags = firstFlags, stopped = false;
    for (const filter of plan.filters) {
      const matcher = perFilter(plan, filter);
      backend!.ct.dumpSync(filter, staging, (batch) => {
        if (clock.stopRequested()) { stopped = true; return false; } // stopped or aborted: deliver no more
        const len = this.compact(batch, matcher, ptr, 'entries');
        if (len === 0) return;
        this.stats.batches++;
        const status = this.check(EXPORT.onEntries, this.call(EXPORT.onEntries, ptr, len, flags));
        flags = 0;
        this.afterCall(false);
        if (status === STOP) { stopped = true; return false; }
      }, () => { flags |= abi.batchFlags.RESYNC; });
      if (stopped) break;
    }
    return stopped;
  }

  /**
   * Event batches until the embedder stops the run (or the fake's script ends, or STOP). Waiting
   * for events is readiness on this worker's event loop, and a stop ends the wait at once.
   */
  private async listen(ptr: number, staging: Uint8Array): Promise<void> {
    const { plan, kinds } = this.subscription!;
    const events = backend!.events(kinds, eventFilter(plan));
    const buf = new Uint8Array(EVENT_BATCH_BYTES);
    const stop = clock.whenStopped();
    try {
      while (!clock.stopRequested()) {
        clock.leave(); // waiting for the kernel is nobody's time
        let b: Awaited<ReturnType<typeof events.read>>;
        try {
          b = await events.read(buf, { signal: stop.signal });
        } catch (e) {
          if (e instanceof AbortError && clock.stopRequested()) break;
          throw e;
        }
        // A stop that came while events arrived wins: nothing is delivered after it.
        if (b === null || clock.stopRequested()) break;
        if (b === 'overrun') {
          // Events were lost: the plugin's view is stale. Re-dump the subscribed scope (RESYNC).
          this.stats.overruns++;
          const resync = grant.operations.includes('read');
          this.logs.note('overrun', 'warn', `events were lost (kernel receive buffer overrun)${resync ? '; the subscribed scope is dumped again (RESYNC)' : ''}`);
          if (resync) {
            const t0 = performance.now();
            this.stats.resyncs++;
            events.drain?.(); // stale events queued before the loss would undo the dump
            const stop = this.dump1(plan, ptr, staging, abi.batchFlags.RESYNC);
            this.stats.resyncMs += performance.now() - t0;
            this.publish();
            if (stop) break;
          }
          continue;
        }
        const len = b.count ? this.compact(b.bytes, plan.matcher, ptr, 'events') : 0;
        if (len === 0) continue;
        const status = this.check(EXPORT.onEvents, this.call(EXPORT.onEvents, ptr, len, 0));
        this.afterCall();
        if (status === STOP) break;
      }
    } finally {
      stop.dispose();
      events.close();
    }
  }
}

/** A failure outside the plugin, for the main thread; a CtError keeps its fields (the same class on both sides). */
function hostFailure(e: unknown, call: string): WorkerError {
  const err = e as { message?: string; name?: string; hint?: string };
  const ct = e instanceof CtError ? { op: e.op, code: e.code, kind: e.kind, detail: e.detail, errno: e.errno, ack: e.ack, hint: e.hint } : undefined;
  return { kind: 'host', call, message: err?.message ?? String(e), name: err?.name, hint: err?.hint, ct };
}

async function onMessage(msg: ToWorker): Promise<void> {
  if (msg.type !== 'run') return;
  const run = new Run(msg.config ?? data.config);
  try {
    // @wasmer/wasi's own module costs ~50 ms to initialise: once per worker, reused across runs.
    if (data.usesWasi && !wasiLib) {
      const lib = await import('@wasmer/wasi');
      await lib.init();
      wasiLib = lib;
    }
    backend ??= await openBackend(data.backend);
    await run.execute();
    const table = backend?.table?.();
    post({ type: 'done', stats: run.stats, table }, table ? [table.buffer as ArrayBuffer] : []);
  } catch (e) {
    const error: WorkerError = e instanceof RunFailure ? e.error : hostFailure(e, 'run');
    post({ type: 'failed', error, stats: run.stats });
  }
}

deliver = (m) => void onMessage(m);
for (const m of inbox.splice(0)) void onMessage(m);

