// Running plugins from the CLI. The built-in commands (list, delete, get's rendering) are the
// first-party plugins from dist/plugins, run through the same runtime as any third-party plugin.
// Their grant is derived from the command line: the manifest's capabilities narrowed to the
// scope the flags name (`-w 5` grants zone 5 only), and the policy grants exactly that.
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN, builtinPaths } from '../builtin.js';
import { CtError } from '../conntrack/errors.js';
import type { Operation, Scope, ZoneRange } from '../policy/capabilities.js';
import { LIMIT_CEILING, type Limits } from '../policy/limits.js';
import { parseManifest } from '../policy/manifest.js';
import type { PolicyDocument } from '../policy/policy.js';
import type { LoadedPlugin, PluginLogLine, PluginSource, RunResult } from '../runtime/plugin.js';
import type { TupleMatch } from '../conntrack/kernel-filter.js';
import type { BackendSpec, RunStats } from '../runtime/protocol.js';
import type { OpFailure } from '../scoped/gate.js';
import { daemonSocket } from './connect.js';
import { Progress } from './progress.js';

function intersectZones(a: ZoneRange[] | 'any', b: ZoneRange[] | 'any' | undefined): ZoneRange[] | 'any' {
  if (b === undefined || b === 'any') return a;
  if (a === 'any') return b;
  const out: ZoneRange[] = [];
  for (const x of a) for (const y of b) {
    const from = Math.max(x.from, y.from), to = Math.min(x.to, y.to);
    if (from <= to) out.push({ from, to });
  }
  return out;
}

function intersectNames<T extends string>(a: T[] | 'any', b: T[] | 'any' | undefined): T[] | 'any' {
  if (b === undefined || b === 'any') return a;
  if (a === 'any') return b;
  return a.filter((x) => b.includes(x));
}

/** The manifest's scope narrowed to the flags' scope. Empty means the flags ask for what the plugin cannot do. */
export function narrowScope(base: Scope, flags: Partial<Scope>): Scope {
  const zones = intersectZones(base.zones, flags.zones);
  const families = intersectNames(base.families, flags.families);
  const protocols = intersectNames(base.protocols, flags.protocols);
  for (const [what, v] of [['zones', zones], ['families', families], ['protocols', protocols]] as const) {
    if (v !== 'any' && v.length === 0) throw new CtError('plugin', 'EINVAL', 'usage', `the filters select ${what} this plugin does not handle`);
  }
  // The mark bits an update may change: the command's own (-m), within the manifest's.
  const markBits = flags.markBits === undefined ? base.markBits : ((base.markBits ?? 0) & (flags.markBits ?? 0)) >>> 0;
  return { zones, families, protocols, mark: flags.mark ?? base.mark, markBits };
}

export interface CliGrant {
  operations: Operation[];
  scope: Partial<Scope>;
  /** Policy limits beyond the defaults (e.g. output_bytes for a long-running event listener). */
  limits?: Partial<Limits>;
}

export interface PluginRun {
  plugin: string;
  stats: RunStats;
  /** The first operations the kernel refused or failed. */
  failures: OpFailure[];
  /** Newline-terminated records the plugin emitted (entries shown, for list/match). */
  lines: number;
  logs: PluginLogLine[];
}

export interface RunIo {
  /** Where output goes; default stdout. Call `release` once the bytes are written (RunOptions.onOutput). */
  write?: (bytes: Uint8Array, release: () => void) => void | Promise<unknown>;
  /** Log lines the plugin wrote; default: warnings and errors to stderr, tagged with the plugin name. */
  onLog?: (line: PluginLogLine) => void;
  /** Show deletion progress on stderr (only when stderr is a terminal). */
  progress?: string;
  backend?: BackendSpec;
  /**
   * Exact original-tuple fields the plugin's own filter requires (FlagFilter.kernel.tuple): the
   * kernel narrows the dumps to them where it can (kernel-filter.ts). The plugin still decides.
   */
  narrow?: TupleMatch;
  /** Ends a subscribed (event) run: the plugin finishes after the batch in progress. */
  signal?: AbortSignal;
  /** Run statistics as they change (events, overruns, resyncs ...). */
  onStats?: (stats: RunStats) => void;
}

/** The XML document's own lines around the <flow> lines (conntrack -o xml); they are no entries. */
const XML_WRAPPER = ['<?xml ', '<conntrack>', '</conntrack>'].map((t) => Buffer.from(t));
const startsWith = (b: Uint8Array, at: number, t: Uint8Array) => t.every((c, i) => b[at + i] === c);

/** Entries (or events) in a chunk of output: its lines, but for the XML document's wrapper lines. */
export function countLines(b: Uint8Array): number {
  let n = 0;
  for (let start = 0, i = b.indexOf(10); i >= 0; start = i + 1, i = b.indexOf(10, start)) {
    if (b[start] !== 60 /* < */ || !XML_WRAPPER.some((t) => startsWith(b, start, t))) n++;
  }
  return n;
}

/**
 * Plugin output to stdout. The chunk goes back to the worker for reuse once written; a full pipe
 * pauses the plugin (between batches) until it drains, so memory stays bounded either way.
 */
export function stdoutWrite(b: Uint8Array, release: () => void): Promise<unknown> | undefined {
  return process.stdout.write(b, release) ? undefined : once(process.stdout, 'drain');
}

export function defaultLog(line: PluginLogLine): void {
  if (line.level === 'error' || line.level === 'warn') process.stderr.write(`ctplug: plugin ${line.plugin}: ${line.level}: ${line.text}\n`);
}

/** One run of a loaded plugin (with `config` for this run, or the one it was loaded with). */
async function runOnce(plugin: LoadedPlugin, config: unknown, io: RunIo): Promise<PluginRun> {
  let lines = 0;
  const write = io.write ?? stdoutWrite;
  const progress = io.progress ? new Progress(io.progress) : undefined;
  let result: RunResult;
  try {
    result = await plugin.run({
      config,
      onOutput: (b, release) => {
        lines += countLines(b);
        return write(b, release);
      },
      onLog: io.onLog ?? defaultLog,
      onProgress: progress || io.onStats ? (s) => { progress?.update((io.progress === 'updated' ? s.updated : s.deleted) + s.gone); io.onStats?.(s); } : undefined,
      signal: io.signal,
    });
  } finally {
    progress?.done();
  }
  return { plugin: result.plugin, stats: result.stats, failures: result.failures, lines, logs: result.logs };
}

/** `inline`: a first-party module (dist/plugins, named by the user) runs on this thread (runtime/inline.ts). */
async function runLoaded(src: PluginSource, policy: PolicyDocument | string, config: unknown, netns: string | undefined, io: RunIo, inline: boolean): Promise<PluginRun> {
  const load = inline ? (await import('../runtime/inline.js')).loadInline : (await import('../runtime/plugin.js')).loadPlugin;
  const plugin = await load(src, { policy, netns, config, backend: io.backend, connect: daemonSocket() });
  try {
    return await runOnce(plugin, undefined, io);
  } finally {
    await plugin.close();
  }
}

export interface BuiltinPlugin {
  /** Runs it with `config` (each run a fresh instance on the same worker); close when done. */
  run(config: Record<string, unknown>, io?: Omit<RunIo, 'backend'>): Promise<PluginRun>;
  close(): Promise<void>;
}

/**
 * A first-party plugin (dist/plugins/NAME) loaded once for several runs, granted
 * `grant.operations` over the manifest's scope narrowed to `grant.scope`, against the kernel in `netns`.
 */
export async function openBuiltinPlugin(name: string, grant: CliGrant, netns: string | undefined, backend?: BackendSpec): Promise<BuiltinPlugin> {
  const { manifestPath, wasmPath } = builtinPaths(name);
  const manifest = parseManifest(JSON.parse(readFileSync(manifestPath, 'utf8')), manifestPath);
  const missing = grant.operations.filter((op) => !manifest.capabilities.operations.includes(op));
  if (missing.length) throw new Error(`first-party plugin ${name} does not declare ${missing.join(', ')}`);
  const scope = narrowScope(manifest.capabilities.scope, grant.scope);
  const capabilities = { operations: grant.operations, scope };
  // The plugin asks for exactly what the command line allows, and the policy grants exactly that.
  const narrowed = { ...manifest, capabilities };
  // Output goes to the operator's stdout with back-pressure (or is parsed as it comes), never held
  // whole: the 64 MiB per-run default (there for embedders that collect) would cut `list -o json`
  // of ~200k entries short, so first-party runs get the ceiling.
  const limits = { output_bytes: LIMIT_CEILING.output_bytes, ...grant.limits };
  const policy = { plugins: { [manifest.name]: { capabilities, limits } } };
  // First-party modules (pinned by sha256 in the package's manifests) run on this thread: no
  // worker to boot (runtime/inline.ts says what that changes).
  const { loadInline } = await import('../runtime/inline.js');
  const plugin = await loadInline({ manifest: narrowed, wasm: readFileSync(wasmPath) }, { policy, netns, backend, connect: daemonSocket() });
  return {
    async run(config, io = {}) {
      const r = await runOnce(plugin, config, io);
      if (r.stats.refused > 0) {
        // The command line and the grant are derived from the same flags; a refusal here is a ctplug bug.
        const { CliError } = await import('./errors.js');
        const { EXIT } = await import('../exit-codes.js');
        throw new CliError(EXIT.PLUGIN_FAILED, `first-party plugin ${name} made ${r.stats.refused} request(s) the host refused`, 'please report this with the command line');
      }
      return r;
    },
    close: () => plugin.close(),
  };
}

/** openBuiltinPlugin, one run with `config`, close. */
export async function runBuiltinPlugin(name: string, config: Record<string, unknown>, grant: CliGrant, netns: string | undefined, io: RunIo = {}): Promise<PluginRun> {
  // Kernel-side tuple narrowing is a direct-mode backend option; through the daemon the daemon plans the dumps.
  const narrow = io.narrow && daemonSocket() === undefined ? { kind: 'kernel' as const, netns, narrow: io.narrow } : undefined;
  const plugin = await openBuiltinPlugin(name, grant, netns, io.backend ?? narrow);
  try {
    return await plugin.run(config, io);
  } finally {
    await plugin.close();
  }
}

/**
 * `--plugin FILE`: a manifest (.json), a module (.wasm, with NAME.manifest.json or manifest.json
 * beside it), or a first-party name. Third-party plugins need `--policy`.
 */
export function resolvePluginFile(file: string): { manifestPath: string; builtin: boolean } {
  if ((BUILTIN as readonly string[]).includes(file) && !existsSync(file)) return { manifestPath: builtinPaths(file).manifestPath, builtin: true };
  if (file.endsWith('.json')) return { manifestPath: file, builtin: false };
  const base = file.endsWith('.wasm') ? file.slice(0, -5) : file;
  const candidates = [`${base}.manifest.json`, join(base, '..', 'manifest.json')];
  if (!file.endsWith('.wasm')) candidates.unshift(join(file, 'manifest.json'));
  const wasm = file.endsWith('.wasm') ? file : `${file}.wasm`;
  if (file.endsWith('.wasm') && !existsSync(file)) {
    throw new CtError('plugin', 'ENOENT', 'usage', `${file}: no such file`, { hint: 'give the path of a built plugin (.wasm) or its manifest' });
  }
  for (const c of candidates) if (existsSync(c)) return { manifestPath: c, builtin: false };
  throw new CtError('plugin', 'ENOENT', 'usage', `no manifest for ${existsSync(wasm) ? wasm : file} (looked for ${candidates.join(', ')})`, {
    hint: 'a plugin is a .wasm plus its manifest; build it with `npm run build` in the plugin folder',
  });
}

export async function runPluginFile(file: string, config: unknown, policyPath: string | undefined, netns: string | undefined, io: RunIo = {}): Promise<PluginRun> {
  const { manifestPath, builtin } = resolvePluginFile(file);
  let policy: PolicyDocument | string;
  if (policyPath !== undefined) {
    if (!existsSync(policyPath)) throw new CtError('policy', 'ENOENT', 'usage', `${policyPath}: no such file`, { hint: 'give the path of the operator policy (JSON)' });
    policy = policyPath;
  } else if (builtin) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    // First-party: granted what its manifest asks, output streamed to stdout (see openBuiltinPlugin).
    policy = { plugins: { [manifest.name]: { capabilities: manifest.capabilities, limits: { output_bytes: LIMIT_CEILING.output_bytes } } } };
  } else {
    throw new CtError('plugin', 'EINVAL', 'usage', `${file} is not a first-party plugin, so it needs an operator policy`, {
      hint: 'pass --policy FILE granting it what its manifest asks (see README "Security model")',
    });
  }
  return runLoaded(manifestPath, policy, config, netns, io, builtin);
}
