// `ctplug events`: conntrack events as they happen, like `conntrack -E`, through the first-party
// events plugin, granted read+events over exactly the scope the filters name. Ends on Ctrl-C or
// after --limit events, with conntrack's summary line.
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { outputFormat, preflight, summary } from '../common.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { runBuiltinPlugin } from '../plugins.js';

const KINDS = ['NEW', 'UPDATE', 'DESTROY'];

export async function run(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  const output = outputFormat(p.opts.output, 'events');
  const config: Record<string, unknown> = { ...f.config, output };
  if (p.opts.eventMask !== undefined) {
    const kinds = p.opts.eventMask.split(',').map((k) => k.trim().toUpperCase()).filter(Boolean);
    const bad = kinds.find((k) => !KINDS.includes(k) && k !== 'ALL');
    if (bad || !kinds.length) throw new UsageError(`-e ${JSON.stringify(p.opts.eventMask)}: use NEW, UPDATE, DESTROY or ALL, comma separated`, 'events');
    if (!kinds.includes('ALL')) config.kinds = kinds.map((k) => k.toLowerCase());
  }
  if (p.opts.limit !== undefined) {
    if (!/^[1-9]\d{0,8}$/.test(p.opts.limit)) throw new UsageError(`--limit ${JSON.stringify(p.opts.limit)}: use a count from 1`, 'events');
    config.limit = Number(p.opts.limit);
  }
  await preflight(p.opts.netns);
  let shown = 0;
  const stop = () => {
    summary(`${shown} flow events have been shown.`);
    process.exit(EXIT.OK);
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  const r = await runBuiltinPlugin('events', config, { operations: ['read', 'events'], scope: f.scope }, p.opts.netns, {
    write: (b) => {
      for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) shown++;
      process.stdout.write(b);
    },
  });
  process.off('SIGINT', stop).off('SIGTERM', stop);
  summary(`${r.lines} flow events have been shown.`);
  return EXIT.OK;
}
