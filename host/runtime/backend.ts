// The worker's conntrack backend: the kernel (through the native addon, in the plugin's netns)
// or the test kit's fake kernel seeded with entry messages, so plugins can be tested without root.
import { Conntrack } from '../conntrack/conntrack.js';
import { type ConntrackOps, type EventStream, kernelOps } from '../conntrack/ops.js';
import { splitMessages } from '../netlink/message.js';
import type { BackendSpec } from './protocol.js';

export interface Backend {
  ops: ConntrackOps;
  /** The fake kernel's table after the run (the test kit diffs it to report what was deleted). */
  table?: () => Uint8Array;
}

export async function openBackend(spec: BackendSpec): Promise<Backend> {
  if (spec.kind === 'kernel') {
    return { ops: kernelOps(Conntrack.open({ netns: spec.netns }), { netns: spec.netns, eventBufferBytes: spec.eventBufferBytes }) };
  }
  // Loaded only on this path: the fake kernel is test-kit code, not part of the privileged path.
  const { FakeKernel } = await import('../../sdk/testkit/fake-kernel.js');
  const k = FakeKernel.fromMessages(splitMessages(spec.table), { release: spec.kernelRelease });
  const ops = kernelOps(Conntrack.open({ socket: k.socket(), actionSocket: k.socket(), kernelRelease: spec.kernelRelease }));
  return {
    ops: { ...ops, subscribe: () => scripted(spec.events ?? []) },
    table: () => Buffer.concat(k.messages()),
  };
}

/** Replays recorded event batches; no kernel filter (the host's scope re-check still applies). */
function scripted(script: (Uint8Array | 'overrun')[]): EventStream {
  let i = 0;
  return {
    async read(buf) {
      if (i >= script.length) return null;
      const item = script[i++];
      if (item === 'overrun') return 'overrun';
      buf.set(item);
      return { bytes: buf.subarray(0, item.length), count: [...splitMessages(item)].length };
    },
    close() {},
  };
}
