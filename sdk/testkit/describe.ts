// Turns a ctnetlink entry message back into the typed description plugin authors write in tests
// ({ family, protocol, src, dst, sport, dport, zone, mark, ... }), for readable assertions. Read
// with the host's flow decoder (decodeFlow), the one JS-side entry decoder.
import type { CreateSpec } from '../../host/conntrack/new-entry.js';
import { decodeFlow } from '../../host/conntrack/flow.js';

/** The same shape as the CreateSpec a test author writes, with what the kernel always reports filled in. */
export interface EntryDescription extends Omit<CreateSpec, 'family' | 'protocol' | 'zone' | 'mark' | 'timeout' | 'status'> {
  family: 'ipv4' | 'ipv6';
  protocol: string;
  zone: number;
  mark: number;
  timeout?: number;
}

export function describeEntry(msg: Uint8Array): EntryDescription {
  const f = decodeFlow(msg);
  if (!f) throw new TypeError('describeEntry: not a conntrack entry message');
  const e: EntryDescription = {
    family: f.family, protocol: f.protocol === 'unknown' ? String(f.protocolNumber) : f.protocol, src: f.orig.src, dst: f.orig.dst, zone: f.zone, mark: f.mark,
  };
  if (f.orig.sport !== undefined) e.sport = f.orig.sport;
  if (f.orig.dport !== undefined) e.dport = f.orig.dport;
  if (f.orig.icmp) Object.assign(e, { icmpId: f.orig.icmp.id, icmpType: f.orig.icmp.type, icmpCode: f.orig.icmp.code });
  if (f.timeout !== undefined) e.timeout = f.timeout;
  if (f.protocol === 'tcp' && f.state !== undefined) e.tcpState = f.state;
  return e;
}
