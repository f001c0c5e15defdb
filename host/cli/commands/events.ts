// `ctplug events`: conntrack events as they happen, like `conntrack -E`, through the first-party
// events plugin, granted read+events over exactly the scope the filters name. Ends on Ctrl-C,
// after --limit N events or after --duration S, with one summary line on stderr: events shown,
// events delivered, overruns, resyncs (from the run's stats). Says plainly when the namespace
// sends no events (nf_conntrack_events=0) and, for formats that carry them, when counters or
// start/stop times are off; --acct / --timestamp turn those on.
import { AbortError } from '../../conntrack/errors.js';
import { parseEventKinds } from '../../conntrack/validate.js';
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { labelOutput, outputFormat, preflight, summary, utcOffset } from '../common.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { filterFromFlags } from '../filter.js';
import { countLines, runBuiltinPlugin, stdoutWrite } from '../plugins.js';
import { daemonSocket } from '../connect.js';
import type { RunStats } from '../../runtime/protocol.js';

/** SO_RCVBUFFORCE takes an int; the kernel doubles it. */
const MAX_BUFFER = 1024 * 1024 * 1024;
function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "12 flow events have been shown. 12 events delivered, 0 overruns, 0 resyncs." */
export function eventsSummary(shown: number, s: RunStats | undefined): string {
  const head = `${shown} flow events have been shown.`;
  if (!s) return head;
  let tail = `${plural(s.events, 'event')} delivered, ${plural(s.overruns, 'overrun')}${s.overruns ? ' (events lost in the kernel)' : ''}, ${plural(s.resyncs, 'resync')}`;
  if (s.resyncs) tail += ` (${plural(s.entries, 'entry', 'entries')} re-listed in ${Math.round(s.resyncMs)} ms)`;
  return `${head} ${tail}.`;
}

export async function run(p: Parsed): Promise<ExitCode> {
  const f = filterFromFlags(p.opts);
  // a -l filter prints labels=, as conntrack -E -l does
  const output = outputFormat(p.opts.output, 'events');
  const config: Record<string, unknown> = { ...f.config, ...labelOutput(output, p.opts.label !== undefined), utc_offset: utcOffset() };
  if (p.opts.eventMask !== undefined) config.kinds = parseEventKinds(p.opts.eventMask).map((k) => k.toLowerCase());
  if (p.opts.limit !== undefined) {
    if (!/^[1-9]\d{0,8}$/.test(p.opts.limit)) throw new UsageError(`--limit ${JSON.stringify(p.opts.limit)}: use a count from 1`, 'events');
    config.limit = Number(p.opts.limit);
  }
  let durationMs: number | undefined;
  if (p.opts.duration !== undefined) {
    const d = Number(p.opts.duration);
    if (!/^\d+(\.\d+)?$/.test(p.opts.duration) || !(d > 0) || d > 31 * 86400) throw new UsageError(`--duration ${JSON.stringify(p.opts.duration)}: use seconds above 0 (e.g. 10 or 0.5)`, 'events');
    durationMs = d * 1000;
  }
  let eventBufferBytes: number | undefined;
  if (p.opts.bufferSize !== undefined) {
    const b = Number(p.opts.bufferSize);
    if (!/^\d{1,10}$/.test(p.opts.bufferSize) || b < 4096 || b > MAX_BUFFER) throw new UsageError(`-b ${JSON.stringify(p.opts.bufferSize)}: use a byte count from 4096 to ${MAX_BUFFER}`, 'events');
    eventBufferBytes = b;
  }
  const netns = p.opts.netns;
  await preflight(netns);
  // Through the daemon the switches are the operator's (sysctl needs privilege) and -b is the daemon's --event-buffer.
  if (daemonSocket() === undefined) await checkSwitches(netns, output, p.opts.acct !== undefined, p.opts.timestamp !== undefined);

  let shown = 0;
  let last: RunStats | undefined;
  const ac = new AbortController();
  let interrupted = 0;
  const stop = () => {
    // First Ctrl-C: end the run after the batch in progress (the summary follows). Second: now.
    if (++interrupted > 1) {
      summary(eventsSummary(shown, last));
      process.exit(EXIT.OK);
    }
    ac.abort();
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  const timer = durationMs === undefined ? undefined : setTimeout(() => ac.abort(), durationMs);
  try {
    const r = await runBuiltinPlugin('events', config, { operations: ['read', 'events'], scope: f.scope }, netns, {
      write: (b, release) => {
        shown += countLines(b);
        return stdoutWrite(b, release); // a slow reader pauses the plugin; an overrun is then reported and resynced
      },
      backend: eventBufferBytes === undefined || daemonSocket() !== undefined ? undefined : { kind: 'kernel', netns, eventBufferBytes },
      signal: ac.signal,
      onStats: (s) => (last = s),
    });
    summary(eventsSummary(r.lines, r.stats));
  } catch (e) {
    // Ctrl-C and --duration end the run by aborting it: for this command that is the normal end.
    if (!(e instanceof AbortError && ac.signal.aborted)) throw e;
    summary(eventsSummary(shown, (e.stats as RunStats | undefined) ?? last));
  } finally {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
  return EXIT.OK;
}

/**
 * nf_conntrack_events=0: the kernel sends nothing, say so. --acct / --timestamp turn the
 * switches on; otherwise, for formats that carry counters and times (json, extended), say which
 * are missing.
 */
async function checkSwitches(netns: string | undefined, output: string, acct: boolean, timestamp: boolean): Promise<void> {
  const { conntrackSwitches, enableConntrackSwitch } = await import('../../conntrack/events.js');
  const where = netns === undefined ? 'this namespace' : `namespace ${netns}`;
  const exec = netns === undefined ? '' : `ip netns exec ${netns} `;
  if (acct) enableConntrackSwitch('acct', netns);
  if (timestamp) enableConntrackSwitch('timestamp', netns);
  const sw = conntrackSwitches(netns);
  const note = (s: string) => process.stderr.write(`ctplug: ${s}\n`);
  if (sw.events === false) {
    note(`net.netfilter.nf_conntrack_events is 0 in ${where}: the kernel sends no conntrack events, so nothing will be shown. Turn it on with \`${exec}sysctl -w net.netfilter.nf_conntrack_events=1\`.`);
  }
  const rich = output.split(',').some((o) => o === 'json' || o === 'extended');
  if (rich && !acct && sw.acct === false) note(`net.netfilter.nf_conntrack_acct is 0 in ${where}: events carry no packet/byte counters (use --acct; it applies to flows created afterwards).`);
  if (rich && !timestamp && sw.timestamp === false) note(`net.netfilter.nf_conntrack_timestamp is 0 in ${where}: events carry no flow start/stop times (use --timestamp; it applies to flows created afterwards).`);
  if (acct) note(`nf_conntrack_acct turned on in ${where} (counters for flows created from now on).`);
  if (timestamp) note(`nf_conntrack_timestamp turned on in ${where} (start/stop times for flows created from now on).`);
}
