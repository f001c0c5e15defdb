// Plugin worker (worker_threads entry; bundled separately as dist/worker.js): a message loop around
// PluginRun. It holds one plugin's conntrack backend across runs, and is the run's sink: log
// records, output chunks (reused once the embedder releases them) and progress go to the main
// thread, which spawned it, watches its call clock and relays what it posts (protocol.ts).
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { FdLedger } from '../netlink/fd-ledger.js';
import { recordSocketsIn } from '../netlink/socket.js';
import { hostFailure, RunFailure } from './call-context.js';
import { type Backend, openBackend } from './backend.js';
import type { RunSink } from './output.js';
import { PluginRun } from './plugin-run.js';
import { emptyStats, type FromWorker, type WorkerError, type WorkerInit } from './protocol.js';
import { CallClock } from './watchdog.js';

const port = parentPort!;
type ToWorker = { type: 'init'; init: WorkerInit } | { type: 'run'; config?: string };
// One listener for the worker's life; messages that arrive before their handler is ready wait here.
const inbox: ToWorker[] = [];
let deliver: ((m: ToWorker) => void) | undefined;
port.on('message', (m: ToWorker) => (deliver ? deliver(m) : inbox.push(m)));
/** Given at spawn, or, to a worker started before its plugin was known (prespawn.ts), as the first message. */
const data: WorkerInit = (workerData as WorkerInit | undefined) ?? await new Promise<WorkerInit>((resolve) => {
  deliver = (m) => {
    if (m.type !== 'init') return;
    deliver = undefined;
    resolve(m.init);
  };
});
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
// Every socket this worker opens is listed where the main thread can close it after a termination.
recordSocketsIn(new FdLedger(data.fds));

/**
 * Output chunks the embedder released (RunOptions.onOutput's `release`) are filled again instead
 * of a fresh buffer per chunk: fresh chunks become garbage that V8 lets pile up (tens of MiB)
 * before the main thread collects it; a flow log's RSS rose by that much per 100k-flow burst.
 * Once chunks come back they are sized in powers of two so they fit later ones; before that,
 * exactly (a chunk an embedder keeps holds no slack). At most SPARE_MAX wait for reuse.
 */
const SPARE_MAX = 8;
const spare: ArrayBuffer[] = [];
let releasing = false;
function chunkBuffer(n: number): ArrayBuffer {
  for (let m; (m = receiveMessageOnPort(data.recycle)); releasing = true) if (spare.length < SPARE_MAX) spare.push(m.message as ArrayBuffer);
  const i = spare.findIndex((b) => b.byteLength >= n);
  return i >= 0 ? spare.splice(i, 1)[0] : new ArrayBuffer(releasing ? 2 ** Math.ceil(Math.log2(n)) : n);
}

const clock = new CallClock(data.clock);
const sink: RunSink = {
  logs: (lines) => post({ type: 'log', lines }),
  output(view) {
    const bytes = new Uint8Array(chunkBuffer(view.length), 0, view.length);
    bytes.set(view);
    clock.waitForOutputCredit(); // the embedder's consumer is behind: produce nothing more until it catches up
    clock.chunkPosted();
    post({ type: 'emit', bytes }, [bytes.buffer as ArrayBuffer]);
  },
  progress: (stats) => post({ type: 'progress', stats }),
};
let backend: Backend | undefined;
/** @wasmer/wasi, loaded only for plugins that import WASI: parsing the package alone costs ~100 ms. */
let wasi: typeof import('@wasmer/wasi') | undefined;

async function onMessage(msg: ToWorker): Promise<void> {
  if (msg.type !== 'run') return;
  let run: PluginRun | undefined;
  try {
    // @wasmer/wasi's own module costs ~50 ms to initialise: once per worker, reused across runs.
    if (data.usesWasi && !wasi) {
      const lib = await import('@wasmer/wasi');
      await lib.init();
      wasi = lib;
    }
    backend ??= await openBackend(data.backend);
    run = new PluginRun({ ...data, config: msg.config ?? data.config }, { ops: backend.ops, clock, sink, wasi });
    await run.execute();
    const table = backend.table?.();
    post({ type: 'done', stats: run.stats, failures: run.failures, table }, table ? [table.buffer as ArrayBuffer] : []);
  } catch (e) {
    const error: WorkerError = e instanceof RunFailure ? e.error : hostFailure(e, 'run');
    post({ type: 'failed', error, stats: run?.stats ?? emptyStats() });
  }
}

deliver = (m) => void onMessage(m);
for (const m of inbox.splice(0)) void onMessage(m);
