// Typed errors: every failure says which operation, what the kernel said (errno name and
// extended-ack text) and what to do about it. `kind` is what the CLI turns into an exit code.
import { NetlinkError } from '../netlink/errors.js';

/** A conntrack operation cancelled by its AbortSignal throws the netlink layer's AbortError as is: one class, named here for the layers above. */
export { AbortError } from '../netlink/abort.js';

export type ErrorKind =
  | 'usage' // bad input: nothing was sent
  | 'privilege' // not allowed: needs CAP_NET_ADMIN
  | 'environment' // netns missing, nf_conntrack not loaded, addon not built
  | 'kernel' // the kernel refused or failed an operation
  | 'notfound'; // get/delete/update matched nothing

export class CtError extends Error {
  readonly op: string;
  readonly code: string;
  readonly kind: ErrorKind;
  readonly errno?: number;
  readonly ack?: string;
  readonly hint?: string;
  /** What went wrong, without the operation and the hint the message adds. */
  readonly detail: string;
  /** When the error ended a plugin run: what the run had done by then (its RunStats). */
  stats?: Readonly<Record<string, number>>;

  constructor(op: string, code: string, kind: ErrorKind, message: string, extra: { errno?: number; ack?: string; hint?: string } = {}) {
    super(`${op}: ${message}${extra.hint ? ` (${extra.hint})` : ''}`);
    this.name = 'CtError';
    this.op = op;
    this.code = code;
    this.kind = kind;
    this.detail = message;
    Object.assign(this, extra);
  }
}

/** Bad input caught before anything reaches the kernel. */
export function invalid(op: string, message: string, hint?: string): CtError {
  return new CtError(op, 'EINVAL', 'usage', message, { hint });
}

const hints: Record<string, { kind: ErrorKind; hint: string }> = {
  EPERM: { kind: 'privilege', hint: 'needs CAP_NET_ADMIN in the target network namespace: run as root' },
  EACCES: { kind: 'privilege', hint: 'needs CAP_NET_ADMIN (and CAP_SYS_ADMIN to enter another netns): run as root' },
  EPROTONOSUPPORT: { kind: 'environment', hint: 'nf_conntrack_netlink is not available: modprobe nf_conntrack_netlink' },
  ENOADDON: { kind: 'environment', hint: 'the native addon is missing: run `npm rebuild ctplug` (in a clone: `npm install`)' },
  ENOBUFS: { kind: 'kernel', hint: 'the socket receive buffer overran; answers were lost' },
  EBUSY: { kind: 'kernel', hint: 'the kernel is busy with this entry; retry' },
  EEXIST: { kind: 'kernel', hint: 'an entry with this tuple and zone already exists' },
};

/** Wraps a NetlinkError from operation `op`; other errors pass through unchanged. */
export function fromNetlink(op: string, e: unknown): unknown {
  if (!(e instanceof NetlinkError)) return e;
  if (op === 'open' && e.code === 'ENOENT') {
    return new CtError(op, e.code, 'environment', e.message, {
      errno: e.errno, hint: 'the network namespace does not exist, or nf_conntrack is not loaded',
    });
  }
  if (op === 'open' && e.code === 'EPERM') {
    return new CtError(op, e.code, 'privilege', e.message, { errno: e.errno, hint: 'entering another network namespace needs CAP_SYS_ADMIN: run as root' });
  }
  const h = hints[e.code];
  return new CtError(op, e.code, h?.kind ?? 'kernel', e.message, { errno: e.errno, ack: e.ack, hint: h?.hint });
}

/**
 * The errnos each operation tolerates, and what they mean. Nothing else is tolerated: any
 * other errno fails the request (and is reported per request in batches).
 */
export const TOLERATED: Record<string, Readonly<Record<string, string>>> = {
  delete: { ENOENT: 'already gone' },
  update: { ENOENT: 'already gone' },
  flush: {},
  create: {},
  get: {},
  dump: {},
};
