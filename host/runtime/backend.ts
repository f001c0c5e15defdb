// The worker's conntrack backend: the kernel (through the native addon, in the plugin's netns)
// or the test kit's fake kernel seeded with entry messages, so plugins can be tested without root.
import type { EventFilter } from '../conntrack/bpf.js';
import { Conntrack } from '../conntrack/conntrack.js';
import { EventSource, type EventBatch, type EventKind, type EventReadOptions } from '../conntrack/events.js';
import { splitMessages } from '../netlink/message.js';
import type { BackendSpec } from './protocol.js';

/** EventSource.read, plus null: no more events will ever come (the fake's script ended). */
export interface Events {
  read(buf: Uint8Array, opts: EventReadOptions): Promise<EventBatch | 'overrun' | null>;
  /** After an overrun, before the resync dump: discard what is still queued (stale). */
  drain?(): number;
  close(): void;
}

export interface Backend {
  ct: Conntrack;
  events(kinds: EventKind[], filter: EventFilter): Events;
  /** The fake kernel's table after the run (the test kit diffs it to report what was deleted). */
  table?: () => Uint8Array;
}

export async function openBackend(spec: BackendSpec): Promise<Backend> {
  if (spec.kind === 'kernel') {
    return { ct: Conntrack.open({ netns: spec.netns }), events: (kinds, filter) => EventSource.open({ netns: spec.netns, kinds, filter, bufferBytes: spec.eventBufferBytes }) };
  }
  // Loaded only on this path: the fake kernel is test-kit code, not part of the privileged path.
  const { FakeKernel } = await import('../../sdk/testkit/fake-kernel.js');
  const k = FakeKernel.fromMessages(splitMessages(spec.table), { release: spec.kernelRelease });
  return {
    ct: Conntrack.open({ socket: k.socket(), actionSocket: k.socket(), kernelRelease: spec.kernelRelease }),
    events: () => scripted(spec.events ?? []),
    table: () => Buffer.concat(k.messages()),
  };
}

/** Replays recorded event batches; no kernel filter (the host's scope re-check still applies). */
function scripted(script: (Uint8Array | 'overrun')[]): Events {
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
