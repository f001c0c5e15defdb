// `ctplug update`: conntrack -U, through the first-party update plugin (plugins/update: match's
// filters, Plugin.update), as delete goes through match with action "delete"; it is granted read and
// update, and only the mark bits -m changes. The plugin selects with the filters, skips entries
// the change would leave as they are, and stages an update for each of the others; the gate
// re-derives every request from the entry's own bytes and checks it against the grant (the
// filters' scope, and only the mark bits this command changes). Once its dumps are delivered the
// plugin prints the updated entries as the kernel now has them (-o text|extended|id|json).
// The new values, not filters: -m VALUE[/MASK] by conntrack's rule mark = (old & ~MASK) ^ VALUE;
// -t the timeout; -u status bits to set (ASSURED, SEEN_REPLY, FIXED_TIMEOUT: the kernel never
// clears one); --label-add/--label-del connection labels; --state (with -p tcp) the TCP state.
// Nothing updated: "0 flow entries have been updated." and exit 1, as conntrack.
import { LABEL_BYTES, labelBits, parseLabels } from '../../conntrack/labels.js';
import { SETTABLE_STATUS } from '../../conntrack/request.js';
import { parseMark, parseProtocol, parseStatus, parseTcpState, parseU32 } from '../../conntrack/validate.js';
import { UsageError, type Parsed } from '../args.js';
import { outputFormat, preflight, summary } from '../common.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { runBuiltinPlugin } from '../plugins.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const { mark, timeout, status, labelAdd, labelDel, state, output: outputFlag, ...filterOpts } = p.opts;
  const output = outputFormat(outputFlag, 'update', { single: true });
  if (mark === undefined && timeout === undefined && status === undefined && labelAdd === undefined && labelDel === undefined && state === undefined) {
    throw new UsageError('update needs the new value: -m/--mark M[/MASK], -t/--timeout SECONDS, -u/--status BITS, --state STATE (-p tcp) and/or --label-add/--label-del LABELS', 'update');
  }
  const set: Record<string, number | number[]> = {};
  let markBits = 0;
  if (mark !== undefined) {
    const m = parseMark(mark);
    set.mark = m.mark;
    set.markMask = m.mask;
    markBits = (m.mark | m.mask) >>> 0; // what (old & ~MASK) ^ VALUE may change
  }
  if (timeout !== undefined) set.timeout = parseU32(timeout, 'timeout');
  if (status !== undefined) {
    const bits = parseStatus(status, false).bits;
    if (bits & ~SETTABLE_STATUS) {
      throw new UsageError(`-u ${status}: an update can only set SEEN_REPLY, ASSURED or FIXED_TIMEOUT (the kernel refuses or ignores the others, and never clears a bit)`, 'update');
    }
    set.status = bits;
  }
  if (labelAdd !== undefined || labelDel !== undefined) {
    const add = labelAdd === undefined ? new Uint8Array(LABEL_BYTES) : parseLabels(labelAdd, 'label-add');
    const del = labelDel === undefined ? new Uint8Array(LABEL_BYTES) : parseLabels(labelDel, 'label-del');
    if (add.some((b, i) => b & del[i])) throw new UsageError('a label is both added and removed', 'update');
    set.labels = labelBits(add);
    set.labelsMask = labelBits(add.map((b, i) => b | del[i]));
  }
  if (state !== undefined) {
    // The new state, not a filter (conntrack -U --state): a TCP state, so the entries must be TCP ones.
    if (filterOpts.proto === undefined || parseProtocol(filterOpts.proto).name !== 'tcp') {
      throw new UsageError(`--state ${state}: the new state of TCP entries; give -p tcp`, 'update');
    }
    set.state = parseTcpState(state);
  }
  const f = filterFromFlags(filterOpts);
  await preflight(p.opts.netns);
  const r = await runBuiltinPlugin('update', { ...f.config, output, set }, {
    operations: ['read', 'update'], scope: { ...f.scope, markBits },
  }, p.opts.netns, { progress: 'updated' });
  const updated = r.stats.updated;
  summary(`${updated} flow entries have been updated.`);
  if (r.stats.failed) {
    const first = r.failures[0];
    const hint = first?.errno === 'ENOSPC' && set.labels
      ? 'these entries have no room for labels: the kernel adds it only while a connlabel rule exists in the netns (iptables -m connlabel, nft ct label) when an entry is created'
      : first?.errno === 'EBUSY' && set.status !== undefined
        ? 'the entry status changed meanwhile (the kernel takes the whole status word); run again'
        : 'check the values given; run again if entries were changing';
    throw new CliError(EXIT.KERNEL, `${r.stats.failed} updates failed in the kernel${first ? `: ${first.message}` : ''}`, hint);
  }
  return updated > 0 ? EXIT.OK : EXIT.NOTHING_MATCHED;
}
