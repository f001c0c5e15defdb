// `ctplug list`: the first-party list plugin, granted read access to exactly the scope the
// filters name. Output is the plugin's (conntrack -L text, extended, id, labels, ktimestamp, xml,
// save, or NDJSON). As with conntrack, -o labels or a -l filter prints labels=NAMES (names from
// connlabel.conf). The dying and unconfirmed tables and -z (counters zeroed as they are listed)
// are dumps the plugin ABI has no request for: the host makes them (conntrack/tables.ts) and the
// list plugin prints what they returned, filtered as any listing (held-list.ts).
import { UsageError, type Parsed } from '../args.js';
import { labelOutput, outputFormat, preflight, summary, utcOffset } from '../common.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { listHeld } from '../held-list.js';
import { runBuiltinPlugin } from '../plugins.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  const config: Record<string, unknown> = { ...f.config, ...labelOutput(outputFormat(p.opts.output, 'list'), p.opts.label !== undefined), utc_offset: utcOffset() };
  const held = p.table === 'dying' || p.table === 'unconfirmed' ? p.table : p.opts.zero ? 'zero' : undefined;
  if (held === 'zero' && Object.keys(f.config).some((k) => k !== 'family')) {
    throw new UsageError('-z zeroes the counters of every entry it lists: it takes no filter but -f (conntrack: "Can\'t use -z with filtering parameters")', 'list');
  }
  await preflight(p.opts.netns);
  const r = held ? await listHeld(held, p.opts.netns, f.kernel.family, config) : await runBuiltinPlugin('list', config, { operations: ['read'], scope: f.scope }, p.opts.netns, { narrow: f.kernel.tuple });
  summary(`${r.lines} flow entries have been shown.`);
  return EXIT.OK; // an empty list is not an error (conntrack -L exits 0 too)
}
