// `ctplug list`: the first-party list plugin, granted read access to exactly the scope the
// filters name. Output is the plugin's (conntrack -L text, extended, id, or NDJSON).
import type { Parsed } from '../args.js';
import { outputFormat, preflight, summary } from '../common.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { runBuiltinPlugin } from '../plugins.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  const output = outputFormat(p.opts.output, 'list');
  await preflight(p.opts.netns);
  const r = await runBuiltinPlugin('list', { ...f.config, output }, { operations: ['read'], scope: f.scope }, p.opts.netns);
  summary(`${r.lines} flow entries have been shown.`);
  return EXIT.OK; // an empty list is not an error (conntrack -L exits 0 too)
}
