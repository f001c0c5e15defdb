// `ctplug list`: the first-party list plugin, granted read access to exactly the scope the
// filters name. Output is the plugin's (conntrack -L text, extended, id, labels, or NDJSON).
// As with conntrack, -o labels or a -l filter prints labels=NAMES (names from connlabel.conf).
import { connlabelNames } from '../../conntrack/labels.js';
import type { Parsed } from '../args.js';
import { outputFormat, preflight, summary } from '../common.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { runBuiltinPlugin } from '../plugins.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  let output = outputFormat(p.opts.output, 'list');
  if (p.opts.label !== undefined && output !== 'json' && !output.split(',').includes('labels')) output += ',labels';
  const config: Record<string, unknown> = { ...f.config, output };
  if (output.split(',').includes('labels')) {
    const names: Record<number, string> = {};
    for (const [name, bit] of connlabelNames()) names[bit] ??= name;
    if (Object.keys(names).length) config.label_names = names;
  }
  await preflight(p.opts.netns);
  const r = await runBuiltinPlugin('list', config, { operations: ['read'], scope: f.scope }, p.opts.netns, { narrow: f.kernel.tuple });
  summary(`${r.lines} flow entries have been shown.`);
  return EXIT.OK; // an empty list is not an error (conntrack -L exits 0 too)
}
