// The exit codes of `ctplug`, in one table. Every command exits through these names, and
// `ctplug --help` and the README print this same table. A caller that tolerates "nothing matched"
// (1, as with conntrack) never tolerates a real failure by accident: each failure has its own code.

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
];

export function exitTableText(indent = '  '): string {
  return EXIT_TABLE.map((r) => `${indent}${String(r.code).padEnd(3)}${r.name.padEnd(17)}${r.meaning}`).join('\n');
}
