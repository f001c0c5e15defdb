// ctplug's embedding API: `import { Host, Conntrack } from 'ctplug'`. No CLI parsing in here.
//   const host = new Host({ policy: 'policy.json', netns: 'tenant-a' });
//   const r = await host.run('dist/plugins/match.manifest.json', { config: { zone: 5, action: 'delete', proto: 'udp' } });
//   console.log(r.stats.deleted);
import { builtinPaths } from './cli/plugins.js';

// Plugins: load (manifest ∩ policy = grant, module checks), run in a worker, typed failures.
export { Host, type HostOptions, type PluginOptions } from './runtime/host.js';
export {
  loadPlugin, Plugin, type LoadOptions, type PluginLogLine, type PluginSource, type RunOptions, type RunResult,
} from './runtime/plugin.js';
export type { BackendSpec, LogLine, RunStats } from './runtime/protocol.js';
export {
  ConfigError, GrantError, ManifestError, ModuleCheckError, PluginError, PluginFailedError, PluginHostError, PluginMemoryError,
  PluginTimeoutError, PluginTrapError, PolicyError,
} from './runtime/errors.js';
export { checkModule, sha256, type CheckedModule } from './runtime/module-check.js';

// Policy and manifests.
export { computeGrant, type Grant } from './policy/grant.js';
export { loadManifest, parseManifest, type Manifest } from './policy/manifest.js';
export { loadPolicy, parsePolicy, type Policy } from './policy/policy.js';
export type { Capabilities, Operation, Scope, ZoneRange } from './policy/capabilities.js';
export { DEFAULT_LIMITS, type Limits } from './policy/limits.js';

// Conntrack directly (the privileged core).
export {
  Conntrack, toNewEntry, kernelFiltersDeleteByZone, type BatchFailure, type BatchResult, type CreateSpec, type DumpFilter,
  type OpenOptions,
} from './conntrack/conntrack.js';
export type { Lookup, NewEntry } from './conntrack/request.js';
export type { Tuple } from './conntrack/tuple.js';
export { CtError, TOLERATED, type ErrorKind } from './conntrack/errors.js';
export { scanEntry, type EntryScope } from './conntrack/scope.js';
export { splitMessages } from './netlink/message.js';
export {
  netnsPath, parseAddress, parseCidr, parseFamily, parseMark, parsePort, parseProtocol, parseTcpState, parseZone,
  type Address, type Cidr, type Family,
} from './conntrack/validate.js';

// The exit-code table the CLI uses, for embedders that map outcomes the same way.
export { EXIT, EXIT_TABLE, type ExitCode } from './cli/exit-codes.js';

// First-party plugins (dist/plugins): `host.run(builtinPlugin('match'), { config })`.
export { BUILTIN as BUILTIN_PLUGINS } from './cli/plugins.js';
/** The manifest path of a first-party plugin; a CtError (kind 'environment') when not built. */
export function builtinPlugin(name: string): string {
  return builtinPaths(name).manifestPath;
}

// Conntrack events, batched, with overruns counted (see EventSource.readSync).
export { EventSource, classifyEvent, parseEventKinds, type EventBatch, type EventKind, type EventSourceOptions } from './conntrack/events.js';
