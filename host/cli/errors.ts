// Turning any failure into the one line an operator reads and the exit code a script checks:
//   ctplug: <what was wrong>; <what to do>
// Typed errors carry their kind (CtError.kind, the runtime's PluginError subclasses); anything
// else is a bug in ctplug and says so.
import { escapeControls } from '../policy/untrusted-text.js';
import { UsageError } from './args.js';
import { EXIT, type ExitCode } from './exit-codes.js';

/** A failure the CLI itself decides (e.g. nothing matched), with its exit code and advice. */
export class CliError extends Error {
  constructor(readonly exit: ExitCode, message: string, readonly advice?: string) {
    super(message);
    this.name = 'CliError';
  }
}

const KIND_EXIT: Record<string, ExitCode> = {
  usage: EXIT.USAGE,
  privilege: EXIT.PRIVILEGE,
  environment: EXIT.ENVIRONMENT,
  kernel: EXIT.KERNEL,
  notfound: EXIT.NOTHING_MATCHED,
};

const KIND_ADVICE: Record<string, string> = {
  usage: 'see `ctplug COMMAND --help`',
  privilege: 'run as root (needs CAP_NET_ADMIN in the namespace)',
  environment: 'check `ip netns list` and `lsmod | grep nf_conntrack`, or run `npm install` to build ctplug',
  kernel: 'the kernel refused the request; check the values given',
  notfound: 'check the filter with `ctplug list`',
};

/** Runtime error classes (host/runtime/errors.ts), matched by name so this file does not import the runtime. */
const PLUGIN_REFUSED = new Set(['ManifestError', 'PolicyError', 'GrantError', 'ModuleCheckError']);
const PLUGIN_FAILED = new Set(['PluginTimeoutError', 'PluginTrapError', 'PluginFailedError', 'PluginMemoryError']);

export interface Reported {
  exit: ExitCode;
  line: string;
}

/** One line, and no control character from any untrusted piece reaches the terminal. */
function oneLine(s: string): string {
  return escapeControls(s.replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; ').trim());
}

/** CtError's message is `op: message (hint)`: give back the message and the hint separately. */
function splitHint(message: string, hint: string | undefined): string {
  if (hint && message.endsWith(` (${hint})`)) return message.slice(0, -(hint.length + 3));
  return message;
}

export function describe(e: unknown, command?: string): Reported {
  const help = command ? `see \`ctplug ${command} --help\`` : 'see `ctplug --help`';
  if (e instanceof UsageError) return { exit: EXIT.USAGE, line: `ctplug: ${oneLine(e.message)}; ${e.command ? `see \`ctplug ${e.command} --help\`` : help}` };
  if (e instanceof CliError) return { exit: e.exit, line: `ctplug: ${oneLine(e.message)}${e.advice ? `; ${e.advice}` : ''}` };
  const err = e as { name?: string; kind?: string; message?: string; hint?: string; causeName?: string; code?: string };
  if (err && err.name === 'CtError' && err.kind && KIND_EXIT[err.kind] !== undefined) {
    let what = splitHint(err.message ?? '', err.hint);
    if (err.kind === 'privilege') what = `${command ?? (err as { op?: string }).op}: permission denied (${err.code})`;
    const advice = err.hint ?? (err.kind === 'usage' ? help : KIND_ADVICE[err.kind]);
    return { exit: KIND_EXIT[err.kind], line: `ctplug: ${oneLine(what)}; ${advice}` };
  }
  if (err && err.name === 'ConfigError') return { exit: EXIT.USAGE, line: `ctplug: ${oneLine(err.message ?? '')}; give a plain JSON config (--config)` };
  if (err && typeof err.name === 'string' && PLUGIN_REFUSED.has(err.name)) {
    return { exit: EXIT.PLUGIN_REFUSED, line: `ctplug: ${oneLine(err.message ?? '')}; fix the manifest or the policy (--policy), or rebuild the plugin` };
  }
  if (err && typeof err.name === 'string' && PLUGIN_FAILED.has(err.name)) {
    const advice: Record<string, string> = {
      PluginTimeoutError: 'the plugin ran too long in one call: fix it, or raise limits.timeout_ms in the policy',
      PluginTrapError: 'a bug in the plugin: report it to its author (the stack above names the function)',
      PluginFailedError: 'check its config (--config) and its log lines above',
      PluginMemoryError: 'the plugin made the host hold too much for it (log lines, queued operations): fix the plugin',
    };
    return { exit: EXIT.PLUGIN_FAILED, line: `ctplug: ${oneLine(err.message ?? '')}; ${advice[err.name]}` };
  }
  if (err && err.name === 'PluginHostError') {
    // The worker failed for a reason outside the plugin: usually the backend (EPERM, missing netns).
    const byCause: Record<string, ExitCode> = { privilege: EXIT.PRIVILEGE, environment: EXIT.ENVIRONMENT, usage: EXIT.USAGE, kernel: EXIT.KERNEL };
    const kind = err.kind ?? causeKind(err);
    const exit = (kind ? byCause[kind] : undefined) ?? EXIT.KERNEL;
    const what = err.hint ? (err.message ?? '').replace(` (${err.hint})`, '') : err.message ?? '';
    return { exit, line: `ctplug: ${oneLine(what)}; ${err.hint ?? (kind ? KIND_ADVICE[kind] : 'see the message')}` };
  }
  if (err && (err as NodeJS.ErrnoException).code === 'ENOENT' && (err as NodeJS.ErrnoException).path) {
    const p = (err as NodeJS.ErrnoException).path;
    return { exit: EXIT.USAGE, line: `ctplug: ${p}: no such file; check the path` };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { exit: EXIT.KERNEL, line: `ctplug: internal error: ${oneLine(msg)}; please report it with the command line (set CTPLUG_DEBUG=1 for a stack trace)` };
}

function causeKind(err: { causeName?: string; message?: string }): string | undefined {
  const m = err.message ?? '';
  if (/EPERM|EACCES|CAP_NET_ADMIN/.test(m)) return 'privilege';
  if (/does not exist|ENOADDON|EPROTONOSUPPORT|not built/.test(m)) return 'environment';
  return undefined;
}
