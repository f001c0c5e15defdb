// Turning any failure into the one line an operator reads and the exit code a script checks:
//   ctplug: <what was wrong>; <what to do>
// The exit code is the library's exitCodeOf (host/exit-codes.ts): by CtError kind, else by the
// error's string `code`. The advice is chosen by class and code; anything else is a bug in ctplug
// and says so.
import { AbortError, CtError } from '../conntrack/errors.js';
import { EXIT, exitCodeOf, type ExitCode } from '../exit-codes.js';
import { PluginError } from '../policy/errors.js';
import { PluginHostError } from '../runtime/errors.js';
import { escapeControls } from '../policy/untrusted-text.js';
import { UsageError } from './args.js';

/** A failure the CLI itself decides (e.g. nothing matched), with its exit code and advice. */
export class CliError extends Error {
  /** The exit code's name: NOTHING_MATCHED, PLUGIN_FAILED, ... */
  readonly code: string;
  constructor(readonly exit: ExitCode, message: string, readonly advice?: string) {
    super(message);
    this.name = 'CliError';
    this.code = Object.entries(EXIT).find(([, v]) => v === exit)![0];
  }
}

const KIND_ADVICE: Record<string, string> = {
  usage: 'see `ctplug COMMAND --help`',
  privilege: 'run as root (needs CAP_NET_ADMIN in the namespace)',
  environment: 'check `ip netns list` and `lsmod | grep nf_conntrack`, or run `npm install` to build ctplug',
  kernel: 'the kernel refused the request; check the values given',
  notfound: 'check the filter with `ctplug list`',
};

const CODE_ADVICE: Record<string, string> = {
  MANIFEST_INVALID: 'fix the manifest or the policy (--policy), or rebuild the plugin',
  POLICY_INVALID: 'fix the manifest or the policy (--policy), or rebuild the plugin',
  GRANT_REFUSED: 'fix the manifest or the policy (--policy), or rebuild the plugin',
  MODULE_REFUSED: 'fix the manifest or the policy (--policy), or rebuild the plugin',
  PLUGIN_TIMEOUT: 'the plugin ran too long in one call: fix it, or raise limits.timeout_ms in the policy',
  PLUGIN_TRAP: 'a bug in the plugin: report it to its author (the stack above names the function)',
  PLUGIN_FAILED: 'check its config (--config) and its log lines above',
  PLUGIN_MEMORY: 'the plugin made the host hold too much for it (log lines, queued operations): fix the plugin',
  CONFIG_INVALID: 'give a plain JSON config (--config)',
};

export interface Reported {
  exit: ExitCode;
  line: string;
}

/** One line, and no control character from any untrusted piece reaches the terminal. */
function oneLine(s: string): string {
  return escapeControls(s.replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; ').trim());
}

export function describe(e: unknown, command?: string): Reported {
  const help = command ? `see \`ctplug ${command} --help\`` : 'see `ctplug --help`';
  if (e instanceof UsageError) return { exit: EXIT.USAGE, line: `ctplug: ${oneLine(e.message)}; ${e.command ? `see \`ctplug ${e.command} --help\`` : help}` };
  if (e instanceof CliError) return { exit: e.exit, line: `ctplug: ${oneLine(e.message)}${e.advice ? `; ${e.advice}` : ''}` };
  const exit = exitCodeOf(e);
  if (e instanceof CtError) {
    // The daemon's refusals say what was refused and why (its policy's words), not just "denied".
    const what = e.op === 'daemon' ? `${command ?? e.op}: ${e.detail}`
      : e.kind === 'privilege' ? `${command ?? e.op}: permission denied (${e.code})` : `${e.op}: ${e.detail}`;
    const advice = e.hint ?? (e.kind === 'usage' ? help : KIND_ADVICE[e.kind]);
    return { exit, line: `ctplug: ${oneLine(what)}; ${advice}` };
  }
  if (e instanceof PluginHostError) return { exit, line: `ctplug: ${oneLine(e.message)}; ${e.hint ?? 'please report it with the command line (set CTPLUG_DEBUG=1 for a stack trace)'}` };
  if (e instanceof PluginError) return { exit, line: `ctplug: ${oneLine(e.message)}; ${CODE_ADVICE[e.code] ?? help}` };
  if (e instanceof AbortError) return { exit, line: `ctplug: ${oneLine(e.message)}; it was cancelled before it finished` };
  const err = e as NodeJS.ErrnoException;
  if (err && err.code === 'ENOENT' && err.path) return { exit: EXIT.USAGE, line: `ctplug: ${err.path}: no such file; check the path` };
  const msg = e instanceof Error ? e.message : String(e);
  return { exit: EXIT.KERNEL, line: `ctplug: internal error: ${oneLine(msg)}; please report it with the command line (set CTPLUG_DEBUG=1 for a stack trace)` };
}
