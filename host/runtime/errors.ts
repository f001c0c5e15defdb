// Every error a plugin's module or run can cause. Each message names the plugin and says what to do,
// because these are the lines operators and plugin authors actually read; each class has a stable
// `code`. The base class and the load-time policy errors are in host/policy/errors.ts.
import { PluginError } from '../policy/errors.js';

/** The module failed a pre-instantiation check: hash, imports, ABI marker, exports, memory. */
export class ModuleCheckError extends PluginError {
  constructor(plugin: string, message: string) { super(plugin, message, 'MODULE_REFUSED'); }
}

/** An export call ran past its deadline; the worker was terminated. */
export class PluginTimeoutError extends PluginError {
  constructor(plugin: string, readonly limitMs: number, readonly exportName: string) {
    super(plugin, `plugin "${plugin}" exceeded ${limitMs} ms in ${exportName}`, 'PLUGIN_TIMEOUT');
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

/** The worker died for a reason that is neither the plugin's nor a kernel error (those are CtErrors). */
export class PluginHostError extends PluginError {
  constructor(plugin: string, message: string, readonly causeName?: string, readonly hint?: string) {
    super(plugin, `plugin "${plugin}": ${oneLine(message)}`, 'PLUGIN_HOST_FAILED');
  }
}

/** Plugin text (a log line, an abort message) inside our one-line message. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}
