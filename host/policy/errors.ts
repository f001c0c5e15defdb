// Errors about what a plugin is and may do: its manifest, the operator's policy, the grant. The base
// PluginError lives here, below the runtime, so this layer needs nothing from above it; the runtime's
// errors (host/runtime/errors.ts) extend it. Every class has a stable string `code` (exitCodeOf in
// host/exit-codes.ts maps codes to exit codes) and a one-line message that names the plugin.

export class PluginError extends Error {
  /**
   * For a run that failed part-way (trap, timeout, refused status, worker death): what it had
   * done by then, as last reported (the run's RunStats: deleted, created, updated, gone, failed...).
   */
  stats?: Readonly<Record<string, number>>;

  /** `code`: PLUGIN_BUSY (a run is in progress), PLUGIN_CLOSED, CONFIG_INVALID, or a subclass's own. */
  constructor(readonly plugin: string, message: string, readonly code: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The manifest file is malformed (bad JSON, unknown key, value out of range). */
export class ManifestError extends PluginError {
  constructor(plugin: string, message: string) { super(plugin, message, 'MANIFEST_INVALID'); }
}

/** The operator policy file is malformed. Not tied to one plugin, so `plugin` is ''. */
export class PolicyError extends PluginError {
  constructor(message: string) { super('', message, 'POLICY_INVALID'); }
}

/** The manifest asks for more than the policy allows. Raised at load time, never a silent downgrade. */
export class GrantError extends PluginError {
  constructor(plugin: string, message: string) { super(plugin, message, 'GRANT_REFUSED'); }
}
