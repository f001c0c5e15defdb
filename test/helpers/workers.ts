// Watches the plugin workers a test process starts, without touching host code: the Worker class
// of node:worker_threads is wrapped (syncBuiltinESMExports makes host/runtime/plugin.ts see it).
// For each plugin worker it records when it exited and, when it was killed inside an export call,
// how long that call had been running: "how long a hostile plugin held the host". A worker whose
// backend spec carries a `harness` field runs test/helpers/fault-worker.ts instead, which injects
// kernel faults (fake kernel) or shrinks the event receive buffer (real kernel) and then loads the
// real worker.
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { CallClock } from '../../host/runtime/watchdog.js';

const require = createRequire(import.meta.url);
const wt = require('node:worker_threads') as typeof import('node:worker_threads');

export interface WorkerRecord {
  plugin: string;
  spawnedAt: number;
  exitedAt?: number;
  /** Set when the worker exited while inside an export call: that call's name and age at exit. */
  killedIn?: string;
  heldMs?: number;
  /** When the host called terminate() while the worker was inside an export call: that call's age then. */
  terminateCalledAfterMs?: number;
}

export const workers: WorkerRecord[] = [];

/** Harness options a test can put into a BackendSpec (ignored by the real worker). */
export interface Harness {
  /** Fake kernel: the errno answered to the i-th delete request (0 or missing = really delete). */
  deleteErrnos?: number[];
  /** Fake kernel: the errno answered to the i-th dump request. */
  dumpErrnos?: number[];
  /** Fake kernel: every send refused with EPERM (no CAP_NET_ADMIN). */
  unprivileged?: boolean;
  /** Kernel: SO_RCVBUF(FORCE) bytes of the plugin's event socket (tiny: provoke ENOBUFS). */
  eventBufferBytes?: number;
}

const FAULT_ENTRY = new URL('./fault-worker.ts', import.meta.url);
const Original = (globalThis as { __ctplugOriginalWorker?: typeof wt.Worker }).__ctplugOriginalWorker ?? wt.Worker;

if (!(globalThis as { __ctplugOriginalWorker?: unknown }).__ctplugOriginalWorker) {
  (globalThis as { __ctplugOriginalWorker?: unknown }).__ctplugOriginalWorker = Original;
  class TrackedWorker extends Original {
    private rec?: WorkerRecord;
    private clock?: CallClock;
    override terminate(): Promise<number> {
      const c = this.clock?.current();
      if (this.rec && c && this.rec.terminateCalledAfterMs === undefined) this.rec.terminateCalledAfterMs = c.elapsedMs;
      return super.terminate();
    }
    constructor(url: string | URL, opts: import('node:worker_threads').WorkerOptions = {}) {
      const data = opts.workerData as { plugin?: string; clock?: SharedArrayBuffer; backend?: { harness?: Harness } } | undefined;
      const isPlugin = !!data && typeof data.plugin === 'string' && data.clock instanceof SharedArrayBuffer;
      super(isPlugin && data!.backend?.harness ? FAULT_ENTRY : url, opts);
      if (!isPlugin) return;
      const rec: WorkerRecord = { plugin: data!.plugin!, spawnedAt: Date.now() };
      workers.push(rec);
      const clock = new CallClock(data!.clock!);
      this.rec = rec;
      this.clock = clock;
      this.on('exit', () => {
        rec.exitedAt = Date.now();
        const c = clock.current(rec.exitedAt);
        if (c) { rec.killedIn = c.name; rec.heldMs = c.elapsedMs; }
      });
    }
  }
  wt.Worker = TrackedWorker as typeof wt.Worker;
  syncBuiltinESMExports();
}

// scripts/adversarial-report.mjs preloads this module into every test file it runs (--import) and
// sets CTPLUG_REPORT_WORKERS=1: each plugin worker killed inside an export call is then printed as
// one ADVERSARIAL line when the process ends (after waiting briefly for terminating workers).
if (process.env.CTPLUG_REPORT_WORKERS === '1') {
  let waited = false;
  process.on('beforeExit', () => {
    if (waited || !workers.some((w) => w.exitedAt === undefined)) return;
    waited = true;
    void settled(3000);
  });
  process.on('exit', () => {
    for (const w of workers) {
      if (w.killedIn !== undefined) process.stdout.write(`ADVERSARIAL ${JSON.stringify({ kind: 'worker', ...w })}\n`);
    }
  });
}

/** Resolves when every tracked worker has exited (or after `ms`). */
export async function settled(ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (workers.some((w) => w.exitedAt === undefined) && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

/** The records of workers killed inside an export call since index `from`. */
export function killed(from = 0): WorkerRecord[] {
  return workers.slice(from).filter((w) => w.killedIn !== undefined);
}

/**
 * One structured line per adversarial case, read by scripts/adversarial-report.mjs:
 *   ADVERSARIAL {"kind":"hostile","case":"...","contained":true,...}
 */
export function record(entry: { kind: 'hostile' | 'fault'; case: string; outcome: string; contained?: boolean; heldMs?: number; [k: string]: unknown }): void {
  process.stdout.write(`ADVERSARIAL ${JSON.stringify(entry)}\n`);
}
