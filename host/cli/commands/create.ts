// `ctplug create`: one entry, like `conntrack -I`, through Conntrack.createSync (batched API).
import type { Parsed } from '../args.js';
import { openConntrack, summary } from '../common.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { entryFromFlags } from '../tuple.js';

const ADVICE: Record<string, string> = {
  EEXIST: 'an entry with this tuple and zone exists; delete it first (`ctplug delete ...`) or choose another tuple',
  EINVAL: 'the kernel rejected a value; check the protocol, ports and state',
  ENOMEM: 'the conntrack table is full (nf_conntrack_max)',
};

export async function run(p: Parsed): Promise<ExitCode> {
  const entry = await entryFromFlags(p.opts);
  const ct = await openConntrack(p.opts.netns);
  try {
    const r = ct.createSync([entry]);
    if (r.failed.length) {
      const f = r.failed[0];
      const kind = f.errno === 'EPERM' || f.errno === 'EACCES' ? EXIT.PRIVILEGE : EXIT.KERNEL;
      throw new CliError(kind, `create: the kernel refused the entry: ${f.message}`, ADVICE[f.errno] ?? (kind === EXIT.PRIVILEGE ? 'run as root (needs CAP_NET_ADMIN)' : 'check the values given'));
    }
  } finally {
    ct.close();
  }
  summary('1 flow entries have been created.');
  return EXIT.OK;
}
