// One data subject's way into JetStream: NDJSON records batched into messages, each published with
// an acknowledgement, in order, a few in flight. The no-silent-loss contract over the network:
//   - a message is removed only when JetStream acked it; a failed publish is retried (its Nats-Msg-Id
//     makes a retry of an already stored message a duplicate the stream drops);
//   - while NATS is away, messages wait in a buffer bounded in bytes; past the bound new records are
//     counted, not kept, and the next message that fits is preceded by a GAP MARKER that says how
//     many records and messages were lost ("outage");
//   - a kernel overrun (events the kernel dropped) becomes a gap marker at that point ("overrun"), and
//     so does a restart of the plugin run that feeds the subject ("restart": events between the two
//     runs may be missing; the kernel does not say how many);
//   - every message carries Ctplug-Seq (1, 2, 3, ... per subject since Ctplug-Boot): a reader checks
//     that nothing is missing between markers.
import { headers, type MsgHdrs } from '@nats-io/nats-core';
import type { JetStreamClient } from '@nats-io/jetstream';
import { HDR } from './subjects.js';

export interface PublisherOptions {
  subject: string;
  /** Distinguishes this agent's run in Nats-Msg-Id and Ctplug-Boot (default: now). */
  boot?: number;
  /** Bytes kept while NATS does not ack (default 64 MiB). */
  maxBufferBytes?: number;
  /** A message is sealed at this size (default 128 KiB; NATS' default max_payload is 1 MiB). */
  maxMessageBytes?: number;
  /** ... or this long after its first record (default 25 ms). */
  lingerMs?: number;
  /** Publishes awaiting their ack at once (default 32). */
  inFlight?: number;
  /** Ack timeout per publish (default 2000 ms). */
  ackTimeoutMs?: number;
}

export interface GapMarker {
  gap: 'outage' | 'overrun' | 'restart';
  /** outage: records and messages not kept. */
  records?: number;
  messages?: number;
  /** overrun: times the kernel reported lost events (it does not say how many). */
  overruns?: number;
  /** restart: why the feeding plugin run was restarted. */
  why?: string;
}

export interface PublisherStats {
  /** Records and messages JetStream acked (gap markers not counted as records). */
  records: number;
  messages: number;
  /** Gap markers published, by reason; records lost to outages. */
  outageGaps: number;
  overrunGaps: number;
  restartGaps: number;
  lostRecords: number;
  lostMessages: number;
  /** Publishes that failed and were retried. */
  retries: number;
  bufferedBytes: number;
  bufferedMessages: number;
  /** Age of the oldest message not yet acked (ms; 0 when none). */
  oldestUnackedMs: number;
  /** Seal-to-ack time of the last acked message (ms). */
  lastLagMs: number;
}

interface Pending {
  seq: number;
  data: Uint8Array;
  records: number;
  gap?: GapMarker;
  sealedAt: number;
  state: 'queued' | 'sending';
}

const enc = new TextEncoder();
/** Room kept for the one outage marker that may have to precede the next message. */
const MARKER_RESERVE = 160;

export class StreamPublisher {
  readonly boot: number;
  private readonly o: Required<Omit<PublisherOptions, 'boot' | 'subject'>>;
  private readonly queue: Pending[] = [];
  private parts: Uint8Array[] = [];
  private partBytes = 0;
  private partRecords = 0;
  private partSince = 0;
  /** The tail of a chunk that ended inside a line. */
  private carry: Uint8Array = new Uint8Array(0);
  private seq = 0;
  private lost = { records: 0, messages: 0 };
  private sending = 0;
  private bufferBytes = 0;
  private pausedUntil = 0;
  private backoffMs = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** The connection is down: nothing is handed to the client (it would queue without bound). */
  private offline = false;
  private idle: (() => void)[] = [];
  private readonly counts = { records: 0, messages: 0, outageGaps: 0, overrunGaps: 0, restartGaps: 0, lostRecords: 0, lostMessages: 0, retries: 0, lastLagMs: 0 };
  /** Observed after each ack: seal-to-ack seconds (metrics' histogram). */
  onAck?: (lagSeconds: number) => void;

  constructor(private readonly js: JetStreamClient, private readonly opts: PublisherOptions) {
    this.boot = opts.boot ?? Date.now();
    this.o = {
      maxBufferBytes: opts.maxBufferBytes ?? 64 * 1024 * 1024,
      maxMessageBytes: opts.maxMessageBytes ?? 128 * 1024,
      lingerMs: opts.lingerMs ?? 25,
      inFlight: opts.inFlight ?? 32,
      ackTimeoutMs: opts.ackTimeoutMs ?? 2000,
    };
  }

  get stats(): PublisherStats {
    const oldest = this.queue[0];
    return {
      ...this.counts, bufferedBytes: this.bufferBytes, bufferedMessages: this.queue.length,
      oldestUnackedMs: oldest ? Date.now() - oldest.sealedAt : 0,
    };
  }

  /** NDJSON bytes (a chunk may end inside a line: the rest waits for the next chunk). */
  write(chunk: Uint8Array): void {
    if (this.closed) return;
    let data = chunk;
    if (this.carry.length) {
      data = new Uint8Array(this.carry.length + chunk.length);
      data.set(this.carry);
      data.set(chunk, this.carry.length);
      this.carry = new Uint8Array(0);
    }
    let start = 0;
    for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, start)) {
      this.line(data.subarray(start, i + 1));
      start = i + 1;
    }
    if (start < data.length) this.carry = data.slice(start);
  }

  /** A kernel overrun: a marker in the stream at this point. */
  overrun(times = 1): void {
    this.mark({ gap: 'overrun', overruns: times });
  }

  /** The feeding run was restarted: a marker at this point. */
  restart(why: string): void {
    this.mark({ gap: 'restart', why });
  }

  private mark(g: GapMarker): void {
    this.seal();
    this.enqueue(this.marker(g), 0, g, true);
    this.kick();
  }

  private line(l: Uint8Array): void {
    if (this.partBytes + l.length > this.o.maxMessageBytes) this.seal();
    if (this.partRecords === 0) this.partSince = Date.now();
    this.parts.push(l.slice());
    this.partBytes += l.length;
    this.partRecords++;
    if (this.partBytes >= this.o.maxMessageBytes) this.seal();
    this.kick();
  }

  /** The records gathered so far become one message (or a counted loss when the buffer is full). */
  private seal(): void {
    if (!this.partRecords) return;
    const data = new Uint8Array(this.partBytes);
    let at = 0;
    for (const p of this.parts) { data.set(p, at); at += p.length; }
    const records = this.partRecords;
    this.parts = [];
    this.partBytes = 0;
    this.partRecords = 0;
    const reserve = this.lost.messages || this.bufferBytes + data.length + MARKER_RESERVE > this.o.maxBufferBytes ? MARKER_RESERVE : 0;
    if (this.bufferBytes + data.length + reserve > this.o.maxBufferBytes) {
      this.lost.records += records;
      this.lost.messages++;
      this.counts.lostRecords += records;
      this.counts.lostMessages++;
      return;
    }
    this.enqueue(data, records);
  }

  private marker(g: GapMarker): Uint8Array {
    return enc.encode(JSON.stringify(g) + '\n');
  }

  private enqueue(data: Uint8Array, records: number, gap?: GapMarker, force = false): void {
    this.markLoss(); // records lost since the last message that fitted: said first, in order
    if (!force && this.bufferBytes + data.length > this.o.maxBufferBytes) return; // cannot happen after seal's check
    this.push(data, records, gap);
  }

  /** The outage marker for what was not kept (its room is reserved: the bound holds with it). */
  private markLoss(): void {
    if (!this.lost.messages) return;
    const g: GapMarker = { gap: 'outage', records: this.lost.records, messages: this.lost.messages };
    this.lost = { records: 0, messages: 0 };
    this.push(this.marker(g), 0, g);
  }

  private push(data: Uint8Array, records: number, gap?: GapMarker): void {
    this.queue.push({ seq: ++this.seq, data, records, gap, sealedAt: Date.now(), state: 'queued' });
    this.bufferBytes += data.length;
  }

  private kick(): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.partRecords && now - this.partSince >= this.o.lingerMs) this.seal();
    // The loss is reported once NATS is back and there is room, not only when more records come.
    if (this.lost.messages && !this.offline && this.bufferBytes + MARKER_RESERVE <= this.o.maxBufferBytes) this.markLoss();
    if (now >= this.pausedUntil && !this.offline) {
      for (const p of this.queue) {
        if (this.sending >= this.o.inFlight) break;
        if (p.state === 'queued') this.send(p);
      }
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const now = Date.now();
    let wait = Infinity;
    if (this.partRecords) wait = Math.max(0, this.partSince + this.o.lingerMs - now);
    if (!this.offline && this.queue.some((p) => p.state === 'queued')) wait = Math.min(wait, Math.max(0, this.pausedUntil - now));
    if (wait === Infinity) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.kick(); }, wait);
  }

  private headersOf(p: Pending): MsgHdrs {
    const h = headers();
    h.set(HDR.seq, String(p.seq));
    h.set(HDR.boot, String(this.boot));
    h.set(HDR.records, String(p.records));
    if (p.gap) h.set(HDR.gap, p.gap.gap);
    return h;
  }

  private send(p: Pending): void {
    p.state = 'sending';
    this.sending++;
    this.js.publish(this.opts.subject, p.data, {
      msgID: `${this.opts.subject}.${this.boot}.${p.seq}`, headers: this.headersOf(p), timeout: this.o.ackTimeoutMs,
    }).then(() => {
      this.sending--;
      const i = this.queue.indexOf(p);
      if (i >= 0) this.queue.splice(i, 1);
      this.bufferBytes -= p.data.length;
      this.backoffMs = 0;
      if (p.gap) this.counts[`${p.gap.gap}Gaps`]++;
      else { this.counts.records += p.records; this.counts.messages++; }
      const lag = Date.now() - p.sealedAt;
      this.counts.lastLagMs = lag;
      this.onAck?.(lag / 1000);
      this.kick();
      this.settle();
    }, () => {
      // Not acked (NATS away, JetStream not ready, timeout): back off, then resend in order.
      this.sending--;
      p.state = 'queued';
      this.counts.retries++;
      this.backoffMs = Math.min(2000, Math.max(100, this.backoffMs * 2));
      this.pausedUntil = Date.now() + this.backoffMs;
      this.kick();
    });
  }

  private settle(): void {
    if (this.queue.length || this.partRecords || this.lost.messages) return;
    for (const f of this.idle.splice(0)) f();
  }

  /**
   * The NATS connection went away (true) or came back (false). While it is away nothing is sent:
   * the client library would queue every publish in memory until it reconnects, past our bound.
   */
  setOffline(offline: boolean): void {
    this.offline = offline;
    if (!offline) {
      this.pausedUntil = 0;
      this.backoffMs = 0;
      this.kick();
    }
  }

  /** Seals what is gathered and resolves once everything is acked. */
  async flush(): Promise<void> {
    this.seal();
    this.kick();
    if (!this.queue.length) return;
    await new Promise<void>((r) => this.idle.push(r));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const f of this.idle.splice(0)) f();
  }
}
