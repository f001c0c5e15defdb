// Records written from typed values, for whoever speaks the ABI from outside Wasm: the daemon
// client (KernelFilter -> DumpRequest, NewEntry -> CreateRecord + CreateExt, HeldChange -> UpdateRecord +
// message) and the daemon's replies (Result, Failure, Error of abi.json `wire`). One generic
// writer and reader over the record definitions; the gate's decoders (scoped/records.ts) read the
// same offsets from the same file.
import { align4 } from '../netlink/attr.js';
import { FAMILIES, IPPROTO, TCP_STATES } from '../conntrack/constants.js';
import { invertTuple } from '../conntrack/tuple.js';
import { LABEL_BYTES } from '../conntrack/labels.js';
import type { HeldChange } from '../conntrack/ops.js';
import type { KernelFilter, NewEntry } from '../conntrack/request.js';
import { abi } from '../policy/abi.js';
import { wire } from './frame.js';

interface RecordDef { size: number; fields: Record<string, { offset: number; type: string; bits?: Record<string, number> }> }
type Fields = Record<string, number | Uint8Array>;

function def(name: string): RecordDef {
  const d = (abi.records as Record<string, RecordDef>)[name] ?? wire.records[name];
  if (!d) throw new Error(`sdk/abi.json defines no record ${name}`);
  return d;
}

/** One record of `name` (abi.json records or wire.records): each field at its offset and width, little-endian. */
export function writeRecord(name: string, fields: Fields, size = def(name).size): Uint8Array {
  const d = def(name);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  for (const [k, value] of Object.entries(fields)) {
    const f = d.fields[k];
    if (!f) throw new Error(`no field ${name}.${k} in sdk/abi.json`);
    if (value instanceof Uint8Array) out.set(value, f.offset);
    else if (f.type === 'u8') v.setUint8(f.offset, value);
    else if (f.type === 'u16') v.setUint16(f.offset, value, true);
    else if (f.type === 'u32') v.setUint32(f.offset, value >>> 0, true);
    else if (f.type === 'i32') v.setInt32(f.offset, value, true);
    else throw new Error(`field ${name}.${k} (${f.type}) takes bytes`);
  }
  return out;
}

/** The integer fields of one record at `at` (bytes fields are left out). */
export function readRecord(name: string, b: Uint8Array, at = 0): Record<string, number> {
  const d = def(name);
  if (at + d.size > b.length) throw new RangeError(`a ${name} is ${d.size} bytes, ${b.length - at} left`);
  const v = new DataView(b.buffer, b.byteOffset + at, d.size);
  const out: Record<string, number> = {};
  for (const [k, f] of Object.entries(d.fields)) {
    if (f.type === 'u8') out[k] = v.getUint8(f.offset);
    else if (f.type === 'u16') out[k] = v.getUint16(f.offset, true);
    else if (f.type === 'u32') out[k] = v.getUint32(f.offset, true);
    else if (f.type === 'i32') out[k] = v.getInt32(f.offset, true);
  }
  return out;
}

/** The flag bits `names` of a record's flags field. */
export function flagBits(name: string, ...names: string[]): number {
  const bits = def(name).fields.flags.bits!;
  return names.reduce((a, n) => a | (bits[n] ?? (() => { throw new Error(`no flag ${name}.flags.${n}`); })()), 0);
}

/** A KernelFilter (+ protocol, EVENT_* kinds for subscribe) as the DumpRequest a plugin would pass. */
export function dumpRequestOf(f: KernelFilter & { protocol?: number; events?: string[] } = {}): Uint8Array {
  const names = [...(f.zone !== undefined ? ['ZONE'] : []), ...(f.mark !== undefined ? ['MARK'] : []), ...(f.events ?? []).map((k) => `EVENT_${k}`)];
  const mask = f.markMask ?? 0xffffffff;
  return writeRecord('DumpRequest', {
    family: f.family ? FAMILIES[f.family] : 0, protocol: f.protocol ?? 0, flags: flagBits('DumpRequest', ...names),
    zone: f.zone ?? 0, mark: ((f.mark ?? 0) & mask) >>> 0, markMask: f.mark === undefined ? 0 : mask,
  });
}

/** A NewEntry as a CreateRecord, followed by a CreateExt when it sets more than the record's fields (everything toNewEntry builds travels). */
export function createRecordOf(e: NewEntry): Uint8Array {
  const t = e.tuple;
  const ext = createExtOf(e);
  const names = [...(e.zone !== undefined ? ['ZONE'] : []), ...(e.mark !== undefined ? ['MARK'] : []), ...(ext ? ['EXT'] : [])];
  const tcpState = e.tcpState ?? 0; // 0 (NONE) cannot be said here: 0 is "ESTABLISHED, the default"; createExtOf sends it as STATE
  if (tcpState >= TCP_STATES.length) throw new RangeError(`tcp state ${tcpState}`);
  const fields: Fields = {
    family: FAMILIES[t.family], protocol: t.protocol, flags: flagBits('CreateRecord', ...names),
    zone: e.zone ?? 0, mark: e.mark ?? 0, timeout: e.timeout, status: e.status ?? 0, tcpState, src: t.src, dst: t.dst,
  };
  if (t.sport !== undefined) fields.srcPort = t.sport;
  if (t.dport !== undefined) fields.dstPort = t.dport;
  if (t.icmpType !== undefined) Object.assign(fields, { icmpType: t.icmpType, icmpCode: t.icmpCode ?? 0, icmpId: t.icmpId ?? 0 });
  const rec = writeRecord('CreateRecord', fields);
  return ext ? Buffer.concat([rec, ext]) : rec;
}

/** The CreateExt of `e`, or undefined when the CreateRecord says it all. */
function createExtOf(e: NewEntry): Uint8Array | undefined {
  const names: string[] = [];
  const f: Fields = {};
  const set = (name: string, values: Fields) => {
    names.push(name);
    Object.assign(f, values);
  };
  if (e.srcNat) set('SRC_NAT', { srcNat: e.srcNat.addr });
  if (e.srcNat?.port !== undefined) set('SRC_NAT_PORT', { srcNatPort: e.srcNat.port });
  if (e.dstNat) set('DST_NAT', { dstNat: e.dstNat.addr });
  if (e.dstNat?.port !== undefined) set('DST_NAT_PORT', { dstNatPort: e.dstNat.port });
  const r = e.reply, inv = r && invertTuple(e.tuple);
  if (r && inv && (!sameBytes(r.src, inv.src) || !sameBytes(r.dst, inv.dst) || r.sport !== inv.sport || r.dport !== inv.dport)) {
    set('REPLY', { replySrc: r.src, replyDst: r.dst, replySrcPort: r.sport ?? 0, replyDstPort: r.dport ?? 0 });
  }
  if (e.origZone !== undefined) set('ORIG_ZONE', { origZone: e.origZone });
  if (e.replyZone !== undefined) set('REPLY_ZONE', { replyZone: e.replyZone });
  if (e.labels) set('LABELS', { labels: padded(e.labels) });
  const state = e.tuple.protocol === IPPROTO.tcp ? (e.tcpState === 0 ? 0 : undefined) : (e.sctp?.state ?? e.dccp?.state);
  if (state !== undefined) set('STATE', { state });
  if (e.sctp?.vtagOrig !== undefined) set('VTAG_ORIG', { vtagOrig: e.sctp.vtagOrig });
  if (e.sctp?.vtagReply !== undefined) set('VTAG_REPLY', { vtagReply: e.sctp.vtagReply });
  if (e.dccp?.role !== undefined) set('ROLE', { role: e.dccp.role });
  return names.length ? writeRecord('CreateExt', { flags: flagBits('CreateExt', ...names), ...f }) : undefined;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Held changes as (UpdateRecord, UpdateExt when status/labels/state change, entry message padded to 4)*. */
export function updateRecordsOf(items: HeldChange[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const c of items) {
    const ext: Fields = {};
    const extNames: string[] = [];
    if (c.status !== undefined) {
      extNames.push('STATUS');
      ext.status = c.status;
    }
    if (c.labels !== undefined) {
      extNames.push('LABELS');
      ext.labels = padded(c.labels);
      ext.labelsMask = c.labelsMask === undefined ? new Uint8Array(LABEL_BYTES).fill(0xff) : padded(c.labelsMask); // no mask: all labels replaced
    }
    if (c.state !== undefined) {
      extNames.push('STATE');
      ext.state = c.state;
    }
    const names = [...(c.mark !== undefined ? [c.markXor ? 'MARK_XOR' : 'MARK'] : []), ...(c.timeout !== undefined ? ['TIMEOUT'] : []), ...(extNames.length ? ['EXT'] : [])];
    parts.push(writeRecord('UpdateRecord', {
      flags: flagBits('UpdateRecord', ...names), mark: c.mark ?? 0, markMask: c.mark === undefined ? 0 : (c.markMask ?? 0xffffffff), timeout: c.timeout ?? 0,
    }));
    if (extNames.length) parts.push(writeRecord('UpdateExt', { flags: flagBits('UpdateExt', ...extNames), ...ext }));
    parts.push(c.entry, new Uint8Array(align4(c.entry.length) - c.entry.length));
  }
  return Buffer.concat(parts);
}

/** A label bitmap as the record's fixed LABEL_BYTES (the kernel's 128 bits; a longer one is refused by the gate's validator). */
function padded(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(LABEL_BYTES);
  out.set(b.subarray(0, LABEL_BYTES));
  return out;
}

/** Entry messages back to back, each padded to 4 (a DELETE payload, as a plugin passes them). */
export function messagesOf(entries: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of entries) parts.push(m, new Uint8Array(align4(m.length) - m.length));
  return Buffer.concat(parts);
}

export interface WireResult {
  status: number;
  ok: number;
  gone: number;
  failed: { index: number; errno: number }[];
  /** Failures beyond the records carried (counted only). */
  failedCount: number;
  changed: number;
  count: number;
}

/** At most this many Failure records follow a Result; the rest are counted. */
export const MAX_FAILURE_RECORDS = 64;

export function encodeResult(r: Omit<WireResult, 'failedCount'> & { failedCount?: number }): Uint8Array {
  const shown = r.failed.slice(0, MAX_FAILURE_RECORDS);
  const head = writeRecord('Result', {
    status: r.status, ok: r.ok, gone: r.gone, failed: r.failedCount ?? r.failed.length, changed: r.changed, count: r.count, failures: shown.length,
  });
  return Buffer.concat([head, ...shown.map((f) => writeRecord('Failure', f))]);
}

export function decodeResult(b: Uint8Array): WireResult {
  const r = readRecord('Result', b);
  const size = wire.records.Result.size, fsize = wire.records.Failure.size;
  if (r.failures > MAX_FAILURE_RECORDS || size + r.failures * fsize > b.length) throw new RangeError('Result: failures run past the frame');
  const failed = Array.from({ length: r.failures }, (_, i) => readRecord('Failure', b, size + i * fsize) as { index: number; errno: number });
  return { status: r.status, ok: r.ok, gone: r.gone, failed, failedCount: r.failed, changed: r.changed, count: r.count };
}

export function encodeError(status: number, text: string): Uint8Array {
  return Buffer.concat([writeRecord('Error', { status }), Buffer.from(text, 'utf8')]);
}

export function decodeError(b: Uint8Array): { status: number; text: string } {
  const { status } = readRecord('Error', b);
  return { status, text: Buffer.from(b.subarray(wire.records.Error.size)).toString('utf8') };
}
