// Messages between the main thread (plugin.ts) and a plugin worker (worker.ts).
import type { MessagePort } from 'node:worker_threads';
import type { ErrorKind } from '../conntrack/errors.js';
import type { TupleMatch } from '../conntrack/kernel-filter.js';
import type { Grant } from '../policy/grant.js';
import type { OpFailure } from '../scoped/send.js';
import { emptyOpStats, type OpStats } from '../scoped/stats.js';

/** Where the worker's conntrack operations go: the kernel (in a netns) or an in-memory table. */
export type BackendSpec =
  /** eventBufferBytes: the event socket's receive buffer (default events.ts DEFAULT_EVENT_BUFFER). */
  /** `narrow`: exact original-tuple fields every dump is narrowed to in the kernel (the CLI's exact filters; kernel-filter.ts). */
  | { kind: 'kernel'; netns?: string; eventBufferBytes?: number; narrow?: TupleMatch }
  | FakeBackendSpec
  /** held: entries the host already fetched, served read-only (conntrack/held-ops.ts: `get`, the dying table, -z). */
  | { kind: 'held'; table: Uint8Array }
  /**
   * daemon: the privileged operations go to `ctplug daemon` at `socket` (a session per run, opened
   * with the plugin's grant; the daemon enforces the client's own grant on top).
   */
  | { kind: 'daemon'; socket: string; netns?: string };

/**
 * An in-memory table (the test kit's fake kernel; make one with fakeBackend() from ctplug/testkit).
 * `module`: the URL of the module whose openFakeBackend(spec) the worker calls, so the runtime
 * never imports the test kit. `table`: entry messages back to back, as a dump carries them (one
 * buffer: cheap to hand over); `events`: scripted event batches (messages back to back) or
 * 'overrun' (lost events), replayed to a subscriber; the run ends when the script does.
 * `kernelRelease`: the kernel version the fake behaves as (before 6.8 it ignores zone filters).
 */
export interface FakeBackendSpec { kind: 'fake'; module: string; table: Uint8Array; events?: (Uint8Array | 'overrun')[]; kernelRelease?: string }

export interface WorkerInit {
  plugin: string;
  grant: Grant;
  module: WebAssembly.Module;
  usesWasi: boolean;
  /** The plugin's config as UTF-8 JSON text. */
  config: string;
  backend: BackendSpec;
  /** CallClock buffer (watchdog.ts). */
  clock: SharedArrayBuffer;
  /** Output chunk buffers the embedder released, going back to the worker for reuse. */
  recycle: MessagePort;
  /** FdLedger buffer: the sockets the worker holds, closed by the main thread after the worker exits. */
  fds: SharedArrayBuffer;
}

/** What one run did: the gate's counts (scoped/stats.ts) plus its output and log lines. */
export type RunStats = OpStats & {
  emittedBytes: number;
  logLines: number;
  droppedLogLines: number;
};

export const emptyStats = (): RunStats => ({ ...emptyOpStats(), emittedBytes: 0, logLines: 0, droppedLogLines: 0 });

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export interface LogLine {
  level: LogLevel;
  /** log(): the plugin's log hostcall; stdout/stderr: WASI fd 1/2; host: the runtime about the plugin. */
  source: 'log' | 'stdout' | 'stderr' | 'host';
  text: string;
}

/** A CtError's fields, so the main thread raises the same class as a direct Conntrack call would. */
export interface CtErrorFields { op: string; code: string; kind: ErrorKind; detail: string; errno?: number; ack?: string; hint?: string }

export type WorkerError =
  /** abort: the SDK's "abort: MESSAGE at FILE:LINE:COL" line logged just before the trap. */
  | { kind: 'trap'; call: string; message: string; abort?: string; stack?: string }
  | { kind: 'exit'; call: string; code: number; detail: string }
  | { kind: 'status'; call: string; code: number; detail: string }
  | { kind: 'host'; call: string; message: string; name?: string; hint?: string; ct?: CtErrorFields };

/** Main thread -> worker: load once (init), then one message per run. */
export type ToWorker = { type: 'init'; init: WorkerInit } | { type: 'run'; config?: string };

export type FromWorker =
  | { type: 'log'; lines: LogLine[] }
  | { type: 'emit'; bytes: Uint8Array }
  | { type: 'progress'; stats: RunStats }
  | { type: 'done'; stats: RunStats; failures: OpFailure[]; table?: Uint8Array }
  | { type: 'failed'; error: WorkerError; stats: RunStats };
