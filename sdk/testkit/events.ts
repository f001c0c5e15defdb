// Entries and event batches from plain objects, encoded as the kernel sends them, for plugin tests:
//   runPlugin(manifest, { events: [[{ kind: 'new', protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 5353, dport: 53, timeout: 30 }]] })
// An event is the entry message with the header ctnetlink gives it: NEW is IPCTNL_MSG_CT_NEW with
// NLM_F_CREATE|NLM_F_EXCL, UPDATE is IPCTNL_MSG_CT_NEW without, DESTROY is IPCTNL_MSG_CT_DELETE.
import type { CreateSpec } from '../../host/conntrack/new-entry.js';
import { IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_NEW, msgType } from '../../host/conntrack/constants.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { NLM_F_CREATE, NLM_F_EXCL } from '../../host/netlink/constants.js';
import { FakeKernel } from './fake-kernel.js';

export type EventKindName = 'new' | 'update' | 'destroy';

/** One event: what happened to the flow `spec` describes. `id`: its conntrack id (default: from the tuple and zone). */
export type EventSpec = CreateSpec & { kind: EventKindName; id?: number };

/** Entry messages as a dump carries them (conntrack ids 1, 2, ...). */
export function entryMessages(specs: CreateSpec[]): Uint8Array[] {
  return FakeKernel.fromSpecs(specs).messages();
}

/** One batch of events, messages back to back (for runPlugin's `events`). */
export function eventBatch(events: EventSpec[]): Uint8Array {
  return Buffer.concat(events.map((e) => eventMessage(e)));
}

/** One event message. The same flow gets the same id in each of its events. */
export function eventMessage(e: EventSpec): Uint8Array {
  const { kind, id, ...spec } = e;
  if (kind !== 'new' && kind !== 'update' && kind !== 'destroy') throw new TypeError(`event kind must be new, update or destroy, not ${JSON.stringify(kind)}`);
  const msg = FakeKernel.entry(spec, id ?? flowId(spec));
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  v.setUint16(4, msgType(kind === 'destroy' ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW), true);
  v.setUint16(6, kind === 'new' ? NLM_F_CREATE | NLM_F_EXCL : 0, true);
  return msg;
}

/** A stable id for a flow: FNV-1a of its original tuple and zone (never 0). */
function flowId(spec: CreateSpec): number {
  const s = scanEntry(FakeKernel.entry(spec, 1))!;
  let h = 0x811c9dc5;
  for (const b of [...s.origTuple, s.zone & 255, s.zone >> 8]) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h || 1;
}
