// The fleet's NATS names, in one place: the stream, its subjects, the service's subjects, headers.
//   ctplug.<host>.flows     flowlog records (NDJSON, many per message), gap markers
//   ctplug.<host>.events    chosen event kinds (NDJSON, as `ctplug events -o json`), gap markers
//   ctplug.<host>.svc.<op>  request/reply: run, count, stats (one host, attributable)
//   $SRV.PING|INFO|STATS[.ctplug[.<id>]]  discovery (the NATS micro-service protocol, micro.ts)
// The stream captures only the data subjects: a JetStream stream over the service subjects would
// answer requests with publish acks.
import { hostname } from 'node:os';

export const STREAM = 'CTPLUG';
export const SERVICE = 'ctplug';
export const STREAM_SUBJECTS = ['ctplug.*.flows', 'ctplug.*.events'];
export type DataKind = 'flows' | 'events';
export const SERVICE_OPS = ['run', 'count', 'stats'] as const;
export type ServiceOp = (typeof SERVICE_OPS)[number];

/** Headers every data message carries. */
export const HDR = {
  /** This host's message number on this subject since the agent started: 1, 2, 3, ... with no hole. */
  seq: 'Ctplug-Seq',
  /** The agent's start (epoch ms): Seq restarts with it. */
  boot: 'Ctplug-Boot',
  /** Records in the message (NDJSON lines). */
  records: 'Ctplug-Records',
  /** Present on a gap marker: why records are missing ("outage" or "overrun"). */
  gap: 'Ctplug-Gap',
} as const;

/** A host's fleet name is one NATS subject token. */
export const HOST_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** The default fleet name: the hostname's first label, with anything outside a token made '_'. */
export function defaultHostName(): string {
  return (hostname().split('.')[0] || 'host').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

export const dataSubject = (host: string, kind: DataKind) => `ctplug.${host}.${kind}`;
export const serviceSubject = (host: string, op: ServiceOp) => `ctplug.${host}.svc.${op}`;
