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
import { type CreateSpec, type DumpFilter, kernelFiltersDeleteByZone } from '../conntrack/conntrack.js';
import type { Change } from '../conntrack/request.js';
import type { EventKind } from '../conntrack/events.js';
import { checkCreate, checkMarkUpdate, type DumpPlan, eventFilter, planDump, ScopeMatcher } from '../policy/enforce.js';
import { abi, EXPORT, STATUS } from '../policy/abi.js';
import { type Backend, openBackend } from './backend.js';
import { LineLimiter } from './lines.js';
import { emptyStats, type FromWorker, type LogLevel, type LogLine, type RunStats, type WorkerError, type WorkerInit } from './protocol.js';
import {
  CREATE_RECORD_SIZE, DUMP_REQUEST_SIZE, readCreateRecord, readDumpRequest, readEventKinds, readUpdateRecord, unknownFlags, UPDATE_RECORD_SIZE,
} from './records.js';
import { CallClock } from './watchdog.js';

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
/** Per export call: queued delete/update bytes beyond this return E_LIMIT (the queue is host memory). */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
const MAX_SCHEDULED_DUMPS = 64;
/** Bytes one on_events batch can hold: every event already queued, up to this (EventSource needs >= 128 KiB). */
const EVENT_BATCH_BYTES = 256 * 1024;
const ALL_EVENTS: EventKind[] = ['NEW', 'UPDATE', 'DESTROY'];
const MAX_LINE_BYTES = 4096;
/** Entries remembered for mark-scoped delete/update checks (~150 bytes each). */
const SHOWN_MAX = 262_144;
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
/** WASI errno values (wasi_snapshot_preview1). */
const WASI_ESUCCESS = 0, WASI_EBADF = 8, WASI_EFAULT = 21;

const { OK, STOP, E_INVAL, E_BOUNDS, E_DENIED, E_SCOPE, E_LIMIT, E_STATE } = STATUS;
const statusName = new Map(Object.entries(STATUS).filter(([k]) => k.startsWith('E_')).map(([k, v]) => [v, k]));
const levelName = new Map(Object.entries(abi.logLevels).map(([k, v]) => [v, k.toLowerCase() as LogLevel]));

/** Thrown by proc_exit: unwinds the Wasm stack back to the export call. */
class ProcExit { constructor(readonly code: number) {} }
/** A failure that ends the run, already described for the main thread. */
class RunFailure { constructor(readonly error: WorkerError) {} }

type Plan = Extract<DumpPlan, { ok: true }>;

type Op =
  | { kind: 'delete'; msgs: Uint8Array[] }
  | { kind: 'update'; items: (Change & { entry: Uint8Array })[] }
  | { kind: 'create'; specs: CreateSpec[] }
  | { kind: 'flush'; plan: Plan };

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
  private memory!: WebAssembly.Memory;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));
  private readonly lines = new LineLimiter(grant.limits.log_lines_per_s);
  private logs: LogLine[] = [];
  /** Output not yet handed to the main thread: its first outputBytes bytes (copied into a chunk). */
  private output = new Uint8Array(0);
  private pending: Op[] = [];
  private pendingBytes = 0;
  private readonly dumps: Plan[] = [];
  private subscription?: { plan: Plan; kinds: EventKind[] };
  private readonly noted = new Set<string>();
  private readonly partial = new Map<number, string>(); // fd -> unterminated stdout/stderr text

  constructor(config: string) {
    this.configBytes = new TextEncoder().encode(config);
  }

  /** Builds the import object: ctplug hostcalls from abi.json, plus the allowed WASI functions. */
  instantiate(): void {
    const impls: Record<string, (...a: number[]) => number> = {
      dump: (p, n) => this.dump(p, n), delete: (p, n) => this.del(p, n), update: (p, n) => this.update(p, n),
      create: (p, n) => this.create(p, n), flush: (p, n) => this.flush(p, n), subscribe: (p, n) => this.subscribe(p, n),
      emit: (p, n) => this.emit(p, n),
      log: (l, p, n) => this.log(l, p, n), config: (p, n) => this.config(p, n),
      clock: () => (performance.timeOrigin + performance.now()) / 1000,
    };
    const ctplug: Record<string, (...a: number[]) => number> = {};
    for (const [name, def] of Object.entries(abi.imports)) {
      const impl = impls[name];
      if (!impl) throw new Error(`host bug: sdk/abi.json import ctplug.${name} has no implementation`);
      ctplug[name] = def.needs && !grant.operations.includes(def.needs as never)
        ? () => this.refuse(name, E_DENIED, `needs the "${def.needs}" operation, which the grant does not include`)
        : impl;
    }
    const imports: WebAssembly.Imports = { [abi.importModule]: ctplug };
    let wasi: WASI | undefined;
    if (data.usesWasi) {
      // @wasmer/wasi with its in-memory FS: no preopens, no env, argv = [plugin name]. The host
      // implements fd_write (so stdout/stderr become capped, rate-limited log lines) and proc_exit
      // (so the exit code unwinds to the export call that caused it).
      wasi = new wasiLib!.WASI({ args: [data.plugin], env: {} });
      const all = (wasi.getImports(data.module) as Record<string, Record<string, WebAssembly.ImportValue>>)[abi.wasiModule];
      const own: Record<string, WebAssembly.ImportValue> = {
        fd_write: (fd: number, iovs: number, count: number, nwritten: number) => this.fdWrite(fd, iovs, count, nwritten),
        proc_exit: (code: number) => { throw new ProcExit(code >>> 0); },
      };
      imports[abi.wasiModule] = Object.fromEntries(abi.wasiAllowed.map((n) => [n, own[n] ?? all[n]]));
    }
    this.instance = new WebAssembly.Instance(data.module, imports);
    wasi?.instantiate(this.instance); // binds the WASI functions to this instance's memory
    this.memory = this.instance.exports[EXPORT.memory] as WebAssembly.Memory;
  }

  /** Views of the current memory; memory.grow detaches the old ArrayBuffer. */
  private refresh(): void {
    if (this.u8.buffer !== this.memory.buffer) {
      this.u8 = new Uint8Array(this.memory.buffer);
      this.dv = new DataView(this.memory.buffer);
    }
  }

  /** The i32 (ptr, len) pair as a checked range; negative or past the end of memory is E_BOUNDS. */
  private span(ptr: number, len: number): boolean {
    this.refresh();
    return ptr >= 0 && len >= 0 && ptr + len <= this.u8.length;
  }

  private note(key: string, level: LogLevel, text: string): void {
    if (this.noted.has(key)) return;
    this.noted.add(key);
    this.logs.push({ level, source: 'host', text });
  }

  /** A refused hostcall: counted, explained once per (call, status), status returned to the plugin. */
  private refuse(call: string, status: number, why: string): number {
    this.stats.refused++;
    this.note(`${call}:${status}`, 'warn', `${call} refused (${statusName.get(status)}): ${why}`);
    return status;
  }

  /**
   * Ids of the entries delivered to a plugin whose grant is limited by mark. Zone, family and
   * protocol are part of the kernel's lookup key, so bytes that lie about them find nothing; the
   * mark is not, so a delete/update under a mark-scoped grant must name (CTA_ID, which the kernel
   * also checks on delete) an entry the host showed the plugin with an in-scope mark, with that
   * entry's own tuple and zone (updates are found by tuple alone, the id is not checked there).
   */
  private readonly shown = new Map<number, string>();

  /** The plugin's last error line: a failing status is reported with the plugin's own reason. */
  private lastError = '';

  private line(level: LogLevel, source: LogLine['source'], text: string): boolean {
    if (level === 'error' && source !== 'host') this.lastError = text.slice(0, 300);
    const notice = this.lines.notice();
    if (notice) this.logs.push({ level: 'warn', source: 'host', text: notice });
    if (!this.lines.take()) { this.stats.droppedLogLines++; return false; }
    this.stats.logLines++;
    this.logs.push({ level, source, text: text.length > MAX_LINE_BYTES ? text.slice(0, MAX_LINE_BYTES) + '…' : text });
    return true;
  }

  // ---- hostcalls ---------------------------------------------------------------------------

  private dump(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('dump', E_BOUNDS, 'request out of bounds');
    if (len !== DUMP_REQUEST_SIZE) return this.refuse('dump', E_INVAL, `a DumpRequest is ${DUMP_REQUEST_SIZE} bytes, got ${len}`);
    const plan = this.plan('dump', ptr);
    if (typeof plan === 'number') return plan;
    if (this.dumps.length >= MAX_SCHEDULED_DUMPS) return this.refuse('dump', E_LIMIT, `more than ${MAX_SCHEDULED_DUMPS} dumps in one run`);
    this.dumps.push(plan);
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

  /** Copies (ptr, len) and splits it into whole entry messages, each re-checked against the grant. */
  private entries(call: string, ptr: number, len: number): Uint8Array[] | number {
    if (!this.span(ptr, len)) return this.refuse(call, E_BOUNDS, 'buffer out of bounds');
    if (this.pendingBytes + len > MAX_PENDING_BYTES) return this.refuse(call, E_LIMIT, `more than ${MAX_PENDING_BYTES} bytes queued in one call`);
    const copy = this.u8.slice(ptr, ptr + len); // the plugin cannot change the bytes after the check
    const msgs: Uint8Array[] = [];
    let end = 0;
    for (const m of splitMessages(copy)) {
      const s = scratch;
      if (!scanInto(m, 0, m.length, s)) return this.refuse(call, E_INVAL, 'not a conntrack entry message');
      const why = baseMatcher.why(s) ?? this.unshown(m, s);
      if (why) return this.refuse(call, E_SCOPE, why);
      msgs.push(m);
      end = m.byteOffset + align4(m.length);
    }
    if (end < len) return this.refuse(call, E_INVAL, `bytes ${end}..${len} are not a whole netlink message`);
    this.pendingBytes += len;
    return msgs;
  }

  /**
   * Bounded: past SHOWN_MAX the oldest are forgotten (a listener runs for hours). A forgotten
   * entry is refused, never allowed: the safe direction.
   */
  private remember(id: number, key: string): void {
    this.shown.delete(id); // re-insert: most recent last
    this.shown.set(id, key);
    if (this.shown.size > SHOWN_MAX) this.shown.delete(this.shown.keys().next().value!);
  }

  /** Under a mark-scoped grant: why an entry may not be touched (not one the plugin was shown). */
  private unshown(msg: Uint8Array, s: ScopeFields): string | undefined {
    if (!markScoped) return undefined;
    if (s.id === undefined) return 'under a mark-limited grant an entry must carry its CTA_ID';
    return this.shown.get(s.id) === entryKey(msg, 0, s) ? undefined : `entry id ${s.id} with this tuple was not delivered to this plugin (mark-limited grant)`;
  }

  private del(ptr: number, len: number): number {
    const msgs = this.entries('delete', ptr, len);
    if (typeof msgs === 'number') return msgs;
    this.queue({ kind: 'delete', msgs });
    return msgs.length;
  }

  /** UpdateRecord, then the entry message it applies to (padded to 4), repeated. */
  private update(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('update', E_BOUNDS, 'buffer out of bounds');
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
      const s = scratch;
      if (!scanInto(entry, 0, entry.length, s)) return this.refuse('update', E_INVAL, 'not a conntrack entry message');
      const why = baseMatcher.why(s) ?? this.unshown(entry, s);
      if (why) return this.refuse('update', E_SCOPE, why);
      if (rec.mark) {
        // Checked against the mark in the bytes; the kernel applies the same masked change atomically.
        const next = checkMarkUpdate(s.mark, rec.mark.value, rec.mark.mask, grant.scope, baseMatcher);
        if (typeof next === 'string') return this.refuse('update', E_SCOPE, next);
      }
      items.push({ entry, mark: rec.mark?.value, markMask: rec.mark?.mask, timeout: rec.timeout });
      at = start + align4(msgLen);
    }
    this.queue({ kind: 'update', items });
    return items.length;
  }

  private create(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('create', E_BOUNDS, 'buffer out of bounds');
    if (len === 0 || len % CREATE_RECORD_SIZE !== 0) return this.refuse('create', E_INVAL, `length ${len} is not a multiple of ${CREATE_RECORD_SIZE} (CreateRecord)`);
    const specs: CreateSpec[] = [];
    for (let at = ptr; at < ptr + len; at += CREATE_RECORD_SIZE) {
      const bad = unknownFlags('CreateRecord', this.dv, at);
      if (bad) return this.refuse('create', E_INVAL, `unknown CreateRecord flag bits 0x${bad.toString(16)}`);
      const r = readCreateRecord(this.dv, at);
      if (typeof r === 'string') return this.refuse('create', E_INVAL, r);
      const why = checkCreate({ family: r.family, protocol: r.protocol, zone: r.spec.zone, mark: r.spec.mark }, baseMatcher);
      if (why) return this.refuse('create', E_SCOPE, why);
      specs.push(r.spec);
    }
    this.queue({ kind: 'create', specs });
    return specs.length;
  }

  private flush(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('flush', E_BOUNDS, 'request out of bounds');
    if (len !== DUMP_REQUEST_SIZE) return this.refuse('flush', E_INVAL, `a flush filter is a ${DUMP_REQUEST_SIZE}-byte DumpRequest, got ${len}`);
    const plan = this.plan('flush', ptr);
    if (typeof plan === 'number') return plan;
    this.queue({ kind: 'flush', plan });
    return OK;
  }

  private emit(ptr: number, len: number): number {
    if (!this.span(ptr, len)) return this.refuse('emit', E_BOUNDS, 'buffer out of bounds');
    const cap = grant.limits.output_bytes;
    if (this.stats.emittedBytes + len > cap) {
      this.stats.refused++;
      this.note('emit:cap', 'warn', `output limit reached (${cap} bytes); further output is dropped`);
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
    return this.line(name, 'log', text.replace(/\n$/, '')) ? OK : E_LIMIT;
  }

  private config(ptr: number, cap: number): number {
    if (!this.span(ptr, cap)) return this.refuse('config', E_BOUNDS, 'buffer out of bounds');
    if (this.configBytes.length <= cap) this.u8.set(this.configBytes, ptr);
    return this.configBytes.length;
  }

  /** WASI fd_write: fd 1/2 become log lines (stdout: info, stderr: warn); other fds do not exist. */
  private fdWrite(fd: number, iovs: number, count: number, nwrittenPtr: number): number {
    if (fd !== 1 && fd !== 2) return WASI_EBADF;
    if (!this.span(iovs, count * 8) || !this.span(nwrittenPtr, 4)) return WASI_EFAULT;
    let text = this.partial.get(fd) ?? '', total = 0;
    const dec = new TextDecoder();
    for (let i = 0; i < count; i++) {
      const p = this.dv.getUint32(iovs + 8 * i, true), n = this.dv.getUint32(iovs + 8 * i + 4, true);
      if (!this.span(p, n)) return WASI_EFAULT;
      total += n;
      // Only what a line can hold is decoded; a flood costs the plugin its own time, not host memory.
      if (text.length <= MAX_LINE_BYTES) text += dec.decode(this.u8.subarray(p, p + Math.min(n, MAX_LINE_BYTES + 1)), { stream: true });
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        this.line(fd === 1 ? 'info' : 'warn', fd === 1 ? 'stdout' : 'stderr', text.slice(0, nl));
        text = text.slice(nl + 1);
      }
    }
    this.partial.set(fd, text);
    this.dv.setUint32(nwrittenPtr, total, true);
    return WASI_ESUCCESS;
  }

  // ---- export calls ------------------------------------------------------------------------

  private queue(op: Op): void {
    const last = this.pending[this.pending.length - 1];
    // Consecutive deletes (creates, updates) go to the kernel as one batch: many per send.
    if (last && last.kind === op.kind && op.kind !== 'flush') {
      if (op.kind === 'delete') (last as typeof op).msgs.push(...op.msgs);
      else if (op.kind === 'create') (last as typeof op).specs.push(...op.specs);
      else if (op.kind === 'update') (last as typeof op).items.push(...op.items);
    } else this.pending.push(op);
  }

  /** Calls one export under the watchdog clock; traps and exits become RunFailure. */
  private call(name: string, ...args: number[]): number {
    const fn = this.instance.exports[name] as ((...a: number[]) => number) | undefined;
    if (!fn) return OK;
    clock.enter(name);
    try {
      return fn(...args) ?? OK;
    } catch (e) {
      this.pending = []; // a call that did not finish does not get its queued operations sent
      throw this.describe(e, name);
    } finally {
      clock.leave();
      this.pendingBytes = 0;
      this.flushPartialLines();
    }
  }

  private check(name: string, status: number): number {
    if (status < 0) {
      const why = this.lastError ? ` (plugin said: ${this.lastError})` : '';
      throw new RunFailure({ kind: 'status', call: name, code: status, detail: `returned ${statusName.get(status) ?? status}${why}` });
    }
    return status;
  }

  private describe(e: unknown, call: string): RunFailure | ProcExit {
    if (e instanceof ProcExit) {
      if (e.code === 0) return e;
      const last = this.logs.filter((l) => l.source === 'stderr').pop()?.text ?? this.partial.get(2);
      return new RunFailure({ kind: 'exit', call, code: e.code, detail: `exit code ${e.code}${last ? `: ${last}` : ''}` });
    }
    if (e instanceof RunFailure) return e;
    // Stack overflow in Wasm surfaces as a RangeError; everything else the engine raises is a RuntimeError.
    if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError) {
      const frames = (e.stack ?? '').split('\n').filter((l) => l.includes('wasm://') || l.includes('wasm-function'));
      // The SDK's abort() logs "abort: MESSAGE at FILE:LINE:COL" and then traps: that line is the reason.
      const abort = this.lastError.startsWith('abort: ') ? this.lastError : undefined;
      return new RunFailure({ kind: 'trap', call, message: e.message, abort, stack: frames.slice(0, 20).join('\n') || undefined });
    }
    return new RunFailure(hostFailure(e, call));
  }

  private flushPartialLines(): void {
    for (const [fd, text] of this.partial) {
      if (text.length <= MAX_LINE_BYTES) continue;
      this.line(fd === 1 ? 'info' : 'warn', fd === 1 ? 'stdout' : 'stderr', text);
      this.partial.set(fd, '');
    }
  }

  /**
   * After each export call: queued kernel operations, then logs, output and progress to main.
   * During a dump, output and progress are coalesced (a message per batch costs more than the
   * batch); `now` (events, the end of a run) sends everything at once.
   */
  private afterCall(now = true): void {
    const ops = this.pending;
    this.pending = [];
    for (const op of ops) this.send(op);
    this.publish(now);
  }

  private outputBytes = 0;
  private lastPublish = 0;

  private publish(now = true): void {
    clock.waitWhilePaused(); // the embedder's consumer is behind: produce nothing more until it catches up
    if (this.logs.length) { post({ type: 'log', lines: this.logs }); this.logs = []; }
    const t = performance.now();
    if (!now && this.outputBytes < PUBLISH_BYTES && t - this.lastPublish < PUBLISH_MS) return;
    this.lastPublish = t;
    if (this.outputBytes) {
      const bytes = new Uint8Array(chunkBuffer(this.outputBytes), 0, this.outputBytes);
      bytes.set(this.output.subarray(0, this.outputBytes));
      // One huge emit does not keep its staging size for the rest of a long event run.
      if (this.output.length > 4 * PUBLISH_BYTES) this.output = new Uint8Array(0);
      this.outputBytes = 0;
      post({ type: 'emit', bytes }, [bytes.buffer as ArrayBuffer]);
    }
    post({ type: 'progress', stats: this.stats });
  }

  private send(op: Op): void {
    const ct = backend!.ct;
    const tally = (r: { ok: number; gone: number; failed: { errno: string; message: string }[] }, what: 'deleted' | 'created' | 'updated') => {
      this.stats[what] += r.ok;
      this.stats.gone += r.gone;
      this.stats.failed += r.failed.length;
      for (const f of r.failed.slice(0, 3)) this.note(`${what}:${f.errno}`, 'warn', `${op.kind} failed: ${f.message}`);
    };
    switch (op.kind) {
      case 'delete': return tally(ct.deleteSync(op.msgs), 'deleted');
      case 'create': return tally(ct.createSync(op.specs), 'created');
      case 'update': return tally(ct.updateSync(op.items), 'updated');
      case 'flush':
        this.stats.flushes++;
        // The kernel can only filter by zone, mark and family; when the grant narrows further
        // (protocols, more than 16 zones) the flush is a dump re-checked by the scanner + deletes.
        // Kernels before 6.8 ignore CTA_ZONE in a flush and would empty the whole table.
        if (op.plan.kernelExact && (kernelFiltersDeleteByZone() || op.plan.filters.every((f) => f.zone === undefined))) {
          for (const f of op.plan.filters) ct.flushSync(f);
        }
        else {
          const held: Uint8Array[] = [];
          const staging = new Uint8Array(RECV_BUFFER_BYTES);
          for (const f of op.plan.filters) {
            const matcher = perFilter(op.plan, f);
            ct.dumpSync(f, staging, (batch) => {
              for (const m of splitMessages(batch)) if (scanInto(m, 0, m.length, scratch) && matcher.matches(scratch)) held.push(m.slice());
            });
          }
          tally(ct.deleteSync(held), 'deleted');
        }
    }
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
        if (markScoped && s.id !== undefined) this.remember(s.id, entryKey(batch, p, s));
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
      const notice = this.lines.notice(true);
      if (notice) this.logs.push({ level: 'warn', source: 'host', text: notice });
      for (const [fd, text] of this.partial) if (text) this.line(fd === 1 ? 'info' : 'warn', fd === 1 ? 'stdout' : 'stderr', text);
      this.publish();
    }
  }

  /**
   * Push model: every scheduled dump, one ctplug_on_entries call per received buffer; then, when
   * subscribed, event batches to ctplug_on_events until stopped.
   */
  private async deliver(): Promise<void> {
    if (!this.dumps.length && !this.subscription) return;
    const size = this.subscription ? EVENT_BATCH_BYTES + 8 : BATCH_BYTES;
    const ptr = this.check(EXPORT.alloc, this.call(EXPORT.alloc, size));
    if (!this.span(ptr, size)) {
      throw new RunFailure({ kind: 'status', call: EXPORT.alloc, code: E_BOUNDS, detail: `returned ${ptr}, which is not a ${size}-byte buffer inside memory` });
    }
    const staging = new Uint8Array(RECV_BUFFER_BYTES);
    // Dumps scheduled from inside on_entries are appended and delivered after the current one.
    for (let i = 0; i < this.dumps.length && !clock.stopRequested(); i++) this.dump1(this.dumps[i], ptr, staging, 0);
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
          this.note('overrun', 'warn', `events were lost (kernel receive buffer overrun)${resync ? '; the subscribed scope is dumped again (RESYNC)' : ''}`);
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

/**
 * The matcher for one kernel dump of a plan: a per-zone dump only accepts its own zone, so a kernel
 * that ignores CTA_ZONE in dumps (before 6.8) cannot make the plugin see an entry twice.
 */
function perFilter(plan: Plan, filter: DumpFilter): ScopeMatcher {
  return filter.zone === undefined || plan.filters.length === 1 ? plan.matcher : plan.matcher.narrowed({ zone: filter.zone });
}

/** A failure outside the plugin, for the main thread; a CtError keeps its fields (the same class on both sides). */
function hostFailure(e: unknown, call: string): WorkerError {
  const err = e as { message?: string; name?: string; hint?: string };
  const ct = e instanceof CtError ? { op: e.op, code: e.code, kind: e.kind, detail: e.detail, errno: e.errno, ack: e.ack, hint: e.hint } : undefined;
  return { kind: 'host', call, message: err?.message ?? String(e), name: err?.name, hint: err?.hint, ct };
}

/** An entry's identity for the mark-scope check: its zone and original tuple bytes. */
function entryKey(buf: Uint8Array, at: number, s: ScopeFields): string {
  const start = buf.byteOffset + at + s.tupleOffset;
  return `${s.zone}/${Buffer.from(buf.buffer, start, s.tupleLength).toString('latin1')}`;
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

