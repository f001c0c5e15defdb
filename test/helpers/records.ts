// ABI records (sdk/abi.json) written from JS, for tests that speak to the gate as a plugin or a
// client does: DumpRequest, UpdateRecord (+ extension), CreateRecord (+ extension).
import { abi } from '../../host/policy/abi.js';

type Fields = Record<string, number | Uint8Array>;

/** One record of `name`: each field written at its offset and width (little-endian), flags as given. */
export function record(name: string, fields: Fields, size = abi.records[name].size): Uint8Array {
  const def = abi.records[name];
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  for (const [k, value] of Object.entries(fields)) {
    const f = def.fields[k];
    if (!f) throw new Error(`no field ${name}.${k} in sdk/abi.json`);
    if (value instanceof Uint8Array) out.set(value, f.offset);
    else if (f.type === 'u8') v.setUint8(f.offset, value);
    else if (f.type === 'u16') v.setUint16(f.offset, value, true);
    else if (f.type === 'u32') v.setUint32(f.offset, value >>> 0, true);
    else throw new Error(`field ${name}.${k} (${f.type}) takes bytes`);
  }
  return out;
}

/** The flag bits `names` of a record's flags field. */
export function flags(name: string, ...names: string[]): number {
  const bits = abi.records[name].fields.flags.bits!;
  return names.reduce((a, n) => a | (bits[n] ?? (() => { throw new Error(`no flag ${name}.flags.${n}`); })()), 0);
}

export interface DumpRequestSpec { family?: number; protocol?: number; zone?: number; mark?: number; markMask?: number; events?: ('NEW' | 'UPDATE' | 'DESTROY')[] }

export function dumpRequest(r: DumpRequestSpec = {}): Uint8Array {
  const f = [...(r.zone !== undefined ? ['ZONE'] : []), ...(r.mark !== undefined ? ['MARK'] : []), ...(r.events ?? []).map((k) => `EVENT_${k}`)];
  return record('DumpRequest', { family: r.family ?? 0, protocol: r.protocol ?? 0, flags: flags('DumpRequest', ...f), zone: r.zone ?? 0, mark: r.mark ?? 0, markMask: r.markMask ?? 0 });
}

/** Records each followed by a byte string padded to 4 (UpdateRecord + entry message). */
export function withMessages(items: [Uint8Array, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [rec, msg] of items) parts.push(rec, msg, new Uint8Array((4 - (msg.length % 4)) % 4));
  return Buffer.concat(parts);
}
