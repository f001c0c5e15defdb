// `ctplug update`: set the mark and/or timeout of matching entries, like `conntrack -U`.
// Selection is the match plugin's (sandboxed, granted read access to the filters' scope): it lists
// the matching entries. The host then takes those entries from a kernel-filtered dump (the bytes
// the kernel sent, never the plugin's) and updates them, many per request. Entries are matched by
// id and original tuple (entry-key.ts), not by id alone.
// -m M[/MASK] is the new mark (only the MASK bits change), -t the new timeout, -u BITS status bits
// to set (ASSURED, SEEN_REPLY, FIXED_TIMEOUT: the kernel never clears them), --label-add/--label-del
// connection labels. As with conntrack -U, -m and -u are new values here, not filters, and the
// updated entries are printed as they are afterwards (-o text|extended|id|json), rendered by the
// match plugin (the same worker as the selection) from a fresh dump of the updated entries.
// Nothing matched: exit 1.
import { LABEL_BYTES, parseLabels } from '../../conntrack/labels.js';
import { SETTABLE_STATUS, type Change } from '../../conntrack/request.js';
import { scanEntry } from '../../conntrack/scope.js';
import { parseMark, parseStatus, parseU32 } from '../../conntrack/validate.js';
import { splitMessages } from '../../netlink/message.js';
import { UsageError, type Parsed } from '../args.js';
import { labelOutput, openConntrack, outputFormat, preflight, summary } from '../common.js';
import { entryKey, jsonKey } from '../entry-key.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags, type FlagFilter } from '../filter.js';
import { openBuiltinPlugin, type BuiltinPlugin } from '../plugins.js';
import { Progress } from '../progress.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const { mark: newMark, timeout, status, labelAdd, labelDel, output: outputFlag, ...filterOpts } = p.opts;
  const output = outputFormat(outputFlag, 'update', { single: true });
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
    // --label-del alone clears every label, as conntrack's
    const del = labelDel === undefined ? new Uint8Array(LABEL_BYTES) : labelDel === '' ? new Uint8Array(LABEL_BYTES).fill(0xff) : parseLabels(labelDel, 'label-del');
    if (add.some((b, i) => b & del[i])) throw new UsageError('a label is both added and removed', 'update');
    change.labels = add;
    change.labelsMask = add.map((b, i) => b | del[i]);
  }
  const f = filterFromFlags(filterOpts);
  await preflight(p.opts.netns);
  // One worker for both plugin runs: the selection, and printing the updated entries afterwards.
  const match = await openBuiltinPlugin('match', { operations: ['read'], scope: f.scope }, p.opts.netns);
  try {
    const selection = f.zoneOnly ? undefined : await select(match, f);
    if (selection?.keys.size === 0) {
      summary('0 flow entries have been updated.');
      return EXIT.NOTHING_MATCHED;
    }
    const r = await apply(f, change, selection, p.opts.netns);
    // conntrack prints updated labels: labels=NAMES
    await printUpdated(match, r.done, f, labelOutput(output, change.labels !== undefined));
    summary(`${r.updated} flow entries have been updated.`);
    if (r.failed.length) {
      const first = r.failed[0];
      const hint = first.errno === 'ENOSPC' && change.labels
        ? 'these entries have no room for labels: the kernel adds it only while a connlabel rule exists in the netns (iptables -m connlabel, nft ct label) when an entry is created'
        : first.errno === 'EBUSY' && change.status !== undefined
          ? 'the entry status changed meanwhile (the kernel takes the whole status word); run again'
          : 'check the values given; run again if entries were changing';
      throw new CliError(EXIT.KERNEL, `${r.failed.length} updates failed in the kernel: ${first.message}`, hint);
    }
    return r.updated > 0 ? EXIT.OK : EXIT.NOTHING_MATCHED;
  } finally {
    await match.close();
  }
}

interface Selection {
  /** entry-key.ts keys of the entries the plugin selected. */
  keys: Set<string>;
  /** Their ids: a cheap first test before an entry's key is built. */
  ids: Set<number>;
}

/** 1. The plugin decides which entries match (with -w alone the kernel's zone dump is the selection). */
async function select(match: BuiltinPlugin, f: FlagFilter): Promise<Selection> {
  const sel: Selection = { keys: new Set(), ids: new Set() };
  // Parsed as it comes (a selection of 1M entries is ~300 MB of JSON): only the keys are kept.
  const text = new TextDecoder();
  let partial = '';
  const take = (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line) continue;
      const j = JSON.parse(line);
      sel.keys.add(jsonKey(j));
      sel.ids.add(j.id);
    }
  };
  await match.run({ ...f.config, action: 'list', output: 'json' }, {
    write: (b, release) => {
      take(text.decode(b, { stream: true }));
      release();
    },
  });
  take(text.decode() + '\n');
  return sel;
}

/** 2. The host takes the selected entries from the kernel's dump and updates them in batches. */
async function apply(f: FlagFilter, change: Change, sel: Selection | undefined, netns: string | undefined) {
  const { RECV_BUFFER_BYTES } = await import('../../netlink/connection.js');
  const ct = await openConntrack(netns);
  const progress = new Progress('updated', sel?.keys.size);
  try {
    const held: { entry: Uint8Array; id: number }[] = [];
    ct.dumpSync(f.kernel, new Uint8Array(RECV_BUFFER_BYTES), (batch) => {
      for (const m of splitMessages(batch)) {
        const s = scanEntry(m);
        if (s?.id === undefined) continue;
        if (sel ? sel.ids.has(s.id) && sel.keys.has(entryKey(s.id, s.zone, s.origTuple)) : s.zone === f.kernel.zone) held.push({ entry: m.slice(), id: s.id });
      }
    }, () => void (held.length = 0));
    const r = ct.updateSync(held.map((h) => ({ entry: h.entry, ...change })), (n) => progress.update(n));
    const failed = new Set(r.failed.map((x) => x.index));
    return { updated: r.ok, failed: r.failed, done: held.filter((_, i) => !failed.has(i)).map((h) => h.id) };
  } finally {
    progress.done();
    ct.close();
  }
}

/**
 * 3. The updated entries as the kernel now has them (one gone meanwhile is not printed). By id,
 * within the filters that an update cannot change, so an id shared with an entry outside the
 * selection (a hash collision) is not printed either.
 */
async function printUpdated(match: BuiltinPlugin, ids: number[], f: FlagFilter, output: ReturnType<typeof labelOutput>): Promise<void> {
  if (ids.length === 0) return;
  const { label: _labels, ...unchanged } = f.config; // --label-add/--label-del may change labels
  await match.run({ ...unchanged, action: 'list', ...output, id: ids });
}
