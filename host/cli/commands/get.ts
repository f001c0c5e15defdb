// `ctplug get`: one entry by tuple (+ zone), like `conntrack -G`. The kernel answers with the
// entry; the list plugin renders it (over an in-memory table holding just that entry), so the
// output is the same text/extended/id/json as `ctplug list`. No such entry: exit 1.
import type { Parsed } from '../args.js';
import { openTable, outputFormat, summary } from '../common.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { runBuiltinPlugin } from '../plugins.js';
import { lookupFromFlags } from '../tuple.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const output = outputFormat(p.opts.output, 'get');
  const lookup = lookupFromFlags(p.opts);
  const ct = await openTable(p.opts.netns);
  let entry: Uint8Array | null;
  try {
    entry = await ct.get(lookup);
  } finally {
    ct.close();
  }
  if (!entry) {
    summary('0 flow entries have been shown.');
    throw new CliError(EXIT.NOTHING_MATCHED, `no such entry (${lookup.direction} tuple${lookup.zone === undefined ? '' : `, zone ${lookup.zone}`})`, 'check the tuple and zone with `ctplug list`');
  }
  await runBuiltinPlugin('list', { output }, { operations: ['read'], scope: {} }, undefined, { backend: { kind: 'fake', table: entry } });
  summary('1 flow entries have been shown.');
  return EXIT.OK;
}
