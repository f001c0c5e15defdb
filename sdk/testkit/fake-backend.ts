// The fake kernel as a plugin worker's backend (BackendSpec kind 'fake'): loaded by the worker from
// the URL the spec names (fakeBackend() fills it in), so the runtime never imports the test kit.
import { Conntrack } from '../../host/conntrack/conntrack.js';
import { type EventStream, kernelOps } from '../../host/conntrack/ops.js';
import { splitMessages } from '../../host/netlink/message.js';
import type { Backend } from '../../host/runtime/backend.js';
import type { BackendSpec, FakeBackendSpec } from '../../host/runtime/protocol.js';
import { FakeKernel } from './fake-kernel.js';

/** This module's URL, as the worker imports it (the .ts source under the test runner, dist/fake-backend.js bundled). */
const MODULE = new URL(`./fake-backend${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

/**
 * A backend spec for an in-memory table: entry messages back to back, as a dump carries them;
 * `events`: scripted event batches (messages back to back) or 'overrun' (lost events), replayed to a
 * subscriber; `kernelRelease`: the kernel version the fake behaves as (before 6.8 it ignores zone
 * filters in dumps and flushes).
 */
export function fakeBackend(table: Uint8Array, opts: { events?: (Uint8Array | 'overrun')[]; kernelRelease?: string } = {}): BackendSpec {
  return { kind: 'fake', module: MODULE, table, ...opts };
}

/** Called in the worker (runtime/backend.ts) with the spec fakeBackend made. */
export function openFakeBackend(spec: FakeBackendSpec): Backend {
  const k = FakeKernel.fromMessages(splitMessages(spec.table), { release: spec.kernelRelease });
  const ct = Conntrack.open({ socket: k.socket(), actionSocket: k.socket(), kernelRelease: spec.kernelRelease });
  const ops = kernelOps(ct);
  return {
    ops: { ...ops, subscribe: () => scripted(spec.events ?? []) },
    table: () => Buffer.concat(k.messages()),
    close: () => ct.close(),
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
