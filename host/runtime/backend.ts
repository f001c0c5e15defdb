// The worker's conntrack backend: the kernel (through the native addon, in the plugin's netns),
// `ctplug daemon` (host/client: the worker then holds no privilege at all), or an in-memory table
// whose module the spec names (the test kit's fake kernel: sdk/testkit/fake-backend.ts), loaded only
// on that path and never named here: the runtime does not import the test kit.
import { Conntrack } from '../conntrack/conntrack.js';
import { heldOps } from '../conntrack/held-ops.js';
import { type ConntrackOps, kernelOps } from '../conntrack/ops.js';
import type { BackendSpec, FakeBackendSpec } from './protocol.js';
import { DaemonConnection } from '../client/connection.js';
import { daemonOps } from '../client/ops.js';
import type { Grant } from '../policy/grant.js';

export interface Backend {
  ops: ConntrackOps;
  /** The fake kernel's table after the run (the test kit diffs it to report what was deleted). */
  table?: () => Uint8Array;
  /** Releases what it holds: sockets, a daemon session (one per run; a worker keeps the others for its life). */
  close(): void;
}

/** `grant`: what a daemon session asks for (the plugin's grant; the daemon intersects it with the client's). */
export async function openBackend(spec: BackendSpec, grant: Grant): Promise<Backend> {
  if (spec.kind === 'daemon') {
    const conn = await DaemonConnection.open(spec.socket, { netns: spec.netns, capabilities: { operations: grant.operations, scope: grant.scope } });
    return { ops: daemonOps(conn), close: () => conn.close() };
  }
  if (spec.kind === 'held') return { ops: heldOps(spec.table), close() {} };
  if (spec.kind === 'kernel') {
    const ct = Conntrack.open({ netns: spec.netns });
    return { ops: kernelOps(ct, { netns: spec.netns, eventBufferBytes: spec.eventBufferBytes, narrow: spec.narrow }), close: () => ct.close() };
  }
  const m = (await import(spec.module)) as { openFakeBackend?: (s: FakeBackendSpec) => Backend };
  if (typeof m.openFakeBackend !== 'function') throw new TypeError(`backend module ${spec.module} exports no openFakeBackend (use fakeBackend() from ctplug/testkit)`);
  return m.openFakeBackend(spec);
}
