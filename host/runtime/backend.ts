// The worker's conntrack backend: the kernel (through the native addon, in the plugin's netns)
// or the test kit's fake kernel seeded with entry messages, so plugins can be tested without root.
import { Conntrack } from '../conntrack/conntrack.js';
import { splitMessages } from '../netlink/message.js';
import type { BackendSpec } from './protocol.js';

export interface Backend {
  ct: Conntrack;
  /** The fake kernel's table after the run (the test kit diffs it to report what was deleted). */
  table?: () => Uint8Array;
}

export async function openBackend(spec: BackendSpec): Promise<Backend> {
  if (spec.kind === 'kernel') return { ct: Conntrack.open({ netns: spec.netns }) };
  // Loaded only on this path: the fake kernel is test-kit code, not part of the privileged path.
  const { FakeKernel } = await import('../../sdk/testkit/fake-kernel.js');
  const k = FakeKernel.fromMessages(splitMessages(spec.table));
  return { ct: Conntrack.open({ socket: k.socket(), actionSocket: k.socket() }), table: () => Buffer.concat(k.messages()) };
}
