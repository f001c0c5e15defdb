// Small pieces every command shares: opening conntrack in the namespace (directly, or through
// `ctplug daemon` when this is a client: connect.ts), conntrack-style summary lines on stderr, the -o value.
import type { BatchResult, Conntrack, CreateSpec } from '../conntrack/conntrack.js';
import type { KernelFilter, Lookup, NewEntry } from '../conntrack/request.js';
import type { Operation } from '../policy/capabilities.js';
import { daemonSocket } from './connect.js';
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
    async count(filter = {}) {
      if (empty(filter)) return ct.countSync();
      let n = 0;
      const c = ct.dumpCursor(filter, undefined, () => void (n = 0));
      for (let b; (b = c.next()); ) n += b.count;
      return n;
    },
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
