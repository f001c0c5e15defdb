// `ctplug delete`: the first-party match plugin with action "delete", granted read+delete over
// exactly the scope the filters name. `delete -w Z` alone is the kernel-side zone delete.
// Nothing deleted: "0 flow entries have been deleted." and exit 1, as conntrack -D.
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { openTable, outputFormat, preflight, summary } from '../common.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { runBuiltinPlugin } from '../plugins.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  const output = outputFormat(p.opts.output, 'delete', { single: true });
  if (f.empty) {
    throw new UsageError('delete needs a filter (e.g. -w ZONE, -p PROTO, -s ADDR); to delete everything use `ctplug flush`', 'delete');
  }
  let deleted = f.zoneOnly && p.opts.output === undefined ? await deleteZone(p.opts.netns, f.kernel.zone!) : undefined;
  if (deleted === undefined) {
    await preflight(p.opts.netns);
    const r = await runBuiltinPlugin('match', { ...f.config, action: 'delete', output }, { operations: ['read', 'delete'], scope: f.scope }, p.opts.netns, {
      progress: 'deleted',
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

/**
 * The whole zone in one kernel request; counted by counting the zone before and after.
 * undefined: a daemon client whose grant has delete but not flush deletes entry by entry instead.
 */
async function deleteZone(netns: string | undefined, zone: number): Promise<number | undefined> {
  const ct = await openTable(netns);
  try {
    if (!ct.allows('flush')) return undefined;
    const before = await ct.count({ zone });
    if (before === 0) return 0;
    const r = await ct.flush({ zone });
    if (r) {
      if (r.failed.length) {
        const { CliError } = await import('../errors.js');
        throw new CliError(EXIT.KERNEL, `${r.failed.length} deletes in zone ${zone} failed: ${r.failed[0].message}`, 'run again; if it persists check dmesg');
      }
      return r.ok;
    }
    return Math.max(0, before - await ct.count({ zone }));
  } finally {
    ct.close();
  }
}
