// Small pieces every command shares: opening conntrack in the namespace, conntrack-style
// summary lines on stderr, the -o value.
import type { Conntrack } from '../conntrack/conntrack.js';
import { UsageError } from './args.js';
import { VERSION } from './version.js';

/** `conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.` becomes this, on stderr. */
export function summary(text: string, err: NodeJS.WritableStream = process.stderr): void {
  err.write(`ctplug v${VERSION} (conntrack-tools compatible): ${text}\n`);
}

export async function openConntrack(netns: string | undefined): Promise<Conntrack> {
  const { Conntrack } = await import('../conntrack/conntrack.js');
  return Conntrack.open({ netns });
}

/** Checks that conntrack is reachable and we may use it (netns, nf_conntrack, CAP_NET_ADMIN), with typed errors. */
export async function preflight(netns: string | undefined): Promise<void> {
  const ct = await openConntrack(netns);
  try {
    ct.countSync();
  } finally {
    ct.close();
  }
}

const FORMATS = ['text', 'extended', 'id', 'json', 'timestamp', 'labels'];

/**
 * -o: text, extended, id, json, or a conntrack-style comma list such as "extended,id". `single`:
 * the command renders through the match plugin, which takes one format.
 */
export function outputFormat(v: string | undefined, command: string, opts: { single?: boolean } = {}): string {
  if (v === undefined) return 'text';
  const parts = v.split(',').map((s) => s.trim().toLowerCase());
  for (const p of parts) {
    if (!FORMATS.includes(p)) throw new UsageError(`-o ${JSON.stringify(v)}: unknown output format ${JSON.stringify(p)}; use text, extended, id or json${command === 'events' ? ' (or timestamp)' : command === 'list' ? ' (or labels)' : ''}`, command);
  }
  if (parts.includes('json') && parts.length > 1) throw new UsageError(`-o json cannot be combined with other formats`, command);
  if (opts.single && parts.length > 1) throw new UsageError(`${command} prints with one format: -o text, extended, id or json`, command);
  if (parts.includes('labels') && command !== 'list') throw new UsageError(`-o labels is for list (labels=NAMES after each entry, as conntrack -L -o labels)`, command);
  if (parts.includes('timestamp') && command !== 'events') throw new UsageError(`-o timestamp is for events (the time each event was received)`, command);
  return parts.join(',');
}
