// `ctplug delete`: the first-party match plugin with action "delete", granted read+delete over
// exactly the scope the filters name; it prints every entry it deletes, as conntrack -D does.
// That holds for `delete -w Z` too: the zone is dumped (filtered in the kernel), printed and deleted
// entry by entry in batches, so what is printed is exactly what was deleted. (Measured, 100k entries
// in one zone of a 190k table: 0.57 s, conntrack -D -w 0.64 s; a kernel-side flush of the zone after
// listing it, 0.46 s, would also delete unprinted the entries made meanwhile, and DESTROY events come
// only for entries made while someone listened, under the default nf_conntrack_events=2. The
// kernel-side zone delete, which prints nothing, is `ctplug flush -w Z`.)
// Nothing deleted: "0 flow entries have been deleted." and exit 1, as conntrack -D.
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { outputFormat, preflight, summary, utcOffset } from '../common.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { runBuiltinPlugin } from '../plugins.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  const output = outputFormat(p.opts.output, 'delete');
  if (f.empty) {
    throw new UsageError('delete needs a filter (e.g. -w ZONE, -p PROTO, -s ADDR); to delete everything use `ctplug flush`', 'delete');
  }
  await preflight(p.opts.netns);
  const r = await runBuiltinPlugin('match', { ...f.config, action: 'delete', output, utc_offset: utcOffset() }, { operations: ['read', 'delete'], scope: f.scope }, p.opts.netns, {
    progress: 'deleted', narrow: f.kernel.tuple,
  });
  const deleted = r.stats.deleted;
  if (r.stats.failed > 0) {
    summary(`${deleted} flow entries have been deleted.`);
    const { CliError } = await import('../errors.js');
    throw new CliError(EXIT.KERNEL, `${r.stats.failed} of ${r.stats.failed + deleted} deletes failed in the kernel`, 'run again; if it persists check `ctplug stats` and dmesg');
  }
  summary(`${deleted} flow entries have been deleted.`);
  return deleted > 0 ? EXIT.OK : EXIT.NOTHING_MATCHED;
}
