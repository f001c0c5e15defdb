// The glue between the ctplug host and a plugin author's callbacks:
//   Plugin.init(fn)      fn(config) runs from ctplug_init: read config, schedule dumps
//   Plugin.onEntry(fn)   fn(entry) -> Verdict, for every entry of every delivered batch
//   Plugin.onFinish(fn)  fn() runs from ctplug_finish (print a summary, flush state)
//   Plugin.onEvent(fn)   fn(entry) -> Verdict, for event batches (after Plugin.subscribe)
// Deletes, updates and creates are staged (staged.ts) and handed to the host once per batch
// (`delete` / `update` / `create`); output is staged in Plugin.out and handed
// over in chunks of >= OUT_FLUSH_AT bytes (`emit`), at finish, and per batch for subscribed
// plugins. AssemblyScript has no closures: keep state in module globals.
// A module imports only the hostcalls its plugin can reach (AssemblyScript drops the rest), so
// `ctplug plugin inspect` shows what a plugin really calls: each operation's hostcall is reached
// only from what the plugin itself uses (Verdict.Delete or Plugin.delete for `delete`, setMark and
// friends for `update`, Plugin.create, Plugin.flush, Plugin.subscribe, Plugin.onEntry for `dump`);
// nothing here refers to them unconditionally.
import {
  ctplug_dump, ctplug_config, ctplug_clock, STATUS_OK, STATUS_CONTINUE, STATUS_STOP,
  STATUS_E_INVAL, DUMP_REQUEST_SIZE, DUMP_REQUEST_FAMILY, DUMP_REQUEST_PROTOCOL,
  DUMP_REQUEST_FLAGS, DUMP_REQUEST_FLAGS_ZONE, DUMP_REQUEST_FLAGS_MARK, DUMP_REQUEST_ZONE,
  DUMP_REQUEST_MARK, DUMP_REQUEST_MARK_MASK, ABI_VERSION, ctplug_subscribe,
  DUMP_REQUEST_FLAGS_EVENT_NEW, DUMP_REQUEST_FLAGS_EVENT_UPDATE, DUMP_REQUEST_FLAGS_EVENT_DESTROY,
  ctplug_flush,
} from "./abi";
import { Entry } from "./entry";
import { ByteBuf } from "./buf";
import { DumpRequest } from "./filter";
import { tickRenderClock } from "./render";
import { JsonValue, JsonKind, parseJson, jsonError } from "./json";
import { fail, failStatus, logError } from "./log";
import { NLMSG_HDRLEN, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP } from "./ctnetlink";
import { align4 } from "./bytes";
import { CreateSpec, flushStaged, noteAlloc, stageCreate, stageDelete, stagedCount, stageUpdate, UpdateSpec } from "./staged";

export { CreateSpec, UpdateSpec } from "./staged";

/** The UpdateSpec behind setMark/setTimeout, reset for each use (no allocation per entry). */
let scratchUpdate: UpdateSpec | null = null;
function oneUpdate(): UpdateSpec {
  let u = scratchUpdate;
  if (!u) { u = new UpdateSpec(); scratchUpdate = u; }
  u.hasMark = false; u.mark = 0; u.markMask = 0xffffffff; u.markXor = true; u.hasTimeout = false; u.timeout = 0;
  return u;
}


/**
 * What to do with an entry: Verdict.Keep, Verdict.Delete or Verdict.Stop. A class rather than an
 * enum so that naming Verdict.Delete is what links the `delete` hostcall into the module.
 */
export class Verdict {
  /** Use the three values below; a Verdict made otherwise counts as Keep. */
  constructor(readonly code: i32) {}
  /** Leave the entry alone. */
  static get Keep(): Verdict { return KEEP; }
  /** Queue the entry for deletion (needs the "delete" capability). */
  static get Delete(): Verdict {
    deleteVerdict = stageDelete;
    return DELETE;
  }
  /** Keep it, and stop: no further entries are delivered. */
  static get Stop(): Verdict { return STOP; }
}
const KEEP = new Verdict(0), DELETE = new Verdict(1), STOP = new Verdict(2);
/** Set by Verdict.Delete: until a plugin names it, nothing here reaches the `delete` hostcall. */
let deleteVerdict: ((e: Entry) => void) | null = null;

/** Event kinds for Plugin.subscribe (combine with |; 0 = all). */
export const SUBSCRIBE_NEW: i32 = DUMP_REQUEST_FLAGS_EVENT_NEW;
export const SUBSCRIBE_UPDATE: i32 = DUMP_REQUEST_FLAGS_EVENT_UPDATE;
export const SUBSCRIBE_DESTROY: i32 = DUMP_REQUEST_FLAGS_EVENT_DESTROY;

export type InitFn = (config: JsonValue) => void;
export type EntryFn = (e: Entry) => Verdict;
export type FinishFn = () => void;
/** Per-event callback: e.eventType tells NEW / UPDATE / DESTROY. */
export type EventFn = (e: Entry) => Verdict;
/** After the index-th scheduled dump (0-based, in the order they were asked for) was delivered in full. */
export type DumpDoneFn = (index: i32) => void;

/** Output staging size (bytes handed to `emit` at once). */
export const OUT_BYTES: i32 = 512 * 1024;
/**
 * Output is handed over at the end of a dump batch once this much is buffered (and always at
 * finish, at the end of event batches, and when the buffer fills): fewer, larger emit calls.
 */
export const OUT_FLUSH_AT: i32 = 256 * 1024;
/** Free space kept before rendering an entry so a line is never split across emit calls. */
export const OUT_RESERVE: i32 = 16 * 1024;
/** Largest single ctplug_alloc the SDK honours. */
export const ALLOC_MAX: i32 = 64 * 1024 * 1024;

let initFn: InitFn | null = null;
/** Set by Plugin.onEntry: the dump a plugin gets when it asks for none (the `dump` hostcall). */
let defaultDump: (() => i32) | null = null;
function dumpEverything(): i32 { return Plugin.dumpEverything(); }
let entryFn: EntryFn | null = null;
let finishFn: FinishFn | null = null;
let eventFn: EventFn | null = null;
let dumpDoneFn: DumpDoneFn | null = null;
let curFlags: i32 = 0;

const entry = new Entry();
let outBuf: ByteBuf | null = null;
let stopped = false;
/** The host's wall clock when the current batch arrived (seconds since the epoch). */
let batchTime: f64 = 0;
/** Dumps asked for (granted or not): a plugin that asked gets no default dump. */
let dumpsRequested = 0;
let subscribed = false;
let configValue: JsonValue | null = null;
let configStr: string = "";
const REQ = memory.data(16);

// statistics
let nSeen: u64 = 0;
let nSkipped: u64 = 0;
let nBatches: u64 = 0;


function writeRequest(r: DumpRequest, extraFlags: i32 = 0): void {
  memory.fill(REQ, 0, <usize>DUMP_REQUEST_SIZE);
  store<u8>(REQ + <usize>DUMP_REQUEST_FAMILY, <u8>r.family);
  store<u8>(REQ + <usize>DUMP_REQUEST_PROTOCOL, <u8>r.protocol);
  let flags: u16 = <u16>extraFlags;
  if (r.hasZone) flags |= <u16>DUMP_REQUEST_FLAGS_ZONE;
  if (r.hasMark) flags |= <u16>DUMP_REQUEST_FLAGS_MARK;
  store<u16>(REQ + <usize>DUMP_REQUEST_FLAGS, flags);
  store<u16>(REQ + <usize>DUMP_REQUEST_ZONE, <u16>r.zone);
  store<u32>(REQ + <usize>DUMP_REQUEST_MARK, r.mark);
  store<u32>(REQ + <usize>DUMP_REQUEST_MARK_MASK, r.hasMark ? r.markMask : 0);
}

export class Plugin {
  /** Register the init callback (runs once, from ctplug_init, with the parsed config). */
  static init(fn: InitFn): void { initFn = fn; }
  /** Register the per-entry callback (and, unless the plugin asks for its own, one dump of its whole grant). */
  static onEntry(fn: EntryFn): void {
    entryFn = fn;
    defaultDump = dumpEverything;
  }
  /** Register the per-event callback (batches delivered to ctplug_on_events). */
  static onEvent(fn: EventFn): void { eventFn = fn; }
  /** Flags of the batch being delivered (BATCH_RESYNC: a resync dump after lost events). */
  static get batchFlags(): i32 { return curFlags; }
  /** Wall-clock seconds since the epoch (µs precision), from the host. */
  static now(): f64 { return ctplug_clock(); }
  /** When the current batch arrived (what `conntrack -E -o timestamp` prints per event). */
  static get batchTime(): f64 { return batchTime; }
  /** Register the finish callback. */
  static onFinish(fn: FinishFn): void { finishFn = fn; }
  /** Register the callback run when a scheduled dump has been delivered in full (dumps it schedules come next). */
  static onDumpDone(fn: DumpDoneFn): void { dumpDoneFn = fn; }

  /** Schedule one dump. Returns OK or a negative status (also logged). */
  static dump(r: DumpRequest): i32 {
    writeRequest(r);
    const st = ctplug_dump(<i32>REQ, DUMP_REQUEST_SIZE);
    dumpsRequested++;
    if (st < 0) logError("dump refused by the host: status " + st.toString());
    return st;
  }
  /** Schedule several dumps (e.g. Filter.kernelRequests()). Returns the first failure or OK. */
  static dumpAll(rs: Array<DumpRequest>): i32 {
    let first = STATUS_OK;
    for (let i = 0; i < rs.length; i++) {
      const st = Plugin.dump(rs[i]);
      if (st < 0 && first == STATUS_OK) first = st;
    }
    return first;
  }
  /** dumpAll, failing the run if the host refuses one (e.g. a zone outside the grant) rather than doing less than asked. */
  static dumpAllOrFail(rs: Array<DumpRequest>): void { if (Plugin.dumpAll(rs) < 0) fail("the host refused the dump (outside this plugin's grant?)"); }
  /** Schedule a dump of everything the grant allows. */
  static dumpEverything(): i32 { return Plugin.dump(new DumpRequest()); }

  /**
   * Subscribe to conntrack events in the scope of `r` (needs the "events" capability; once
   * per run). `kinds`: SUBSCRIBE_NEW | SUBSCRIBE_UPDATE | SUBSCRIBE_DESTROY, 0 = all. Events
   * arrive at the Plugin.onEvent callback; after lost events the host re-dumps the scope to
   * Plugin.onEntry with Plugin.batchFlags & BATCH_RESYNC_FLAG set.
   */
  static subscribe(r: DumpRequest, kinds: i32 = 0): i32 {
    writeRequest(r, kinds & (SUBSCRIBE_NEW | SUBSCRIBE_UPDATE | SUBSCRIBE_DESTROY));
    const st = ctplug_subscribe(<i32>REQ, DUMP_REQUEST_SIZE);
    if (st < 0) logError("subscribe refused by the host: status " + st.toString());
    else subscribed = true;
    return st;
  }

  /**
   * Queue a change of `e` (needs the "update" capability): mark (conntrack -U's rule), timeout,
   * status bits, labels, protocol state; see UpdateSpec. Staged and handed to the host once per batch.
   */
  static update(e: Entry, u: UpdateSpec): void { stageUpdate(e, u); }
  /**
   * Queue a mark change for `e` (needs the "update" capability): new mark =
   * (old & ~mask) | (mark & mask). Staged and handed to the host once per batch.
   */
  static setMark(e: Entry, mark: u32, mask: u32 = 0xffffffff): void {
    Plugin.setMarkAndTimeout(e, mark, mask, 0, false);
  }
  /** Queue a new timeout (seconds from now) for `e` (needs "update"). */
  static setTimeout(e: Entry, seconds: u32): void {
    const u = oneUpdate();
    u.hasTimeout = true;
    u.timeout = seconds;
    stageUpdate(e, u);
  }
  /** Both at once (without a timeout when `withTimeout` is false). */
  static setMarkAndTimeout(e: Entry, mark: u32, mask: u32, seconds: u32, withTimeout: bool = true): void {
    const u = oneUpdate();
    u.hasMark = true;
    u.markXor = false;
    u.mark = mark;
    u.markMask = mask;
    u.hasTimeout = withTimeout;
    u.timeout = seconds;
    stageUpdate(e, u);
  }

  /** Queue one entry for creation (needs "create"); false (logged) on a bad address. */
  static create(c: CreateSpec): bool { return stageCreate(c); }

  /**
   * Flush (delete in the kernel) every entry matching `r`, narrowed to the grant (needs
   * "flush"). Immediate; returns OK or a negative status.
   */
  static flush(r: DumpRequest): i32 {
    writeRequest(r);
    const st = ctplug_flush(<i32>REQ, DUMP_REQUEST_SIZE);
    if (st < 0) logError("flush refused by the host: status " + st.toString());
    return st;
  }

  /** Queue `e` for deletion now (same as returning Verdict.Delete). */
  static delete(e: Entry): void { stageDelete(e); }

  /** The output buffer; flushed to the host at the end of every batch and at finish. */
  static get out(): ByteBuf {
    let b = outBuf;
    if (!b) { b = new ByteBuf(OUT_BYTES, true); outBuf = b; }
    return b;
  }
  /** Append a line (string + "\n") to the output. */
  static print(s: string): void { Plugin.out.utf8(s).byte(10); }
  /** Hand buffered output to the host now. False once the host's output cap is reached. */
  static flushOutput(): bool { return outBuf ? outBuf!.flush() : true; }

  /** The parsed config (an empty object when the host gave none). */
  static get config(): JsonValue {
    if (configValue === null) configValue = configStr.length ? parseJson(configStr) : null; // validated by readConfig
    return configValue !== null ? configValue! : emptyObject();
  }
  static get configText(): string { return configStr; }

  /** Fail init / the current call with a logged message. */
  static fail(msg: string): void { fail(msg); }
  /** Stop the run after the current entry (like Verdict.Stop). */
  static stop(): void { stopped = true; }

  static get entriesSeen(): u64 { return nSeen; }
  static get entriesSkipped(): u64 { return nSkipped; }
  static get deletesQueued(): u64 { return stagedCount("delete", false); }
  static get deletesRefused(): u64 { return stagedCount("delete", true); }
  static get updatesQueued(): u64 { return stagedCount("update", false); }
  static get updatesRefused(): u64 { return stagedCount("update", true); }
  static get createsQueued(): u64 { return stagedCount("create", false); }
  static get createsRefused(): u64 { return stagedCount("create", true); }
  static get batches(): u64 { return nBatches; }
}

// Garbage collection (runtime "minimal": the SDK collects between batches, when nothing is on
// the stack). Measured ~1 us per collection with the SDK's small live set, so it runs after
// every batch: code that allocates per entry gets its garbage back at the next batch boundary.
function maybeCollect(): void {
  __collect();
}

function emptyObject(): JsonValue { const v = new JsonValue(); v.kind = JsonKind.Object; return v; }

function readConfig(): bool {
  let cap = 4096;
  let buf = heap.alloc(<usize>cap);
  let n = ctplug_config(<i32>buf, cap);
  if (n > cap) {
    if (n > ALLOC_MAX) { heap.free(buf); fail("config too large: " + n.toString() + " bytes"); return false; }
    heap.free(buf);
    cap = n;
    buf = heap.alloc(<usize>cap);
    n = ctplug_config(<i32>buf, cap);
    if (n > cap) n = cap;
  }
  if (n < 0) { heap.free(buf); fail("config hostcall failed: status " + n.toString()); return false; }
  configStr = String.UTF8.decodeUnsafe(buf, <usize>n);
  heap.free(buf);
  let blank = true;
  for (let i = 0; i < configStr.length; i++) {
    const c = configStr.charCodeAt(i);
    if (c != 32 && c != 9 && c != 10 && c != 13) { blank = false; break; }
  }
  if (blank) { configStr = ""; configValue = emptyObject(); return true; }
  const v = parseJson(configStr);
  if (v === null) { fail("config is not valid JSON: " + jsonError); return false; }
  configValue = v;
  return true;
}

// ---- the ABI exports (re-exported by exports.ts) ----

export function ctplug_abi_v1(): i32 { return ABI_VERSION; }

export function ctplug_alloc(len: i32): i32 {
  if (len <= 0 || len > ALLOC_MAX) return 0;
  noteAlloc(len);
  return <i32>heap.alloc(<usize>len);
}

export function ctplug_init(): i32 {
  if (!readConfig()) return failStatus != 0 ? failStatus : STATUS_E_INVAL;
  const fn = initFn;
  if (fn) fn(Plugin.config);
  // The parsed tree is dropped (Plugin.config parses configStr again if asked): every collection
  // visits the live set, and a config of 10k ids is ~40k objects, visited after every batch.
  configValue = null;
  flushStaged(); // creates / deletes / updates queued during init
  if (outBuf) outBuf!.flush(); // output printed during init goes out now
  if (failStatus != 0) return failStatus;
  // A plugin that only looks at entries and asked for nothing gets everything the grant allows.
  // One whose dump was refused gets nothing instead: never a wider dump than it asked for.
  const dflt = defaultDump;
  if (dumpsRequested == 0 && !subscribed && dflt) {
    const st = dflt();
    if (st < 0) return st;
  }
  __collect();
  return STATUS_OK;
}

function runBatch(ptr: i32, len: i32, flags: i32, fn: EntryFn | null, events: bool): i32 {
  if (stopped) return STATUS_STOP;
  nBatches++;
  curFlags = flags;
  batchTime = ctplug_clock();
  tickRenderClock(<u64>batchTime);
  const base = <usize>ptr;
  let pos: i32 = 0;
  const out = outBuf;
  while (len - pos >= NLMSG_HDRLEN) {
    const p = base + <usize>pos;
    const mlen = <i32>load<u32>(p);
    if (mlen < NLMSG_HDRLEN || mlen > len - pos) { nSkipped++; break; } // malformed framing: drop the rest
    const step = align4(mlen);
    pos = step > len - pos ? len : pos + step;
    const type = <i32>load<u16>(p, 4);
    if (type == NLMSG_DONE || type == NLMSG_ERROR || type == NLMSG_NOOP) continue;
    if (!entry.reset(p, mlen)) { nSkipped++; continue; }
    nSeen++;
    if (!fn) continue;
    if (out && out.free < OUT_RESERVE) out.flush();
    const v = fn(entry);
    if (v === DELETE) { const del = deleteVerdict; if (del) del(entry); }
    else if (v === STOP) stopped = true;
    if (stopped) break;
    if (out && out.overflow) { stopped = true; break; }
  }
  flushStaged();
  // Dump output is coalesced across batches (fewer emit calls); a subscribed plugin's output
  // (events, resync dumps) goes out at once; and everything goes out when the plugin stops.
  if (outBuf && (events || subscribed || stopped || outBuf!.pos >= OUT_FLUSH_AT)) { if (!outBuf!.flush()) stopped = true; }
  maybeCollect();
  curFlags = 0;
  if (failStatus != 0) return failStatus;
  return stopped ? STATUS_STOP : STATUS_CONTINUE;
}

export function ctplug_on_entries(ptr: i32, len: i32, flags: i32): i32 {
  return runBatch(ptr, len, flags, entryFn, false);
}

export function ctplug_on_events(ptr: i32, len: i32, flags: i32): i32 {
  return runBatch(ptr, len, flags, eventFn, true);
}

export function ctplug_on_dump_done(index: i32): i32 {
  if (stopped) return STATUS_STOP;
  const fn = dumpDoneFn;
  if (fn) fn(index);
  flushStaged();
  if (failStatus != 0) return failStatus;
  return stopped ? STATUS_STOP : STATUS_OK;
}

export function ctplug_finish(): i32 {
  const fn = finishFn;
  if (fn) fn();
  flushStaged();
  if (outBuf) outBuf!.flush();
  return failStatus != 0 ? failStatus : STATUS_OK;
}

