// Commands that talk to conntrack with no plugin: flush, count, stats (directly, or through the daemon).
import type { Parsed } from '../args.js';
import { notice, openTable } from '../common.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';

/** `ctplug flush [-w Z] [-f F] [-m M[/MASK]]`: deleted in the kernel. Its line is printed in a load file too, as conntrack -R prints it. */
export async function flush(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  const ct = await openTable(p.opts.netns);
  try {
    if (f.empty) {
      await ct.flush();
      notice('connection tracking table has been emptied.');
    } else if (f.zoneOnly) {
      const r = await ct.flush({ zone: f.kernel.zone! });
      notice(r ? `${r.ok} flow entries have been deleted from zone ${f.kernel.zone}.` : `zone ${f.kernel.zone} has been emptied.`);
    } else if (f.kernel.zone !== undefined && !ct.filtersDeleteByZone()) {
      // Before Linux 6.8 the kernel ignores CTA_ZONE in a filtered delete and would flush every
      // zone: select in the match plugin instead, granted this zone only.
      const { runBuiltinPlugin } = await import('../plugins.js');
      const r = await runBuiltinPlugin('match', { ...f.config, action: 'delete', print: false }, { operations: ['read', 'delete'], scope: f.scope }, p.opts.netns);
      notice(`${r.stats.deleted} flow entries have been deleted.`);
    } else {
      await ct.flush(f.kernel);
      const what = [f.kernel.zone !== undefined && `zone ${f.kernel.zone}`, f.kernel.family, f.kernel.mark !== undefined && `mark ${f.kernel.mark}/0x${(f.kernel.markMask ?? 0xffffffff).toString(16)}`];
      notice(`connection tracking table has been emptied (${what.filter(Boolean).join(', ')}).`);
    }
  } finally {
    ct.close();
  }
  return EXIT.OK;
}

/** `ctplug count`: the kernel's counter; with -w/-f/-m a kernel-filtered dump counted. */
export async function count(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  const ct = await openTable(p.opts.netns);
  try {
    const n = await ct.count(f.kernel);
    process.stdout.write(`${n}\n`);
  } finally {
    ct.close();
  }
  return EXIT.OK;
}

/** `ctplug stats`: per-CPU counters, printed like `conntrack -S`. */
export async function stats(p: Parsed): Promise<ExitCode> {
  const ct = await openTable(p.opts.netns);
  try {
    const lines = (await ct.stats()).map(({ cpu, ...rest }) => `cpu=${String(cpu).padEnd(4)}\t${Object.entries(rest).map(([k, v]) => `${k}=${v} `).join('')}\n`);
    process.stdout.write(lines.join(''));
  } finally {
    ct.close();
  }
  return EXIT.OK;
}
