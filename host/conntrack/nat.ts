// What NAT did to a flow, read from its status bits and its two tuples, as conntrack shows it: with
// SRC_NAT the reply goes to the rewritten source (the reply tuple's destination), with DST_NAT it
// comes from the rewritten destination (the reply tuple's source).
import { IPS } from './constants.js';
import type { FlowTuple } from './tuple.js';

/** An address (and port, for protocols with ports) a flow was rewritten to. */
export interface NatRewrite {
  address: string;
  port?: number;
}

export interface FlowNat {
  src?: NatRewrite;
  dst?: NatRewrite;
}

/** undefined when neither SRC_NAT nor DST_NAT is set. */
export function natOf(status: number, reply: FlowTuple): FlowNat | undefined {
  if (!(status & (IPS.SRC_NAT | IPS.DST_NAT))) return undefined;
  const nat: FlowNat = {};
  if (status & IPS.SRC_NAT) nat.src = rewrite(reply.dst, reply.dport);
  if (status & IPS.DST_NAT) nat.dst = rewrite(reply.src, reply.sport);
  return nat;
}

function rewrite(address: string, port: number | undefined): NatRewrite {
  return port === undefined ? { address } : { address, port };
}
