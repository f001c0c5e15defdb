// Worker entry used instead of host/runtime/worker.ts when a test's BackendSpec carries a
// `harness` (see workers.ts): patches the fake kernel / event source of THIS worker, then loads
// the real worker unchanged.
import { workerData } from 'node:worker_threads';
import { EventSource } from '../../host/conntrack/events.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import type { Harness } from './workers.js';
import '../../host/runtime/worker.js';

const h = (workerData as { backend: { harness: Harness } }).backend.harness;

const fromMessages = FakeKernel.fromMessages;
FakeKernel.fromMessages = function (msgs) {
  const k = fromMessages.call(FakeKernel, msgs);
  const seen: Record<string, number> = { delete: 0, dump: 0 };
  const script: Record<string, number[] | undefined> = { delete: h.deleteErrnos, dump: h.dumpErrnos };
  // FakeKernel.fault(type) is consulted once per request message; answer from the script.
  (k as unknown as { fault: (type: string) => number }).fault = (type: string) => {
    const s = script[type];
    if (!s) return 0;
    return s[seen[type]++] ?? 0;
  };
  if (h.unprivileged) k.unprivileged = true;
  return k;
};

if (h.eventBufferBytes) {
  const open = EventSource.open;
  EventSource.open = (opts = {}) => open.call(EventSource, { ...opts, bufferBytes: h.eventBufferBytes });
}
