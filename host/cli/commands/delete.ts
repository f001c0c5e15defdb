// `ctplug delete`: the first-party match plugin with action "delete", granted read+delete over
// exactly the scope the filters name. `delete -w Z` alone is the kernel-side zone delete.
// Nothing deleted: "0 flow entries have been deleted." and exit 1, as conntrack -D.
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { openConntrack, outputFormat, preflight, summary } from '../common.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { runBuiltinPlugin } from '../plugins.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  const output = outputFormat(p.opts.output, 'delete', { single: true });
  if (f.empty) {
    throw new UsageError('delete needs a filter (e.g. -w ZONE, -p PROTO, -s ADDR); to delete everything use `ctplug flush`', 'delete');
  }
  let deleted: number;
  if (f.zoneOnly && p.opts.output === undefined) {
    deleted = await deleteZone(p.opts.netns, f.kernel.zone!);
  } else {
    await preflight(p.opts.netns);
    const r = await runBuiltinPlugin('match', { ...f.config, action: 'delete', output }, { operations: ['read', 'delete'], scope: f.scope }, p.opts.netns, {
      progress: 'deleted', narrow: f.kernel.tuple,
    });
    deleted = r.stats.deleted;
    if (r.stats.failed > 0) {
      summary(`${deleted} flow entries have been deleted.`);
      const { CliError } = await import('../errors.js');
      throw new CliError(EXIT.KERNEL, `${r.stats.failed} of ${r.stats.failed + deleted} deletes failed in the kernel`, 'run again; if it persists check `ctplug stats` and dmesg');
    }
  }
  summary(`${deleted} flow entries have been deleted.`);
  return deleted > 0 ? EXIT.OK : EXIT.NOTHING_MATCHED;
}

/** The whole zone in one kernel request; counted by dumping the zone before and after. */
async function deleteZone(netns: string | undefined, zone: number): Promise<number> {
  const { RECV_BUFFER_BYTES } = await import('../../netlink/connection.js');
  const ct = await openConntrack(netns);
  try {
    const buf = new Uint8Array(RECV_BUFFER_BYTES);
    const countZone = () => {
      let n = 0;
      ct.dumpSync({ zone }, buf, (_b, c) => void (n += c), () => void (n = 0));
      return n;
    };
    const before = countZone();
    if (before === 0) return 0;
    const r = ct.deleteZoneSync(zone);
    if (r) {
      if (r.failed.length) {
        const { CliError } = await import('../errors.js');
        throw new CliError(EXIT.KERNEL, `${r.failed.length} deletes in zone ${zone} failed: ${r.failed[0].message}`, 'run again; if it persists check dmesg');
      }
      return r.ok;
    }
    return Math.max(0, before - countZone());
  } finally {
    ct.close();
  }
}
