// The verbs a CLI needs beside the plugin ABI's (abi.json wire COUNT, GET, STATS), answered
// within the session's grant, never beyond it:
// - COUNT: the entries of a DumpRequest that the grant lets this client see, counted by the gate's
//   own delivery (the kernel's global counter only for a grant that reads everything);
// - GET: one entry by tuple; a lookup in a zone outside the grant is refused, and an entry found
//   outside the grant (family, protocol, mark) is answered as not found: the same answer as none;
// - STATS: per-CPU counters cover every zone, so only a grant that reads everything gets them;
// - CLIENTS: the daemon's requests and refusals by client entry (the agent's /metrics shows them):
//   every entry's for a grant that reads everything, else the client's own only.
import type { Conntrack } from '../conntrack/conntrack.js';
import { toNewEntry } from '../conntrack/new-entry.js';
import { RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { STATUS } from '../policy/abi.js';
import type { Scope } from '../policy/capabilities.js';
import { Refusal, type ScopedConntrack } from '../scoped/gate.js';
import { readCreateRecord, CREATE_RECORD_SIZE } from '../scoped/records.js';
import { FLAG, type Frame, FRAME } from '../wire/frame.js';
import { encodeResult, readRecord } from '../wire/records.js';

const { OK, E_INVAL, E_DENIED, E_SCOPE } = STATUS;
/** Kernel batches counted between two turns of the event loop (other clients go meanwhile). */
const BATCHES_PER_TURN = 16;

type Send = (type: number, id: number, flags: number, ...parts: Uint8Array[]) => boolean;

const everything = (s: Scope) => s.zones === 'any' && s.families === 'any' && s.protocols === 'any' && s.mark === null;
const ok = (count: number) => encodeResult({ status: OK, ok: 0, gone: 0, changed: 0, count, failed: [] });

export async function countEntries(gate: ScopedConntrack, ct: Conntrack, req: Uint8Array): Promise<Uint8Array | Refusal> {
  const admitted = gate.dump(req);
  if (admitted instanceof Refusal) return admitted;
  const r = readRecord('DumpRequest', req);
  if (everything(gate.grant.scope) && r.family === 0 && r.protocol === 0 && r.flags === 0) return ok(ct.countSync());
  const plan = gate.dumps[gate.dumps.length - 1];
  const before = gate.stats.entries;
  const scratch = new Uint8Array(RECV_BUFFER_BYTES + 8);
  let n = 0;
  await gate.deliver(plan, {
    into: () => scratch,
    batch: () => (++n % BATCHES_PER_TURN ? true : new Promise<boolean>((res) => setImmediate(() => res(true)))),
    stopped: () => false,
  });
  return ok(gate.stats.entries - before);
}

export function getEntry(gate: ScopedConntrack, ct: Conntrack, f: Frame, send: Send): Refusal | void {
  const denied = gate.denied('dump');
  if (denied) return denied;
  if (f.payload.length !== CREATE_RECORD_SIZE) return new Refusal(E_INVAL, `a GET carries one ${CREATE_RECORD_SIZE}-byte CreateRecord`);
  const rec = readCreateRecord(new DataView(f.payload.buffer, f.payload.byteOffset, f.payload.length), 0);
  if (typeof rec === 'string') return new Refusal(E_INVAL, rec);
  let tuple, zone;
  try {
    ({ tuple, zone } = toNewEntry({ ...rec.spec, timeout: 0 }));
  } catch (e) {
    return new Refusal(E_INVAL, (e as Error).message);
  }
  const zones = gate.grant.scope.zones;
  if (zones !== 'any' && !zones.some((z) => z.from <= (zone ?? 0) && (zone ?? 0) <= z.to)) return new Refusal(E_SCOPE, `zone ${zone ?? 0} is outside the grant`);
  const entry = ct.getSync({ tuple, direction: f.flags & FLAG.REPLY ? 'reply' : 'original', zone });
  let found = 0;
  if (entry) {
    const out = new Uint8Array(entry.length + 8);
    const len = gate.admit(entry, gate.matcher, out, 'entries');
    if (len) {
      send(FRAME.ENTRIES, f.id, 0, out.subarray(0, len));
      found = 1;
    }
  }
  send(FRAME.DONE, f.id, 0, ok(found));
}

export function clientCounters(gate: ScopedConntrack, counters: Map<string, { requests: number; refusals: number }>, own: string): Uint8Array {
  const all = !gate.denied('dump') && everything(gate.grant.scope);
  const seen = Object.fromEntries([...counters].filter(([k]) => all || k === own));
  return Buffer.from(JSON.stringify(seen));
}

export function statsReply(gate: ScopedConntrack, ct: Conntrack, id: number, send: Send): Refusal | void {
  const denied = gate.denied('dump');
  if (denied) return denied;
  if (!everything(gate.grant.scope)) return new Refusal(E_DENIED, 'per-CPU statistics count every zone: only a client whose grant reads everything may see them');
  send(FRAME.STATS_REPLY, id, 0, Buffer.from(JSON.stringify(ct.statsSync())));
}
