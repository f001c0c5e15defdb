// A session's streams: dumps (ENTRIES frames, then DONE) and its event subscription (EVENTS and
// OVERRUN frames), each sent within the client's credit (abi.json wire.window, CREDIT frames).
// A stream without credit stops pulling from the kernel: a dump's own socket waits, an event
// socket is not read and the kernel drops what does not fit its buffer, which this subscriber
// alone is told (OVERRUN) after the stale rest is drained; it resyncs with a dump. So a slow
// client never stalls another one, and what the daemon holds for it is bounded: one batch per
// stream, and OUT_CAP of written frames.
import type { Socket } from 'node:net';
import { AbortError } from '../netlink/abort.js';
import { RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { STATUS } from '../policy/abi.js';
import { Refusal, type ScopedConntrack } from '../scoped/gate.js';
import { FRAME, type Frame, HEADER_SIZE, wire, writeHeader } from '../wire/frame.js';
import { encodeResult } from '../wire/records.js';
import type { SessionKernel } from './kernel.js';

const { OK, E_LIMIT } = STATUS;
/** Dumps one session may stream at once (each holds a kernel socket and a batch). */
export const MAX_DUMP_STREAMS = 4;
/** Reply bytes queued to the client before a stream waits for 'drain'. */
const STREAM_OUT_CAP = 1024 * 1024;
/** One kernel datagram's in-scope entries (+ padding of the last message). */
const BATCH_BYTES = RECV_BUFFER_BYTES + 8;
/** Every event already queued, up to this (EventSource needs >= 128 KiB). */
const EVENT_BATCH_BYTES = 256 * 1024;

type Send = (type: number, id: number, flags: number, ...parts: Uint8Array[]) => boolean;

class Stream {
  credit = wire.window;
  stopped = false;
  readonly abort = new AbortController();
  private wake?: () => void;

  constructor(readonly id: number) {}

  /** Settles once the stream may send a frame (credit), or it was stopped. */
  ready(): Promise<void> | undefined {
    if (this.credit > 0 || this.stopped) return undefined;
    return new Promise((r) => (this.wake = r));
  }

  grant(frames: number): void {
    this.credit += frames;
    this.poke();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.poke();
  }

  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

export class Streams {
  private readonly open = new Map<number, Stream>();
  private subscribed = false;

  constructor(
    private readonly gate: ScopedConntrack, private readonly kernel: SessionKernel, private readonly sock: Socket, private readonly send: Send,
    private readonly refuse: (id: number, r: Refusal) => void, private readonly fail: (id: number, e: unknown) => void,
  ) {
    sock.on('drain', () => { for (const s of this.open.values()) s.poke(); });
  }

  stop(id: number): void {
    this.open.get(id)?.stop();
  }

  credit(id: number, frames: number): void {
    this.open.get(id)?.grant(Math.min(frames, 1024));
  }

  close(): void {
    for (const s of this.open.values()) s.stop();
    this.open.clear();
  }

  /** Waits for credit and room in the socket; false when the stream was stopped meanwhile. */
  private async room(s: Stream): Promise<boolean> {
    for (;;) {
      if (s.stopped) return false;
      if (s.credit > 0 && this.sock.writableLength <= STREAM_OUT_CAP) return true;
      await (s.ready() ?? new Promise<void>((r) => { const p = () => { this.sock.off('drain', p); r(); }; this.sock.once('drain', p); s.abort.signal.addEventListener('abort', p, { once: true }); }));
    }
  }

  private begin(id: number): Stream | undefined {
    if (this.open.has(id)) {
      this.refuse(id, new Refusal(STATUS.E_STATE, `request id ${id} is already streaming`));
      return undefined;
    }
    const s = new Stream(id);
    this.open.set(id, s);
    return s;
  }

  private done(s: Stream, count: number): void {
    this.open.delete(s.id);
    this.send(FRAME.DONE, s.id, 0, encodeResult({ status: OK, ok: 0, gone: 0, changed: 0, count, failed: [] }));
  }

  /** DUMP: scheduled by the gate (narrowed to the grant or refused), delivered in ENTRIES frames. Runs beside the requests. */
  dump(f: Frame): void {
    if (this.kernel.openDumps() >= MAX_DUMP_STREAMS) return this.refuse(f.id, new Refusal(E_LIMIT, `at most ${MAX_DUMP_STREAMS} dumps stream at once in one session`));
    const admitted = this.gate.dump(f.payload);
    if (admitted instanceof Refusal) return this.refuse(f.id, admitted);
    const s = this.begin(f.id);
    if (!s) return;
    const plan = this.gate.dumps[this.gate.dumps.length - 1];
    const before = this.gate.stats.entries;
    let frame = Buffer.allocUnsafe(HEADER_SIZE + BATCH_BYTES);
    void (async () => {
      try {
        await this.gate.deliver(plan, {
          into: () => frame.subarray(HEADER_SIZE),
          batch: async (len, flags) => {
            const out = frame.subarray(0, HEADER_SIZE + len);
            writeHeader(out, 0, out.length, FRAME.ENTRIES, flags, s.id);
            s.credit--;
            this.sock.write(out);
            frame = Buffer.allocUnsafe(HEADER_SIZE + BATCH_BYTES); // the written one belongs to the socket now
            return this.room(s);
          },
          stopped: () => s.stopped,
        });
        this.done(s, this.gate.stats.entries - before);
      } catch (e) {
        this.open.delete(s.id);
        this.fail(s.id, e);
      }
    })();
  }

  /** SUBSCRIBE: once per session; events admitted by the gate go out as EVENTS frames within the credit. */
  subscribe(f: Frame): void {
    if (this.subscribed) return this.refuse(f.id, new Refusal(STATUS.E_STATE, 'already subscribed in this session'));
    const admitted = this.gate.subscribe(f.payload);
    if (admitted instanceof Refusal) return this.refuse(f.id, admitted);
    let events;
    try {
      events = this.gate.openEvents();
    } catch (e) {
      return this.fail(f.id, e);
    }
    this.subscribed = true;
    const s = this.begin(f.id)!;
    const { plan } = this.gate.subscription!;
    const buf = new Uint8Array(EVENT_BATCH_BYTES);
    const stats = this.gate.stats;
    void (async () => {
      try {
        for (;;) {
          if (!(await this.room(s))) break;
          let b;
          try {
            b = await events.read(buf, { signal: s.abort.signal });
          } catch (e) {
            if (e instanceof AbortError && s.stopped) break;
            throw e;
          }
          if (b === null || s.stopped) break;
          if (b === 'overrun') {
            // Lost for this subscriber: the stale rest goes too (it would undo the client's resync).
            stats.overruns++;
            events.drain?.();
            s.credit--;
            this.send(FRAME.OVERRUN, s.id, 0);
            continue;
          }
          const frame = Buffer.allocUnsafe(HEADER_SIZE + EVENT_BATCH_BYTES + 8);
          const len = b.count ? this.gate.admit(b.bytes, plan.matcher, frame.subarray(HEADER_SIZE), 'events') : 0;
          if (len === 0) continue;
          writeHeader(frame, 0, HEADER_SIZE + len, FRAME.EVENTS, 0, s.id);
          s.credit--;
          this.sock.write(frame.subarray(0, HEADER_SIZE + len));
        }
        this.done(s, stats.events);
      } catch (e) {
        this.open.delete(s.id);
        this.fail(s.id, e);
      } finally {
        events.close();
      }
    })();
  }
}
