// Request/response over one netlink socket: sequence numbers, acks matched to requests,
// multipart dumps to NLMSG_DONE (restarted on NLM_F_DUMP_INTR), and batches of many
// requests per send.
import { AbortError, withStats } from './abort.js';
import { Encoder } from './attr.js';
import {
  NETLINK_CAP_ACK, NETLINK_EXT_ACK, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK,
  NLM_F_DUMP_INTR, NLM_F_REQUEST, SOL_NETLINK, SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE, SO_SNDBUF, SO_SNDBUFFORCE,
} from './constants.js';
import { NetlinkError, errnoName, parseAck } from './errors.js';
import { MessageReader, beginMessage, endMessage } from './message.js';
import { Receiver } from './receive.js';
import type { NetlinkSocketLike } from './socket.js';

/** A dump datagram is at most ~32 KiB (the kernel caps its dump skbs); 64 KiB leaves room. */
export const RECV_BUFFER_BYTES = 64 * 1024;
/** Requests per send in a batch: small enough that every answer fits the receive buffer. */
export const BATCH_MESSAGES = 512;
const BATCH_BYTES = 96 * 1024;
/** Socket buffers for batches and dumps (FORCE: not capped by net.core.rmem_max). */
const SOCKET_BUFFER_BYTES = 8 * 1024 * 1024;
const MAX_DUMP_RESTARTS = 3;

export interface DumpProgress {
  messages: number;
  batches: number;
  restarts: number;
}

export const emptyProgress = (): DumpProgress => ({ messages: 0, batches: 0, restarts: 0 });

export interface AsyncDumpOptions {
  /** Ends the dump: the rest is drained (the socket stays usable) and it rejects with AbortError. */
  signal?: AbortSignal;
  /** Called before the dump runs again after NLM_F_DUMP_INTR. */
  onRestart?: () => void;
}

/** One received buffer's entries, whole messages back to back (a view, reused by the next). */
export interface DumpBatch {
  entries: Uint8Array;
  count: number;
}

/** A dump pulled one batch at a time (NetlinkConnection.dumpCursor). */
export interface DumpCursor {
  /** The next batch (a view, reused by the following call), or null when the dump is over. */
  next(): DumpBatch | null;
  /** Ends the dump early; what the kernel still sends is received and dropped. */
  stop(): void;
  /** Batches and entries handed out so far, and restarts. */
  readonly progress: DumpProgress;
}

/** What one received buffer held: entries in [0, end); whether the dump finished; an error. */
interface DumpChunk {
  end: number;
  count: number;
  done: boolean;
  interrupted: boolean;
  error?: NetlinkError;
}

export interface BatchOutcome {
  /** Per request index: 0 = done, else the errno the kernel answered. */
  errnos: Int32Array;
  /** Per request index: the extended-ack text, when an error carried one. */
  messages: Map<number, string>;
}

export class NetlinkConnection {
  private seq: number;
  private readonly rx = new Uint8Array(RECV_BUFFER_BYTES);
  readonly enc = new Encoder(BATCH_BYTES + 4096);

  constructor(readonly sock: NetlinkSocketLike) {
    this.seq = (Date.now() & 0x7fffffff) >>> 0;
    // Small acks (request header only) so a batch's answers stay small; kernel error texts.
    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1);
    sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1);
    for (const [force, plain] of [[SO_RCVBUFFORCE, SO_RCVBUF], [SO_SNDBUFFORCE, SO_SNDBUF]]) {
      try {
        sock.setsockopt(SOL_SOCKET, force, SOCKET_BUFFER_BYTES);
      } catch {
        sock.setsockopt(SOL_SOCKET, plain, SOCKET_BUFFER_BYTES); // capped by sysctl; still works
      }
    }
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  /**
   * One request expecting replies and/or an ack. `build` writes exactly one message with the
   * given seq. Reply messages (not the ack) go to `onReply`. Throws NetlinkError on a kernel error.
   */
  requestSync(build: (enc: Encoder, seq: number) => void, onReply?: (msg: Uint8Array) => void): void {
    const seq = this.nextSeq();
    this.enc.reset();
    build(this.enc, seq);
    this.sock.send(this.enc.bytes());
    for (;;) {
      const n = this.sock.recv(this.rx);
      const r = new MessageReader(this.rx, n);
      while (r.next()) {
        const h = r.header;
        if (h.seq !== seq) continue; // a stale answer to an earlier, abandoned request
        if (h.type === NLMSG_ERROR) {
          const ack = parseAck(r.message(), h.flags);
          if (!ack) throw new NetlinkError('EPROTO', 71, 'truncated netlink error message');
          if (ack.errno) throw kernelError(ack.errno, ack.message);
          return;
        }
        if (h.type === NLMSG_DONE) return;
        onReply?.(r.message());
      }
    }
  }

  /** Interprets one received dump buffer. Entries stay where they are, a prefix of `buf`. */
  private dumpChunk(buf: Uint8Array, n: number, seq: number): DumpChunk {
    const r = new MessageReader(buf, n);
    const out: DumpChunk = { end: 0, count: 0, done: false, interrupted: false };
    while (r.next()) {
      const h = r.header;
      if (h.seq !== seq) continue;
      if (h.flags & NLM_F_DUMP_INTR) out.interrupted = true;
      if (h.type === NLMSG_DONE) {
        out.done = true;
        break;
      }
      if (h.type === NLMSG_ERROR) {
        const ack = parseAck(r.message(), h.flags);
        out.error = ack ? kernelError(ack.errno, ack.message) : new NetlinkError('EPROTO', 71, 'truncated netlink error message');
        out.done = true;
        break;
      }
      if (h.type === NLMSG_NOOP || h.type === NLMSG_OVERRUN) continue;
      out.count++;
      out.end = h.offset + h.length;
      // Entries must be contiguous for a zero-copy view; a control message in between
      // (never seen from ctnetlink) would end the view early. Count it as malformed.
    }
    if (r.malformed) out.error = new NetlinkError('EPROTO', 71, 'malformed netlink message in dump');
    return out;
  }

  /**
   * The dump protocol once, as a coroutine: it yields 'recv' (answer: the length received into
   * `buf`) and batches (answer: false to stop after this one, null when it was not delivered
   * because of an abort), so the blocking and the event-loop drivers below share every rule:
   * restart on NLM_F_DUMP_INTR, drain after a stop, errors. `progress` counts delivered batches.
   */
  private *dumpProtocol(
    build: (enc: Encoder, seq: number) => void,
    buf: Uint8Array,
    progress: DumpProgress,
    onRestart?: () => void,
  ): Generator<'recv' | DumpBatch, DumpProgress, number | boolean | null | void> {
    for (;;) {
      const seq = this.nextSeq();
      this.enc.reset();
      build(this.enc, seq);
      this.sock.send(this.enc.bytes());
      let interrupted = false, stopped = false;
      for (;;) {
        const c = this.dumpChunk(buf, (yield 'recv') as number, seq);
        interrupted ||= c.interrupted;
        if (c.count && !stopped) {
          const answer = yield { entries: buf.subarray(0, c.end), count: c.count };
          if (answer !== null) (progress.messages += c.count), progress.batches++;
          if (answer === false || answer === null) stopped = true; // keep draining
        }
        if (c.error) throw c.error;
        if (c.done) break;
      }
      if (!interrupted || stopped) return progress;
      if (++progress.restarts > MAX_DUMP_RESTARTS) throw new NetlinkError('EINTR', 4, `dump interrupted ${MAX_DUMP_RESTARTS} times by concurrent changes`);
      onRestart?.();
    }
  }

  /**
   * A dump, synchronously (the kernel answers at once), pulled one received buffer at a time:
   * `next()` blocks until the next batch of entries (a view into `buf`, valid until the next call)
   * and returns null once the dump is over; the caller may do other work between calls. `stop()`
   * ends it early: the rest is received and dropped, so the socket stays usable. On
   * NLM_F_DUMP_INTR the dump is run again after `onRestart`.
   */
  dumpCursor(build: (enc: Encoder, seq: number) => void, buf: Uint8Array, onRestart?: () => void): DumpCursor {
    const progress = emptyProgress();
    const steps = this.dumpProtocol(build, buf, progress, onRestart);
    let step = steps.next();
    let handedOut = false;
    const answer = (a: boolean | null) => {
      step = steps.next(a);
      handedOut = false;
    };
    return {
      progress,
      next: () => {
        if (handedOut) answer(true);
        while (!step.done) {
          if (step.value !== 'recv') {
            handedOut = true;
            return step.value;
          }
          step = steps.next(this.sock.recv(buf));
        }
        return null;
      },
      stop: () => {
        if (handedOut) answer(false); // that batch was delivered: counted
        while (!step.done) step = steps.next(step.value === 'recv' ? this.sock.recv(buf) : null);
      },
    };
  }

  /**
   * A dump, synchronously. Its answers are received into `buf` and handed to `onBatch` in place.
   * Return false from `onBatch` to stop early. On NLM_F_DUMP_INTR the dump is run again after `onRestart`.
   */
  dumpSync(
    build: (enc: Encoder, seq: number) => void,
    buf: Uint8Array,
    onBatch: (entries: Uint8Array, count: number) => boolean | void,
    onRestart?: () => void,
  ): DumpProgress {
    const c = this.dumpCursor(build, buf, onRestart);
    for (let b; (b = c.next()); ) {
      if (onBatch(b.entries, b.count) === false) {
        c.stop();
        break;
      }
    }
    return c.progress;
  }

  /**
   * The same dump without blocking the event loop or a thread: a buffer is received when the
   * socket is readable. Leaving the loop early (break) drains the rest, so the socket stays usable;
   * an abort does the same, then rejects with AbortError carrying `progress`. `progress` is
   * filled in as batches arrive.
   */
  async *dumpBatches(build: (enc: Encoder, seq: number) => void, opts: AsyncDumpOptions = {}, progress = emptyProgress()): AsyncGenerator<DumpBatch, DumpProgress> {
    const buf = new Uint8Array(RECV_BUFFER_BYTES);
    const rx = new Receiver(this.sock);
    const steps = this.dumpProtocol(build, buf, progress, opts.onRestart);
    let aborted: AbortError | undefined;
    let step = steps.next();
    let handedOut = false;
    try {
      while (!step.done) {
        if (step.value === 'recv') {
          let n: number;
          try {
            n = await rx.next(buf, aborted ? undefined : opts.signal, 'dump');
          } catch (e) {
            if (!(e instanceof AbortError) || aborted) throw e;
            aborted = e; // receive the rest without the signal: the kernel finishes the dump at once
            continue;
          }
          step = steps.next(n);
        } else if (aborted || opts.signal?.aborted) {
          aborted ??= new AbortError('dump', opts.signal!.reason);
          step = steps.next(null);
        } else {
          handedOut = true;
          yield step.value;
          handedOut = false;
          step = steps.next(true);
        }
      }
    } finally {
      // The consumer left while holding a batch (break, return): that one was delivered; drain the
      // rest, as a stop does (after a stop the protocol only asks to receive).
      if (handedOut) {
        step = steps.next(false);
        while (!step.done) step = steps.next(step.value === 'recv' ? await rx.next(buf) : null);
      }
    }
    if (aborted) throw withStats(aborted, progress);
    return step.value;
  }

  /** dumpBatches with a callback: return false from `onBatch` to stop early. */
  async dump(
    build: (enc: Encoder, seq: number) => void,
    onBatch: (entries: Uint8Array, count: number) => boolean | void | Promise<boolean | void>,
    opts: AsyncDumpOptions = {},
  ): Promise<DumpProgress> {
    const progress = emptyProgress();
    for await (const b of this.dumpBatches(build, opts, progress)) if ((await onBatch(b.entries, b.count)) === false) break;
    return progress;
  }

  /**
   * Sends `count` requests, many per send. `build(enc, i, seq)` writes request i without
   * NLM_F_ACK: the kernel answers only failures, and a trailing NOOP with NLM_F_ACK marks
   * the end of each send, so a request with no error before that mark is known done. This
   * keeps the answers to a handful per send instead of one per request. Requests that are
   * answered with a message (a GET) hand it to `onReply` with the request's index.
   */
  batchSync(
    count: number, build: (enc: Encoder, index: number, seq: number) => void, onChunk?: (done: number) => void,
    onReply?: (index: number, msg: Uint8Array) => void,
  ): BatchOutcome {
    const errnos = new Int32Array(count);
    const messages = new Map<number, string>();
    let i = 0;
    while (i < count) {
      this.enc.reset();
      const first = i;
      const firstSeq = (this.seq + 1) >>> 0;
      while (i < count && i - first < BATCH_MESSAGES && this.enc.len < BATCH_BYTES) build(this.enc, i++, this.nextSeq());
      const barrier = this.nextSeq();
      const at = beginMessage(this.enc, NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, barrier, 0);
      endMessage(this.enc, at);
      this.sock.send(this.enc.bytes());
      this.collect(firstSeq, first, i, barrier, errnos, messages, onReply);
      onChunk?.(i);
    }
    return { errnos, messages };
  }

  private collect(
    firstSeq: number, first: number, end: number, barrier: number, errnos: Int32Array, messages: Map<number, string>,
    onReply?: (index: number, msg: Uint8Array) => void,
  ): void {
    for (;;) {
      let n: number;
      try {
        n = this.sock.recv(this.rx);
      } catch (e) {
        // ENOBUFS: answers were dropped, so the outcome of this chunk is unknown. Never
        // report those requests as done.
        for (let k = first; k < end; k++) if (!errnos[k]) errnos[k] = (e as NetlinkError).errno || 105;
        throw e;
      }
      const r = new MessageReader(this.rx, n);
      while (r.next()) {
        const h = r.header;
        if (h.type !== NLMSG_ERROR) {
          const k = first + ((h.seq - firstSeq) >>> 0);
          if (onReply && k >= first && k < end) onReply(k, r.message());
          continue;
        }
        const ack = parseAck(r.message(), h.flags);
        if (!ack) continue;
        if (ack.seq === barrier) return;
        const k = first + ((ack.seq - firstSeq) >>> 0);
        if (k < first || k >= end) continue;
        errnos[k] = ack.errno;
        if (ack.message) messages.set(k, ack.message);
        // nfnetlink refuses a whole send with one EPERM answering its first request (capability
        // check per skb): nothing in it ran and no barrier ack follows.
        if (ack.errno === 1 && k === first) {
          for (let j = first; j < end; j++) errnos[j] = 1;
          return;
        }
      }
    }
  }

  close(): void {
    this.sock.close();
  }
}

export function kernelError(errno: number, ack?: string): NetlinkError {
  const code = errnoName(errno);
  return new NetlinkError(code, errno, ack ? `${code}: ${ack}` : code, ack);
}
