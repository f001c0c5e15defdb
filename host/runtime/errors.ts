// Every error a plugin's module or run can cause. Each message names the plugin and says what to do,
// because these are the lines operators and plugin authors actually read; each class has a stable
// `code`. The base class and the load-time policy errors are in host/policy/errors.ts.
import { CtError } from '../conntrack/errors.js';
import { AbortError } from '../netlink/abort.js';
import { PluginError } from '../policy/errors.js';
import type { RunStats, WorkerError } from './protocol.js';

/** The plugin's config (given at load or for a run) cannot be handed to it: not JSON, or nested too deep. */
export class ConfigError extends PluginError {
  constructor(plugin: string, message: string) { super(plugin, message, 'CONFIG_INVALID'); }
}

/** The module failed a pre-instantiation check: hash, imports, ABI marker, exports, memory. */
export class ModuleCheckError extends PluginError {
  constructor(plugin: string, message: string) { super(plugin, message, 'MODULE_REFUSED'); }
}

/**
 * An export call (or the instantiation) ran past its deadline, counting the host work it queued
 * (kernel operations, the dump batches it scheduled); the worker was terminated.
 */
export class PluginTimeoutError extends PluginError {
  constructor(plugin: string, readonly limitMs: number, readonly exportName: string, readonly inHostWork = false) {
    super(plugin, `plugin "${plugin}" exceeded ${limitMs} ms in ${exportName}${inHostWork ? ' and the host work after it (the operations and dumps the plugin queued)' : ''}`, 'PLUGIN_TIMEOUT');
  }
}

/**
 * The plugin trapped (unreachable, division by zero, stack overflow, out-of-bounds access, abort).
 * `abort`: the SDK's "abort: MESSAGE at FILE:LINE:COL", when the trap was an abort().
 */
export class PluginTrapError extends PluginError {
  constructor(plugin: string, readonly trap: string, readonly exportName: string, readonly wasmStack?: string, readonly abort?: string) {
    super(plugin, `plugin "${plugin}" trapped in ${exportName}: ${abort ? `${oneLine(abort)} (${trap})` : trap}`, 'PLUGIN_TRAP');
    if (wasmStack) this.stack = `${this.name}: ${this.message}\n${wasmStack}`;
  }
}

/** The plugin called proc_exit with a non-zero code (`status`), or an export returned a negative status. */
export class PluginFailedError extends PluginError {
  constructor(plugin: string, readonly exportName: string, readonly status: number, detail: string) {
    super(plugin, `plugin "${plugin}" failed in ${exportName}: ${oneLine(detail)}`, 'PLUGIN_FAILED');
  }
}

/**
 * The plugin's worker reached its heap bound (RESOURCE_LIMITS in prespawn.ts) and was
 * terminated: the plugin made the host hold too much for it. The embedder is not affected.
 */
export class PluginMemoryError extends PluginError {
  constructor(plugin: string, readonly exportName: string | undefined, readonly heapMb: number) {
    super(plugin, `plugin "${plugin}" exceeded the ${heapMb} MiB heap bound of its worker${exportName ? ` in ${exportName}` : ''}; the worker was terminated`, 'PLUGIN_MEMORY');
  }
}

/** The worker died for a reason that is neither the plugin's nor a kernel error (those are CtErrors). */
export class PluginHostError extends PluginError {
  constructor(plugin: string, message: string, readonly causeName?: string, readonly hint?: string) {
    super(plugin, `plugin "${plugin}": ${oneLine(message)}`, 'PLUGIN_HOST_FAILED');
  }
}

/** A run cancelled by its signal: AbortError carrying what the run did. */
export function abortedRun(plugin: string, signal: AbortSignal, stats: RunStats): AbortError {
  const e = new AbortError(`plugin "${plugin}" run`, signal.reason);
  e.stats = stats;
  return e;
}

/** The error a run failure described in a worker (or on this thread, inline.ts) becomes. */
export function errorOf(plugin: string, e: WorkerError): PluginError | CtError {
  switch (e.kind) {
    case 'trap': return new PluginTrapError(plugin, e.message, e.call, e.stack, e.abort);
    case 'exit':
    case 'status': return new PluginFailedError(plugin, e.call, e.code, e.detail);
    case 'host':
      // A kernel or environment error (EPERM, a missing netns) is the same CtError a direct Conntrack call raises.
      if (e.ct) return new CtError(e.ct.op, e.ct.code, e.ct.kind, e.ct.detail, { errno: e.ct.errno, ack: e.ct.ack, hint: e.ct.hint });
      return new PluginHostError(plugin, `${e.message} (in ${e.call})`, e.name, e.hint);
  }
}

/** Plugin text (a log line, an abort message) inside our one-line message. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}
