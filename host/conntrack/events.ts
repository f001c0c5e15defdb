// Conntrack events: NEW / UPDATE / DESTROY multicast from ctnetlink, received in batches, with
// overruns (ENOBUFS) counted and reported, never hidden. The receive buffer is sized with
// SO_RCVBUFFORCE so a burst of ~100k events fits by default. Waiting for events is readiness on the
// event loop (the addon's uv_poll watcher): an idle source holds no thread, and an abort ends the
// wait at once.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { withStats } from '../netlink/abort.js';
import { NETLINK_ADD_MEMBERSHIP, NETLINK_NETFILTER, SOL_NETLINK, SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE, NLM_F_CREATE, NLM_F_EXCL } from '../netlink/constants.js';
import { NetlinkError } from '../netlink/errors.js';
import { MessageReader } from '../netlink/message.js';
import { Receiver } from '../netlink/receive.js';
import { openNetlinkSocket, type NetlinkSocketLike } from '../netlink/socket.js';
import { eventFilterProgram, type EventFilter } from './bpf.js';
import { EVENT_GROUPS, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_NEW, msgType, type EventKind } from './constants.js';
import { fromNetlink, invalid } from './errors.js';
import { decodeFlow, type Flow } from './flow.js';
import { netnsPath } from './validate.js';

export { parseEventKinds } from './validate.js';
export type { EventKind };
/** Default receive buffer: a 100k-event burst is ~60 MiB of skb truesize. */
export const DEFAULT_EVENT_BUFFER = 128 * 1024 * 1024;

const NEW = msgType(IPCTNL_MSG_CT_NEW);
const DESTROY = msgType(IPCTNL_MSG_CT_DELETE);

/** NEW = CT_NEW with CREATE|EXCL, UPDATE = CT_NEW without, DESTROY = CT_DELETE. */
export function classifyEvent(type: number, flags: number): EventKind | null {
  if (type === DESTROY) return 'DESTROY';
  if (type !== NEW) return null;
  return (flags & (NLM_F_CREATE | NLM_F_EXCL)) === (NLM_F_CREATE | NLM_F_EXCL) ? 'NEW' : 'UPDATE';
}

export interface EventSourceOptions {
  netns?: string;
  kinds?: EventKind[];
  /** Receive buffer bytes (SO_RCVBUFFORCE; falls back to SO_RCVBUF capped by rmem_max). */
  bufferBytes?: number;
  socket?: NetlinkSocketLike;
  /** Kernel-side filter (family, zone, mark) attached as a BPF program. */
  filter?: EventFilter;
}

/** One receive's worth of events: whole messages back to back in `bytes`. */
export interface EventBatch {
  bytes: Uint8Array;
  count: number;
}

export interface EventCounters {
  events: number;
  batches: number;
  overruns: number;
}

/** One event as typed data: what happened, and the entry as the kernel reported it then. */
export interface FlowEvent {
  kind: EventKind;
  flow: Flow;
}

export interface EventReadOptions {
  /** Ends the wait: the read rejects with AbortError (its stats: the source's counters). */
  signal?: AbortSignal;
}

export class EventSource {
  readonly counters: EventCounters = { events: 0, batches: 0, overruns: 0 };
  /** The receive buffer the kernel actually granted (it reports double the request). */
  readonly bufferBytes: number;
  private readonly one = new Uint8Array(65536);
  private readonly rx: Receiver;

  private constructor(private readonly sock: NetlinkSocketLike, kinds: EventKind[], wanted: number, filter?: EventFilter) {
    this.rx = new Receiver(sock);
    const program = filter && eventFilterProgram(filter);
    if (program) sock.attachFilter(program); // before joining groups: nothing unfiltered gets in
    for (const k of kinds) sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, EVENT_GROUPS[k]);
    try {
      sock.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, wanted);
    } catch {
      sock.setsockopt(SOL_SOCKET, SO_RCVBUF, wanted);
    }
    this.bufferBytes = sock.getsockopt(SOL_SOCKET, SO_RCVBUF);
  }

  static open(opts: EventSourceOptions = {}): EventSource {
    const kinds = opts.kinds ?? ['NEW', 'UPDATE', 'DESTROY'];
    let sock: NetlinkSocketLike | undefined;
    try {
      sock = opts.socket ?? openNetlinkSocket(NETLINK_NETFILTER, opts.netns === undefined ? undefined : netnsPath(opts.netns));
      return new EventSource(sock, kinds, opts.bufferBytes ?? DEFAULT_EVENT_BUFFER, opts.filter);
    } catch (e) {
      if (!opts.socket) sock?.close(); // a refused filter or group must not leave the socket behind
      throw fromNetlink('events', e);
    }
  }

  /**
   * Fills `buf` with every event already queued, without waiting: the batch (count 0 when none
   * is queued), or 'overrun' when the kernel dropped events (ENOBUFS): the caller must treat its
   * view as stale and resync.
   */
  readQueued(buf: Uint8Array): EventBatch | 'overrun' {
    this.checkBuffer(buf);
    const n = this.receive(() => this.sock.recv(this.one, true));
    return n === 'idle' ? this.done(buf, 0, 0) : n === 'overrun' ? n : this.fill(buf, n);
  }

  /**
   * The next batch: waits until events are queued (readiness on this thread's event loop; no
   * thread is parked), then fills `buf` with every one queued. Rejects with AbortError when
   * `signal` aborts or the source is closed.
   */
  async read(buf: Uint8Array, opts: EventReadOptions = {}): Promise<EventBatch | 'overrun'> {
    this.checkBuffer(buf);
    for (;;) {
      let first: number | 'overrun' | 'idle';
      try {
        first = await this.rx.next(this.one, opts.signal, 'event source');
      } catch (e) {
        first = this.receive(() => { throw withStats(e, this.counters); });
      }
      const b = first === 'overrun' || first === 'idle' ? first : this.fill(buf, first);
      if (b === 'overrun' || (b !== 'idle' && b.count)) return b;
    }
  }

  /**
   * `read` in a loop, until `signal` aborts (AbortError) or the loop is left. An 'overrun' item
   * means events were lost: resync (e.g. dump). A batch's bytes are reused by the next one: copy
   * what you keep.
   */
  async *batches(opts: EventReadOptions & { bufferBytes?: number } = {}): AsyncGenerator<EventBatch | 'overrun'> {
    const buf = new Uint8Array(Math.max(opts.bufferBytes ?? 0, 4 * this.one.length));
    for (;;) yield await this.read(buf, opts);
  }

  /** The events as typed flows (see decodeFlow), or 'overrun' where events were lost. */
  async *flows(opts: EventReadOptions = {}): AsyncGenerator<FlowEvent | 'overrun'> {
    for await (const b of this.batches(opts)) {
      if (b === 'overrun') {
        yield b;
        continue;
      }
      for (const r = new MessageReader(b.bytes); r.next(); ) {
        const kind = classifyEvent(r.header.type, r.header.flags);
        const flow = kind && decodeFlow(r.message());
        if (kind && flow) yield { kind, flow };
      }
    }
  }

  private checkBuffer(buf: Uint8Array): void {
    if (buf.length < 2 * this.one.length) throw new RangeError(`event batch buffer must hold at least ${2 * this.one.length} bytes`);
  }

  /** One receive: its length, 'overrun' (ENOBUFS, counted), 'idle' (nothing queued). */
  private receive(recv: () => number): number | 'overrun' | 'idle' {
    try {
      const n = recv();
      return n < 0 ? 'idle' : n;
    } catch (e) {
      if (e instanceof NetlinkError && e.code === 'ENOBUFS') {
        this.counters.overruns++;
        return 'overrun';
      }
      if (e instanceof NetlinkError && e.code === 'EAGAIN') return 'idle';
      throw fromNetlink('events', e);
    }
  }

  /**
   * A batch: the `n` bytes already in `this.one`, then whatever else is queued (non-blocking).
   * An overrun while draining returns 'overrun': the resync it calls for covers this batch too.
   */
  private fill(buf: Uint8Array, n: number): EventBatch | 'overrun' {
    let len = 0, count = 0;
    for (let got: number | 'overrun' | 'idle' = n; got !== 'idle'; got = this.receive(() => this.sock.recv(this.one, true))) {
      if (got === 'overrun') return got;
      const r = new MessageReader(this.one, got);
      while (r.next()) {
        const h = r.header;
        if (classifyEvent(h.type, h.flags) === null) continue;
        buf.set(this.one.subarray(h.offset, h.offset + h.length), len);
        len += (h.length + 3) & ~3;
        count++;
      }
      if (len + this.one.length > buf.length) break; // the next receive might not fit
    }
    return this.done(buf, len, count);
  }

  /**
   * After an overrun: discards the events still queued. They are older than the ones the kernel
   * dropped, so delivered after a resync dump they would undo it (a NEW whose DESTROY was lost
   * re-adds a gone entry). Events that arrive while draining are reflected in the dump that
   * follows. Returns how many were discarded.
   */
  drain(): number {
    let n = 0;
    for (let i = 0; i < 1_000_000; i++) {
      let got: number;
      try {
        got = this.sock.recv(this.one, true);
      } catch (e) {
        if (e instanceof NetlinkError && e.code === 'ENOBUFS') continue;
        if (e instanceof NetlinkError && e.code === 'EAGAIN') break;
        throw fromNetlink('events', e);
      }
      if (got < 0) break;
      const r = new MessageReader(this.one, got);
      while (r.next()) n++;
    }
    return n;
  }

  private done(buf: Uint8Array, len: number, count: number): EventBatch {
    this.counters.events += count;
    if (count) this.counters.batches++;
    return { bytes: buf.subarray(0, len), count };
  }

  close(): void {
    this.sock.close();
  }
}

export type ConntrackSwitch = 'events' | 'acct' | 'timestamp';

/**
 * The namespace's conntrack event/accounting/timestamp switches (net.netfilter.nf_conntrack_*),
 * so users are told plainly what is missing. /proc/sys shows the reader's own namespace, hence
 * `ip netns exec` for another one.
 */
export function conntrackSwitches(netns?: string): Record<ConntrackSwitch, boolean | undefined> {
  const keys: ConntrackSwitch[] = ['events', 'acct', 'timestamp'];
  const paths = keys.map((k) => `/proc/sys/net/netfilter/nf_conntrack_${k}`);
  let values: (string | undefined)[];
  if (netns === undefined) {
    values = paths.map((p) => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    });
  } else {
    const r = spawnSync('ip', ['netns', 'exec', netns, 'cat', ...paths], { encoding: 'utf8' });
    values = r.status === 0 ? r.stdout.split('\n') : [];
  }
  return Object.fromEntries(keys.map((k, i) => [k, values[i] === undefined ? undefined : values[i]!.trim() !== '0'])) as Record<ConntrackSwitch, boolean | undefined>;
}

/** Turns a switch on in the namespace (for --acct / --timestamp flags). */
export function enableConntrackSwitch(key: ConntrackSwitch, netns?: string): void {
  const args = ['sysctl', '-qw', `net.netfilter.nf_conntrack_${key}=1`];
  const r = netns === undefined ? spawnSync(args[0], args.slice(1)) : spawnSync('ip', ['netns', 'exec', netns, ...args]);
  if (r.status !== 0) throw invalid('events', `cannot turn on nf_conntrack_${key}${netns ? ` in ${netns}` : ''}`);
}
