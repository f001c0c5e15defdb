// `ctplug update`: set the mark and/or timeout of matching entries, like `conntrack -U`.
// Selection is the match plugin's (sandboxed, granted read access to the filters' scope): it lists
// the matching entries. The host then takes those entries from a kernel-filtered dump (the bytes
// the kernel sent, never the plugin's) and updates them, many per request. Entries are matched by
// id and original tuple (entry-key.ts), not by id alone.
// -m M[/MASK] is the new mark (only the MASK bits change), -t the new timeout, -u BITS status bits
// to set (ASSURED, SEEN_REPLY, FIXED_TIMEOUT: the kernel never clears them), --label-add/--label-del
// connection labels. As with conntrack -U, -m and -u are new values here, not filters, and the
// updated entries are printed as they are afterwards (-o text|extended|id|json), rendered by the
// match plugin from a fresh dump of exactly the updated ids. Nothing matched: exit 1.
import { LABEL_BYTES, parseLabels } from '../../conntrack/labels.js';
import { SETTABLE_STATUS, type Change } from '../../conntrack/request.js';
import { scanEntry } from '../../conntrack/scope.js';
import { parseMark, parseU32 } from '../../conntrack/validate.js';
import { splitMessages } from '../../netlink/message.js';
import { UsageError, type Parsed } from '../args.js';
import { openConntrack, outputFormat, preflight, summary } from '../common.js';
import { entryKey, jsonKey } from '../entry-key.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { filterFromFlags, parseStatus, type FlagFilter } from '../filter.js';
import { runBuiltinPlugin } from '../plugins.js';
import { Progress } from '../progress.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const { mark: newMark, timeout, status, labelAdd, labelDel, output: outputFlag, ...filterOpts } = p.opts;
  const output = outputFormat(outputFlag, 'update');
  if (output.includes(',')) throw new UsageError('update prints with one format: -o text, extended, id or json', 'update');
  if (newMark === undefined && timeout === undefined && status === undefined && labelAdd === undefined && labelDel === undefined) {
    throw new UsageError('update needs the new value: -m/--mark M[/MASK], -t/--timeout SECONDS, -u/--status BITS and/or --label-add/--label-del LABELS', 'update');
  }
  const change: Change = {};
  if (newMark !== undefined) {
    const m = parseMark(newMark);
    change.mark = (m.mark & m.mask) >>> 0;
    change.markMask = m.mask;
  }
  if (timeout !== undefined) change.timeout = parseU32(timeout, 'timeout');
  if (status !== undefined) {
    const bits = parseStatus(status, false).bits;
    if (bits & ~SETTABLE_STATUS) {
      throw new UsageError(`-u ${status}: an update can only set SEEN_REPLY, ASSURED or FIXED_TIMEOUT (the kernel refuses or ignores the others, and never clears a bit)`, 'update');
    }
    change.status = bits;
  }
  if (labelAdd !== undefined || labelDel !== undefined) {
    const add = labelAdd === undefined ? new Uint8Array(LABEL_BYTES) : parseLabels(labelAdd, 'label-add');
    const del = labelDel === undefined ? new Uint8Array(LABEL_BYTES) : parseLabels(labelDel, 'label-del');
    if (add.some((b, i) => b & del[i])) throw new UsageError('a label is both added and removed', 'update');
    change.labels = add;
    change.labelsMask = add.map((b, i) => b | del[i]);
  }
  const f = filterFromFlags(filterOpts);
  await preflight(p.opts.netns);

  // 1. The plugin decides which entries match. With -w alone the kernel's zone filter is the whole
  // selection (as for `delete -w Z`): every entry of the zone dump is updated.
  const selected = new Set<string>();
  const selectedIds = new Set<number>(); // a cheap first test before the entry's key is built
  const wholeDump = f.zoneOnly;
  if (!wholeDump) {
    const chunks: Uint8Array[] = [];
    await runBuiltinPlugin('match', { ...f.config, action: 'list', output: 'json' }, { operations: ['read'], scope: f.scope }, p.opts.netns, {
      write: (b) => void chunks.push(b),
    });
    for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
      if (!line) continue;
      const j = JSON.parse(line);
      selected.add(jsonKey(j));
      selectedIds.add(j.id);
    }
  }
  if (!wholeDump && selected.size === 0) {
    summary('0 flow entries have been updated.');
    return EXIT.NOTHING_MATCHED;
  }

  // 2. The host takes those entries from the kernel and updates them in batches.
  const { RECV_BUFFER_BYTES } = await import('../../netlink/connection.js');
  const ct = await openConntrack(p.opts.netns);
  const progress = new Progress('updated', wholeDump ? undefined : selected.size);
  let updated = 0;
  const done: number[] = [];
  try {
    const held: { entry: Uint8Array; id: number }[] = [];
    ct.dumpSync(f.kernel, new Uint8Array(RECV_BUFFER_BYTES), (batch) => {
      for (const m of splitMessages(batch)) {
        const s = scanEntry(m);
        if (s?.id !== undefined && (wholeDump ? s.zone === f.kernel.zone : selectedIds.has(s.id) && selected.has(entryKey(s.id, s.zone, s.origTuple)))) held.push({ entry: m.slice(), id: s.id });
      }
    }, () => void (held.length = 0));
    const r = ct.updateSync(held.map((h) => ({ entry: h.entry, ...change })), (n) => progress.update(n));
    updated = r.ok;
    const failed = new Set(r.failed.map((x) => x.index));
    held.forEach((h, i) => { if (!failed.has(i)) done.push(h.id); });
    if (r.failed.length) {
      progress.done();
      await printUpdated(done, f, output, p.opts.netns);
      summary(`${updated} flow entries have been updated.`);
      const first = r.failed[0];
      const hint = first.errno === 'ENOSPC' && change.labels
        ? 'these entries have no room for labels: the kernel adds it only while a connlabel rule exists in the netns (iptables -m connlabel, nft ct label) when an entry is created'
        : first.errno === 'EBUSY' && change.status !== undefined
          ? 'the entry status changed meanwhile (the kernel takes the whole status word); run again'
          : 'check the values given; run again if entries were changing';
      throw new CliError(EXIT.KERNEL, `${r.failed.length} updates failed in the kernel: ${first.message}`, hint);
    }
  } finally {
    progress.done();
    ct.close();
  }
  await printUpdated(done, f, output, p.opts.netns);
  summary(`${updated} flow entries have been updated.`);
  return updated > 0 ? EXIT.OK : EXIT.NOTHING_MATCHED;
}

/** Prints the updated entries as the kernel now has them (an entry gone meanwhile is not printed). */
async function printUpdated(ids: number[], f: FlagFilter, output: string, netns: string | undefined): Promise<void> {
  if (ids.length === 0) return;
  const zone = f.config.zone;
  const config = { action: 'list', output, id: ids, ...(zone === undefined ? {} : { zone }) };
  await runBuiltinPlugin('match', config, { operations: ['read'], scope: f.scope }, netns);
}
