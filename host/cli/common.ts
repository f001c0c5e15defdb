// Small pieces every command shares: opening conntrack in the namespace (directly, or through
// `ctplug daemon` when this is a client: connect.ts), conntrack-style summary lines on stderr, the -o value.
import type { BatchResult, Conntrack } from '../conntrack/conntrack.js';
import type { CreateSpec } from '../conntrack/new-entry.js';
import type { KernelFilter, Lookup, NewEntry } from '../conntrack/request.js';
import type { Operation } from '../policy/capabilities.js';
import { daemonSocket } from './connect.js';
import { connlabelNames } from '../conntrack/labels.js';
import { UsageError } from './args.js';
import { VERSION } from './version.js';

/** Summary lines are not printed (the lines of a load file: conntrack -R prints none). */
let quiet = false;
export function quietSummaries(on: boolean): void {
  quiet = on;
}

/** `conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.` becomes this, on stderr. */
export function summary(text: string, err: NodeJS.WritableStream = process.stderr): void {
  if (!quiet) notice(text, err);
}

/** A line with the summary's prefix that a load file prints too (conntrack -R prints "... emptied."). */
export function notice(text: string, err: NodeJS.WritableStream = process.stderr): void {
  err.write(`ctplug v${VERSION} (conntrack-tools compatible): ${text}\n`);
}

export async function openConntrack(netns: string | undefined): Promise<Conntrack> {
  const { Conntrack } = await import('../conntrack/conntrack.js');
  return Conntrack.open({ netns });
}

/**
 * The table operations the commands use beside plugins, the same in both modes: a Conntrack in
 * this process (root), or a RemoteConntrack session with the daemon (its whole grant for this user).
 */
export interface Table {
  /** Entries (of `filter`); through the daemon: those the grant lets this user see. */
  count(filter?: KernelFilter): Promise<number>;
  stats(): Promise<Record<string, number>[]>;
  flush(filter?: KernelFilter): Promise<BatchResult | undefined>;
  get(lookup: Lookup): Promise<Uint8Array | null>;
  create(entries: (CreateSpec | NewEntry)[], onProgress?: (done: number) => void): Promise<BatchResult>;
  delete(entries: Uint8Array[]): Promise<BatchResult>;
  /** Whether this session may do `op` (direct: anything; the kernel still checks the capability). */
  allows(op: Operation): boolean;
  /** Whether a flush with a zone is exact (kernel >= 6.8, or the daemon, which makes it so). */
  filtersDeleteByZone(): boolean;
  close(): void;
}

function directTable(ct: Conntrack): Table {
  const empty = (f: KernelFilter) => f.family === undefined && f.zone === undefined && f.mark === undefined;
  return {
    count: async (filter = {}) => ct.countSync(empty(filter) ? undefined : filter),
    stats: async () => ct.statsSync(),
    flush: async (filter = {}) => ct.flushSync(filter),
    get: async (lookup) => ct.getSync(lookup),
    create: async (entries, onProgress) => ct.createSync(entries, onProgress),
    delete: async (entries) => ct.deleteSync(entries),
    allows: () => true,
    filtersDeleteByZone: () => ct.filtersDeleteByZone(),
    close: () => ct.close(),
  };
}

export async function openTable(netns: string | undefined): Promise<Table> {
  const socket = daemonSocket();
  if (socket === undefined) return directTable(await openConntrack(netns));
  const { RemoteConntrack } = await import('../client/remote.js');
  return RemoteConntrack.connect(socket, { netns });
}

/** Checks that conntrack is reachable and we may use it (netns, nf_conntrack, CAP_NET_ADMIN, or the daemon's grant), with typed errors. */
export async function preflight(netns: string | undefined): Promise<void> {
  const t = await openTable(netns);
  try {
    if (daemonSocket() === undefined) await t.count();
  } finally {
    t.close();
  }
}

/**
 * -o names: conntrack's in the order its parser tries them (a beginning of a name, any case, is the
 * first name it begins: `-o ext` is extended), then ctplug's own.
 */
const FORMAT_NAMES = ['xml', 'extended', 'timestamp', 'id', 'ktimestamp', 'labels', 'userspace', 'save', 'text', 'json'];

/** What each command prints with; `ignored`: accepted and dropped, as conntrack does (-L -o timestamp). */
const FORMATS_OF: Record<string, { takes: string[]; ignored: string[] }> = {
  list: { takes: ['text', 'extended', 'id', 'json', 'labels', 'ktimestamp', 'xml', 'save'], ignored: ['timestamp', 'userspace'] },
  get: { takes: ['text', 'extended', 'id', 'json', 'labels', 'ktimestamp', 'xml', 'save'], ignored: ['timestamp', 'userspace'] },
  delete: { takes: ['text', 'extended', 'id', 'json', 'xml', 'save'], ignored: ['timestamp', 'userspace', 'labels', 'ktimestamp'] },
  update: { takes: ['text', 'extended', 'id', 'json', 'xml', 'save'], ignored: ['timestamp', 'userspace', 'labels', 'ktimestamp'] },
  // events print [USERSPACE] portid=N for every event a process caused, as conntrack does anyway
  // the expectation table (conntrack -L/-E expect prints neither ids nor the extended prefix)
  expect: { takes: ['text', 'xml', 'timestamp', 'json'], ignored: ['extended', 'id', 'labels', 'ktimestamp', 'userspace'] },
  events: { takes: ['text', 'extended', 'id', 'json', 'labels', 'timestamp', 'ktimestamp', 'xml', 'save'], ignored: ['userspace'] },
};

/**
 * The plugin config for printing labels as conntrack does: `labels` joins a text -o when asked
 * (-o labels, a -l filter, an update of labels), with the names connlabel.conf gives the bits
 * (also for XML's <labels>).
 */
export function labelOutput(output: string, withLabels: boolean): { output: string; label_names?: Record<number, string> } {
  const parts = output.split(',');
  if (withLabels && !['json', 'xml', 'save'].includes(output) && !parts.includes('labels')) output += ',labels';
  if (!output.split(',').includes('labels') && !(withLabels && output === 'xml')) return { output };
  const names: Record<number, string> = {};
  for (const [name, bit] of connlabelNames()) names[bit] ??= name;
  return Object.keys(names).length ? { output, label_names: names } : { output };
}

/** Seconds east of UTC now: the plugins show -o ktimestamp and events' <when> in local time, as conntrack. */
export function utcOffset(): number {
  return -new Date().getTimezoneOffset() * 60;
}

function formatName(part: string, v: string, command: string): string {
  const p = part.trim().toLowerCase();
  const name = FORMAT_NAMES.includes(p) ? p : p ? FORMAT_NAMES.find((n) => n.startsWith(p)) : undefined;
  if (!name) throw new UsageError(`-o ${JSON.stringify(v)}: unknown output format ${JSON.stringify(part)}; use ${FORMATS_OF[command].takes.join(', ')}`, command);
  return name;
}

/** -o: text, extended, id, json, or a conntrack-style comma list such as "extended,id" (any beginning of a name, any case). */
export function outputFormat(v: string | undefined, command: string): string {
  if (v === undefined) return 'text';
  const { takes, ignored } = FORMATS_OF[command];
  const named = v.split(',').map((p) => formatName(p, v, command));
  if (named.includes('save') && named.length > 1) throw new UsageError('-o save cannot be combined with other formats: use -o save alone', command);
  const parts = named.filter((p) => !ignored.includes(p));
  for (const p of parts) {
    if (!takes.includes(p)) throw new UsageError(`-o ${p} is not a format of ${command}: use ${takes.join(', ')}`, command);
  }
  if (parts.includes('json') && parts.length > 1) throw new UsageError(`-o json cannot be combined with other formats`, command);
  return parts.length ? [...new Set(parts)].join(',') : 'text';
}
