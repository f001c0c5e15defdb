// ctplug's embedding API: `import { Host, Conntrack } from 'ctplug'`. No CLI parsing in here, and
// nothing from host/cli: the library is the layer below the command line.
//   const host = new Host({ policy: 'policy.json', netns: 'tenant-a' });
//   const r = await host.run(builtinPlugin('match'), { config: { zone: 5, action: 'delete', proto: 'udp' } });
//   console.log(r.stats.deleted);

// Plugins: load (manifest ∩ policy = grant, module checks), run in a worker, typed failures.
export { Host, type HostOptions, type PluginOptions } from './runtime/host.js';
export {
  loadPlugin, Plugin, type LoadOptions, type PluginLogLine, type PluginSource, type RunOptions, type RunResult,
} from './runtime/plugin.js';
export type { BackendSpec, LogLine, LogLevel, RunStats } from './runtime/protocol.js';
export { GrantError, ManifestError, PluginError, PolicyError } from './policy/errors.js';
export {
  ConfigError, ModuleCheckError, PluginFailedError, PluginHostError, PluginMemoryError, PluginTimeoutError, PluginTrapError,
} from './runtime/errors.js';
export { checkModule, sha256, type CheckedModule } from './runtime/module-check.js';

// Policy and manifests: the documents as written (…Document) and as parsed.
export { computeGrant, type Grant } from './policy/grant.js';
export { loadManifest, parseManifest, type Manifest, type ManifestDocument } from './policy/manifest.js';
export { loadPolicy, parsePolicy, type Policy, type PolicyDocument, type PolicyEntry, type PolicyEntryDocument } from './policy/policy.js';
export type {
  Capabilities, CapabilitiesDocument, Mark, Operation, Scope, ScopeDocument, ScopeProtocol, ZoneRange,
} from './policy/capabilities.js';
export type { ProtocolName } from './conntrack/constants.js';
export { DEFAULT_LIMITS, type Limits } from './policy/limits.js';

// Conntrack directly (the privileged core), or through `ctplug daemon` without privilege:
// Conntrack.connect(PATH) -> RemoteConntrack (the same operations, async: see client/remote.ts).
import { Conntrack } from './conntrack/conntrack.js';
import { type ConnectOptions, RemoteConntrack } from './client/remote.js';
declare module './conntrack/conntrack.js' {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Conntrack {
    /** A session with `ctplug daemon` at `path` (CTPLUG_SOCKET): no capability needed here. */
    function connect(path: string, opts?: ConnectOptions): Promise<RemoteConntrack>;
  }
}
Object.assign(Conntrack, { connect: (path: string, opts?: ConnectOptions) => RemoteConntrack.connect(path, opts) });
export { RemoteConntrack, type ConnectOptions };
export {
  Conntrack, kernelFiltersDeleteByZone, type BatchFailure, type BatchResult, type DumpFilter, type OpenOptions,
} from './conntrack/conntrack.js';
export { toNewEntry, type CreateSpec } from './conntrack/new-entry.js';
/** A saved `list -o json` record as the CreateSpec that recreates it (what `create --from` uses). */
export { recordProblem, specFromRecord, type EntryRecord } from './conntrack/entry-record.js';
export type { AsyncDumpOptions, DumpBatch, DumpProgress } from './netlink/connection.js';
export type { Change, Lookup, NewEntry } from './conntrack/request.js';
export type { FlowTuple, Tuple } from './conntrack/tuple.js';
export { decodeFlow, type Flow, type FlowCounters } from './conntrack/flow.js';
export type { FlowNat, NatRewrite } from './conntrack/nat.js';
export type { ProtoInfo, TcpInfo } from './conntrack/protoinfo.js';
export { STATUS_FLAGS, statusFlags, type StatusFlag } from './conntrack/status.js';
export { formatAddress } from './conntrack/address.js';
export { CtError, TOLERATED, type ErrorKind } from './conntrack/errors.js';
export { NetlinkError } from './netlink/errors.js';
export { AbortError } from './netlink/abort.js';
export { scanEntry, type EntryScope } from './conntrack/scope.js';
export { splitMessages } from './netlink/message.js';
export {
  netnsPath, parseAddress, parseCidr, parseFamily, parseMark, parsePort, parseProtocol, parseTcpState, parseZone,
  type Address, type Cidr, type Family,
} from './conntrack/validate.js';

// Exit codes: the CLI's table, and which code an error means.
export { EXIT, EXIT_BY_CODE, EXIT_TABLE, exitCodeOf, type ExitCode } from './exit-codes.js';

// First-party plugins (dist/plugins): `host.run(builtinPlugin('match'), { config })`.
export { BUILTIN as BUILTIN_PLUGINS, builtinPlugin } from './builtin.js';

// Conntrack events: batches with overruns counted, or typed flow events (EventSource.flows).
export {
  EventSource, classifyEvent, parseEventKinds, type EventBatch, type EventCounters, type EventKind, type EventReadOptions,
  type EventSourceOptions, type FlowEvent,
} from './conntrack/events.js';
export type { EventFilter } from './conntrack/bpf.js';
