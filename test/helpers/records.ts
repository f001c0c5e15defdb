// ABI records (sdk/abi.json) written from JS, for tests that speak to the gate as a plugin or a
// client does: DumpRequest, UpdateRecord (+ extension), CreateRecord (+ extension). The writer is the
// daemon client's (host/wire/records.ts), under the names these tests use.
import { flagBits, writeRecord } from '../../host/wire/records.js';

/** One record of `name`: each field written at its offset and width (little-endian), flags as given. */
export const record = writeRecord;
/** The flag bits `names` of a record's flags field. */
export const flags = flagBits;

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
