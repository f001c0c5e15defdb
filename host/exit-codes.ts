// The exit codes of `ctplug`, in one table, and exitCodeOf: which one an error means. Every command
// exits through these names, `ctplug --help` and the README print this same table, and embedders
// map their failures the same way. A caller that tolerates "nothing matched" (1, as with conntrack)
// never tolerates a real failure by accident: each failure has its own code.
import { CtError, type ErrorKind } from './conntrack/errors.js';
import { NetlinkError } from './netlink/errors.js';

export const EXIT = {
  OK: 0,
  /** delete/get matched nothing (conntrack: "0 flow entries have been deleted."). An empty list is OK. */
  NOTHING_MATCHED: 1,
  USAGE: 2,
  PRIVILEGE: 3,
  ENVIRONMENT: 4,
  KERNEL: 5,
  PLUGIN_REFUSED: 6,
  PLUGIN_FAILED: 7,
  /** Cancelled by an AbortSignal (128 + SIGINT, as a shell reports an interrupted command). */
  ABORTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_TABLE: readonly { code: ExitCode; name: string; meaning: string }[] = [
  { code: EXIT.OK, name: 'ok', meaning: 'done (an empty list is ok)' },
  { code: EXIT.NOTHING_MATCHED, name: 'nothing matched', meaning: 'delete, update or get matched no entry (as conntrack)' },
  { code: EXIT.USAGE, name: 'usage', meaning: 'bad command line: unknown flag, missing or invalid value' },
  { code: EXIT.PRIVILEGE, name: 'privilege', meaning: 'not allowed: needs CAP_NET_ADMIN (run as root)' },
  { code: EXIT.ENVIRONMENT, name: 'environment', meaning: 'netns missing, nf_conntrack not loaded, or ctplug not built' },
  { code: EXIT.KERNEL, name: 'kernel', meaning: 'the kernel refused or failed an operation' },
  { code: EXIT.PLUGIN_REFUSED, name: 'plugin refused', meaning: 'plugin refused at load: policy, ABI, sha256, imports, manifest' },
  { code: EXIT.PLUGIN_FAILED, name: 'plugin failed', meaning: 'plugin failed while running: trap, timeout, error exit, heap bound' },
  { code: EXIT.ABORTED, name: 'aborted', meaning: 'cancelled (AbortSignal) before it finished' },
];

export function exitTableText(indent = '  '): string {
  return EXIT_TABLE.map((r) => `${indent}${String(r.code).padEnd(4)}${r.name.padEnd(17)}${r.meaning}`).join('\n');
}

const BY_KIND: Record<ErrorKind, ExitCode> = {
  usage: EXIT.USAGE,
  privilege: EXIT.PRIVILEGE,
  environment: EXIT.ENVIRONMENT,
  kernel: EXIT.KERNEL,
  notfound: EXIT.NOTHING_MATCHED,
};

/** The `code` of every other ctplug error class, and its exit code. */
export const EXIT_BY_CODE: Readonly<Record<string, ExitCode>> = {
  USAGE: EXIT.USAGE, // the CLI's command-line errors
  CONFIG_INVALID: EXIT.USAGE, // a plugin config that is not JSON
  PLUGIN_BUSY: EXIT.USAGE, // run() while a run is in progress
  PLUGIN_CLOSED: EXIT.USAGE, // run() after close()
  MANIFEST_INVALID: EXIT.PLUGIN_REFUSED,
  POLICY_INVALID: EXIT.PLUGIN_REFUSED,
  GRANT_REFUSED: EXIT.PLUGIN_REFUSED,
  MODULE_REFUSED: EXIT.PLUGIN_REFUSED,
  PLUGIN_TIMEOUT: EXIT.PLUGIN_FAILED,
  PLUGIN_TRAP: EXIT.PLUGIN_FAILED,
  PLUGIN_FAILED: EXIT.PLUGIN_FAILED,
  PLUGIN_MEMORY: EXIT.PLUGIN_FAILED, // the worker reached its heap bound
  PLUGIN_HOST_FAILED: EXIT.PLUGIN_FAILED,
  ABORTED: EXIT.ABORTED,
};

/**
 * The exit code an error means: CtError by its kind (its code is the errno name), every other
 * ctplug error by its string `code`. Anything else is a bug in ctplug, reported as KERNEL (5).
 */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CtError) return BY_KIND[err.kind];
  if (err instanceof NetlinkError) return err.code === 'ENOADDON' ? EXIT.ENVIRONMENT : EXIT.KERNEL;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && Object.hasOwn(EXIT_BY_CODE, code) ? EXIT_BY_CODE[code] : EXIT.KERNEL;
}
