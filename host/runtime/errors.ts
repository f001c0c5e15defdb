import type { RunStats } from './protocol.js';
// Every error a plugin can cause, in one place. Each message names the plugin and says what to do,
// because these are the lines operators and plugin authors actually read.

export class PluginError extends Error {
  /**
   * For a run that failed part-way (trap, timeout, refused status, worker death): what it had
   * done by then, as last reported (deleted, created, updated, gone, failed...).
   */
  stats?: RunStats;

  constructor(readonly plugin: string, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The manifest file is malformed (bad JSON, unknown key, value out of range). */
export class ManifestError extends PluginError {}

/** The operator policy file is malformed. Not tied to one plugin, so `plugin` is ''. */
export class PolicyError extends PluginError {
  constructor(message: string) { super('', message); }
}

/** The plugin's config (given at load or for a run) cannot be handed to it: not JSON, or nested too deep. */
export class ConfigError extends PluginError {}

/** The manifest asks for more than the policy allows. Raised at load time, never a silent downgrade. */
export class GrantError extends PluginError {}

/** The module failed a pre-instantiation check: hash, imports, ABI marker, exports, memory. */
export class ModuleCheckError extends PluginError {}

/**
 * An export call (or the instantiation) ran past its deadline, counting the host work it queued
 * (kernel operations, the dump batches it scheduled); the worker was terminated.
 */
export class PluginTimeoutError extends PluginError {
  constructor(plugin: string, readonly limitMs: number, readonly exportName: string, readonly inHostWork = false) {
    super(plugin, `plugin "${plugin}" exceeded ${limitMs} ms in ${exportName}${inHostWork ? ' and the host work after it (the operations and dumps the plugin queued)' : ''}`);
  }
}

/** The plugin trapped (unreachable, division by zero, stack overflow, out-of-bounds access, abort). */
export class PluginTrapError extends PluginError {
  constructor(plugin: string, readonly trap: string, readonly exportName: string, readonly wasmStack?: string) {
    super(plugin, `plugin "${plugin}" trapped in ${exportName}: ${trap}`);
    if (wasmStack) this.stack = `${this.name}: ${this.message}\n${wasmStack}`;
  }
}

/** The plugin called proc_exit with a non-zero code, or an export returned a negative status. */
export class PluginFailedError extends PluginError {
  constructor(plugin: string, readonly exportName: string, readonly code: number, detail: string) {
    super(plugin, `plugin "${plugin}" failed in ${exportName}: ${detail}`);
  }
}

/**
 * The plugin's worker reached its heap bound (RESOURCE_LIMITS in prespawn.ts) and was
 * terminated: the plugin made the host hold too much for it. The embedder is not affected.
 */
export class PluginMemoryError extends PluginError {
  constructor(plugin: string, readonly exportName: string | undefined, readonly heapMb: number) {
    super(plugin, `plugin "${plugin}" exceeded the ${heapMb} MiB heap bound of its worker${exportName ? ` in ${exportName}` : ''}; the worker was terminated`);
  }
}

/** The worker died for a reason that is not the plugin's (host bug, backend error such as EPERM). */
export class PluginHostError extends PluginError {
  constructor(plugin: string, message: string, readonly causeName?: string, readonly hint?: string) {
    super(plugin, `plugin "${plugin}": ${message}`);
  }
}
