// The operator's side: find the hosts (NATS micro discovery), fan a request out to each and wait
// for every answer (or the timeout), and tail the data stream. Used by `ctplug fleet run|flows`
// and by embedders. Replies are per host: each is asked on its own subject and answers with its
// own name, so a result is attributable (and a host that names itself twice shows up twice).
import { jetstream } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { HDR, HOST_RE, SERVICE, serviceSubject, STREAM, type DataKind, type ServiceOp } from './subjects.js';
import type { FleetReply } from './service.js';

/** A `--hosts` pattern: names separated by commas, each with `*` (any run) and `?` (one character). */
export function hostMatcher(pattern: string | undefined): (host: string) => boolean {
  if (!pattern || pattern === '*') return () => true;
  const res = pattern.split(',').map((p) => new RegExp('^' + p.trim().replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$'));
  return (h) => res.some((r) => r.test(h));
}

/** Names in the pattern without wildcards: hosts that must answer (missing ones are "no answer"). */
export function namedHosts(pattern: string | undefined): string[] {
  return (pattern ?? '').split(',').map((p) => p.trim()).filter((p) => p && !/[*?]/.test(p) && HOST_RE.test(p));
}

/** The hosts whose agents answer $SRV.PING.ctplug within `waitMs`. */
export async function discover(nc: NatsConnection, waitMs = 750): Promise<string[]> {
  const hosts = new Set<string>();
  const it = await nc.requestMany(`$SRV.PING.${SERVICE}`, '', { maxWait: waitMs, strategy: 'timer' });
  for await (const m of it) {
    try {
      const h = (JSON.parse(m.string()) as { metadata?: { host?: unknown } }).metadata?.host;
      if (typeof h === 'string' && HOST_RE.test(h)) hosts.add(h);
    } catch { /* not one of ours: ignored */ }
  }
  return [...hosts].sort();
}

export type HostResult = FleetReply | { host: string; op: ServiceOp; status: 'no answer'; reason: string; [k: string]: unknown };

export interface FanOutOptions {
  hosts?: string;
  timeoutMs: number;
  discoverMs?: number;
  onResult?: (r: HostResult, done: number, of: number) => void;
}

/** Sends `body` to every matching host's `op` endpoint; one result per host, sorted by name. */
export async function fanOut(nc: NatsConnection, op: ServiceOp, body: unknown, o: FanOutOptions): Promise<HostResult[]> {
  const match = hostMatcher(o.hosts);
  const found = (await discover(nc, Math.min(o.discoverMs ?? 750, o.timeoutMs))).filter(match);
  const hosts = [...new Set([...found, ...namedHosts(o.hosts)])].sort();
  const payload = JSON.stringify(body);
  let done = 0;
  const results = await Promise.all(hosts.map(async (host): Promise<HostResult> => {
    let r: HostResult;
    try {
      const m: Msg = await nc.request(serviceSubject(host, op), payload, { timeout: o.timeoutMs });
      const reply = JSON.parse(m.string()) as FleetReply;
      // The reply names its host; one that names another is reported as it is, not re-labelled.
      r = typeof reply === 'object' && reply && typeof reply.host === 'string' ? reply : { host, op, status: 'failed', reason: 'malformed reply' };
    } catch (e) {
      r = { host, op, status: 'no answer', reason: (e as Error).message };
    }
    o.onResult?.(r, ++done, hosts.length);
    return r;
  }));
  return results;
}

export interface StreamItem {
  host: string;
  kind: DataKind;
  /** Ctplug-Seq and Ctplug-Boot of the message (per host, per subject). */
  seq: number;
  boot: number;
  /** Present on a gap marker: its JSON ({gap, records, messages, overruns}). */
  gap?: Record<string, unknown>;
  /** The records (NDJSON lines, each a JSON text). */
  lines: string[];
  /** The stream's own sequence number. */
  streamSeq: number;
}

export interface TailOptions {
  kind?: DataKind;
  hosts?: string;
  /** Start from the first stored message (default) or only new ones. */
  from?: 'all' | 'new';
  signal?: AbortSignal;
  /** Stop when nothing has arrived for this long (ms). */
  idleMs?: number;
}

/** The data stream as items, in stream order (an ordered consumer: no state left on the server). */
export async function* tail(nc: NatsConnection, o: TailOptions = {}): AsyncGenerator<StreamItem> {
  const kind = o.kind ?? 'flows';
  const js = jetstream(nc);
  const consumer = await js.consumers.get(STREAM, {
    filter_subjects: `ctplug.*.${kind}`,
    deliver_policy: o.from === 'new' ? 'new' as never : 'all' as never,
  });
  const match = hostMatcher(o.hosts);
  const msgs = await consumer.consume({ idle_heartbeat: 1000 } as never);
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    if (!o.idleMs) return;
    clearTimeout(idle);
    idle = setTimeout(() => msgs.stop(), o.idleMs);
  };
  const onAbort = () => msgs.stop();
  o.signal?.addEventListener('abort', onAbort);
  arm();
  try {
    for await (const m of msgs) {
      arm();
      const host = m.subject.split('.')[1];
      if (!match(host)) continue;
      const h = m.headers;
      const text = m.string();
      const lines = text.split('\n').filter((l) => l.length);
      const gapKind = h?.get(HDR.gap);
      let gap: Record<string, unknown> | undefined;
      if (gapKind) {
        try { gap = JSON.parse(lines[0]) as Record<string, unknown>; } catch { gap = { gap: gapKind }; }
      }
      yield {
        host, kind, seq: Number(h?.get(HDR.seq) ?? 0), boot: Number(h?.get(HDR.boot) ?? 0),
        gap, lines: gap ? [] : lines, streamSeq: m.seq,
      };
    }
  } finally {
    clearTimeout(idle);
    o.signal?.removeEventListener('abort', onAbort);
    msgs.stop();
  }
}
