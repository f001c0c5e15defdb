// The worker's conntrack backend: the kernel (through the native addon, in the plugin's netns), or
// an in-memory table whose module the spec names (the test kit's fake kernel: sdk/testkit/fake-backend.ts),
// loaded only on that path and never named here: the runtime does not import the test kit.
import { Conntrack } from '../conntrack/conntrack.js';
import { type ConntrackOps, kernelOps } from '../conntrack/ops.js';
import type { BackendSpec, FakeBackendSpec } from './protocol.js';

export interface Backend {
  ops: ConntrackOps;
  /** The fake kernel's table after the run (the test kit diffs it to report what was deleted). */
  table?: () => Uint8Array;
  /** Closes its sockets (a worker's are closed when it exits; an inline run closes them itself). */
  close(): void;
}

export async function openBackend(spec: BackendSpec): Promise<Backend> {
  if (spec.kind === 'kernel') {
    const ct = Conntrack.open({ netns: spec.netns });
    return { ops: kernelOps(ct, { netns: spec.netns, eventBufferBytes: spec.eventBufferBytes, narrow: spec.narrow }), close: () => ct.close() };
  }
  const m = (await import(spec.module)) as { openFakeBackend?: (s: FakeBackendSpec) => Backend };
  if (typeof m.openFakeBackend !== 'function') throw new TypeError(`backend module ${spec.module} exports no openFakeBackend (use fakeBackend() from ctplug/testkit)`);
  return m.openFakeBackend(spec);
}
