// `ctplug get`: one entry by tuple (+ zone), like `conntrack -G`. The kernel answers with the
// entry; the list plugin renders it (over an in-memory table holding just that entry), so the
// output is the same text/extended/id/json as `ctplug list`. As conntrack does, the plugin also
// checks the entry against the flags: a kernel that keeps a protocol without its tracker (DCCP on
// Linux >= 6.16) answers a lookup with ports by the entry without them, which is then not shown
// ("0 flow entries have been shown.", exit 1). No such entry: its error, exit 1.
import type { Parsed } from '../args.js';
import { openTable, outputFormat, summary, utcOffset } from '../common.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';
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
    throw new CliError(EXIT.NOTHING_MATCHED, `no such entry (${lookup.direction} tuple${lookup.zone === undefined ? '' : `, zone ${lookup.zone}`})`, 'check the tuple and zone with `ctplug list`');
  }
  const { config } = filterFromFlags(p.opts);
  // the ICMP filter keys are the original tuple's; a lookup by the reply tuple gave the reply's
  if (lookup.direction === 'reply') for (const k of ['icmp_type', 'icmp_code', 'icmp_id']) delete config[k];
  // conntrack -G -o xml writes the document's header and no footer
  const r = await runBuiltinPlugin('list', { ...config, output, utc_offset: utcOffset(), xml_footer: false }, { operations: ['read'], scope: {} }, undefined, { backend: { kind: 'held', table: entry } });
  summary(`${r.lines} flow entries have been shown.`);
  return r.lines ? EXIT.OK : EXIT.NOTHING_MATCHED;
}
