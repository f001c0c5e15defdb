// One client connection of the daemon: the peer's policy entry (from its kernel credentials), the
// HELLO that opens a session in one namespace with a grant inside that entry, then frames. Each
// request frame's payload goes to this session's capability gate (scoped/gate.ts) exactly as a
// plugin's hostcall bytes do: refused there with an ABI status, or queued and sent, and answered
// with what the kernel did. Dumps and event subscriptions stream (streams.ts). Nothing a client
// sends is trusted: frames are parsed by FrameReader within the frame size limit, requests are
// processed in order, and none while more than OUT_CAP of replies wait for the client to read
// them. The socket is always read (so a client that vanished is noticed at once), and a client
// with more than MAX_PENDING requests or IN_CAP bytes waiting is disconnected (E_LIMIT): what the
// daemon holds for one client is bounded. Garbage ends the connection with one ERROR frame.
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import type { BatchResult, Conntrack } from '../conntrack/conntrack.js';
import { CtError } from '../conntrack/errors.js';
import { STATUS } from '../policy/abi.js';
import { checkKeys, isObject, parseCapabilities } from '../policy/capabilities.js';
import { type ClientEntry, type Clients, clientEntryFor, OWN_NETNS, type PeerCredentials } from '../policy/clients.js';
import { type Grant, withinCapabilities } from '../policy/grant.js';
import { DEFAULT_LIMITS } from '../policy/limits.js';
import { quoteText } from '../policy/untrusted-text.js';
import { Refusal, type Request, ScopedConntrack } from '../scoped/gate.js';
import { emptyOpStats } from '../scoped/stats.js';
import { encodeFrame, type Frame, FrameError, FrameReader, FRAME, HEADER_SIZE, wire } from '../wire/frame.js';
import { encodeError, encodeResult, readRecord } from '../wire/records.js';
import { sessionKernel, type SessionKernel } from './kernel.js';
import { clientCounters, countEntries, getEntry, statsReply } from './queries.js';
import { Streams } from './streams.js';

const { E_INVAL, E_DENIED, E_STATE } = STATUS;

/** Request frames waiting to be processed: more and the client is disconnected. */
export const MAX_PENDING = 4096;
/** Request bytes waiting to be processed: more and the client is disconnected (two whole frames fit). */
export const IN_CAP = 8 * 1024 * 1024;
/** Reply bytes queued to a client that does not read, before no further request of it is handled. */
export const OUT_CAP = 1024 * 1024;
/** How long a client may take to send HELLO. */
export const HELLO_TIMEOUT_MS = 5000;
/** HELLO is a small JSON document. */
const MAX_HELLO_BYTES = 64 * 1024;

/** Requests and refusals by policy client entry key ("none": peers without one), for the whole daemon. */
export type ClientCounters = Map<string, { requests: number; refusals: number }>;

export interface SessionEnv {
  clients: Clients;
  counters: ClientCounters;
  /** Opens a Conntrack in a namespace (undefined: the daemon's own). */
  open(netns: string | undefined): Conntrack;
  log(line: string): void;
  eventBufferBytes?: number;
}

const GATE_FRAMES: Record<number, Exclude<Request, 'subscribe' | 'dump'>> = {
  [FRAME.DELETE]: 'delete', [FRAME.UPDATE]: 'update', [FRAME.CREATE]: 'create', [FRAME.FLUSH]: 'flush',
};

export class Session {
  private readonly reader = new FrameReader('client');
  private readonly entry: ClientEntry | undefined;
  private gate?: ScopedConntrack;
  private kernel?: SessionKernel;
  private streams?: Streams;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private pendingBytes = 0;
  /** A HELLO frame arrived (it may still wait in the queue). */
  private helloSeen = false;
  private closed = false;
  private readonly helloTimer: NodeJS.Timeout;
  readonly who: string;

  constructor(private readonly sock: Socket, readonly peer: PeerCredentials, private readonly env: SessionEnv, onClose: () => void) {
    this.entry = clientEntryFor(env.clients, peer);
    this.who = `uid ${peer.uid} pid ${peer.pid}${this.entry ? ` (${this.entry.key})` : ''}`;
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', () => undefined); // a client that vanished: 'close' follows
    sock.on('close', () => {
      this.end();
      onClose();
    });
    this.helloTimer = setTimeout(() => this.fatal(E_STATE, `no HELLO within ${HELLO_TIMEOUT_MS} ms`), HELLO_TIMEOUT_MS);
    if (!this.entry) this.fatal(E_DENIED, `uid ${peer.uid} (gid ${peer.gid}) has no entry in the daemon's policy "clients"`);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      if (e instanceof FrameError) return this.fatal(E_INVAL, e.message);
      throw e;
    }
    for (const f of frames) {
      if (this.closed) return;
      if (f.type === FRAME.STOP || f.type === FRAME.CREDIT) {
        // Flow control is handled on arrival, never queued behind the requests it unblocks. Before
        // the session exists (HELLO read but not yet handled) no stream does: nothing to stop or credit.
        if (!this.helloSeen) return this.fatal(E_STATE, 'STOP or CREDIT before HELLO');
        if (f.type === FRAME.CREDIT && f.payload.length !== wire.records.Credit.size) return this.fatal(E_INVAL, 'a CREDIT payload is one Credit record');
        if (f.type === FRAME.STOP) this.streams?.stop(f.id);
        else this.streams?.credit(f.id, readRecord('Credit', f.payload).frames);
        continue;
      }
      if (f.type === FRAME.HELLO) this.helloSeen = true;
      const bytes = HEADER_SIZE + f.payload.length;
      this.pending++;
      this.pendingBytes += bytes;
      if (this.pending > MAX_PENDING || this.pendingBytes > IN_CAP) {
        return this.fatal(STATUS.E_LIMIT, `more than ${MAX_PENDING} requests or ${IN_CAP} bytes wait to be handled: send fewer at once, and read the replies`);
      }
      this.chain = this.chain.then(() => this.room()).then(() => this.handle(f)).catch((e) => this.fatal(0, errorText(e))).finally(() => {
        this.pending--;
        this.pendingBytes -= bytes;
      });
    }
  }

  /**
   * Settles once the replies written so far are within OUT_CAP (or the connection is gone): a
   * client that does not read gets no further request handled, so what waits for it stays bounded.
   */
  private room(): Promise<void> | undefined {
    if (this.closed || this.sock.writableLength <= OUT_CAP) return undefined;
    return new Promise((resolve) => {
      const done = () => {
        this.sock.off('drain', done).off('close', done);
        resolve();
      };
      this.sock.on('drain', done).on('close', done);
    });
  }

  /** This client's line in the daemon's counters. */
  private get counted(): { requests: number; refusals: number } {
    const key = this.entry?.key ?? 'none';
    let c = this.env.counters.get(key);
    if (!c) this.env.counters.set(key, (c = { requests: 0, refusals: 0 }));
    return c;
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    this.counted.requests++;
    if (!this.gate) {
      if (f.type !== FRAME.HELLO) return this.fatal(E_STATE, 'the first frame must be HELLO');
      return this.hello(f);
    }
    const gate = this.gate, kernel = this.kernel!, streams = this.streams!;
    const verb = GATE_FRAMES[f.type];
    if (verb) {
      const admitted = gate[verb](f.payload);
      if (admitted instanceof Refusal) return this.refuse(f.id, admitted);
      kernel.results.length = 0;
      try {
        await gate.send();
      } catch (e) {
        gate.discard();
        return this.error(f.id, 0, errorText(e));
      }
      return this.reply(FRAME.RESULT, f.id, resultOf(admitted, kernel.results.splice(0)));
    }
    switch (f.type) {
      case FRAME.HELLO: return this.fatal(E_STATE, 'HELLO was already sent');
      case FRAME.DUMP: return streams.dump(f);
      case FRAME.SUBSCRIBE: return streams.subscribe(f);
      case FRAME.COUNT: return this.answer(f.id, () => countEntries(gate, kernel.ct, f.payload));
      case FRAME.GET: return this.answer(f.id, () => getEntry(gate, kernel.ct, f, this.send));
      case FRAME.STATS: return this.answer(f.id, () => statsReply(gate, kernel.ct, f.id, this.send));
      case FRAME.CLIENTS: return this.reply(FRAME.CLIENTS_REPLY, f.id, clientCounters(gate, this.env.counters, this.entry!.key));
      default: return this.fatal(E_INVAL, `frame type ${f.type} is not a request`);
    }
  }

  /** A query: its reply frames are written by `run`, or its refusal or failure is. */
  private async answer(id: number, run: () => Promise<Refusal | Uint8Array | void> | Refusal | Uint8Array | void): Promise<void> {
    try {
      const r = await run();
      if (r instanceof Refusal) this.refuse(id, r);
      else if (r) this.reply(FRAME.RESULT, id, r);
    } catch (e) {
      this.error(id, 0, errorText(e));
    }
  }

  private hello(f: Frame): void {
    clearTimeout(this.helloTimer);
    const entry = this.entry!;
    let doc: Record<string, unknown>;
    try {
      if (f.payload.length > MAX_HELLO_BYTES) throw new Error(`HELLO is at most ${MAX_HELLO_BYTES} bytes`);
      const v: unknown = JSON.parse(Buffer.from(f.payload).toString('utf8'));
      if (!isObject(v)) throw new Error('HELLO must be a JSON object');
      doc = v;
    } catch (e) {
      return this.fatal(E_INVAL, `HELLO: ${(e as Error).message}`);
    }
    const fail = (m: string): never => { throw new Refusal(E_INVAL, `HELLO: ${m}`); };
    let grant: Grant, netns: string | undefined;
    try {
      checkKeys(doc, ['version', 'netns', 'capabilities'], 'HELLO', fail);
      if (doc.version !== wire.version) fail(`version ${quoteText(doc.version)}; this daemon speaks ${wire.version}`);
      if (doc.netns !== null && doc.netns !== undefined && typeof doc.netns !== 'string') fail('netns must be a name or null');
      const name = (doc.netns as string | null | undefined) ?? OWN_NETNS;
      if (!entry.netns.includes(name)) {
        throw new Refusal(E_DENIED, `${name === OWN_NETNS ? "the daemon's own namespace" : `namespace ${quoteText(name)}`} is not in the netns list of ${entry.key} (${entry.netns.join(', ')})`);
      }
      netns = name === OWN_NETNS ? undefined : name;
      // null: the client asks for its whole entry.
      const asked = doc.capabilities === null ? entry.capabilities : parseCapabilities(doc.capabilities, 'HELLO.capabilities', fail);
      const { capabilities, problems } = withinCapabilities(asked, entry.capabilities);
      if (problems.length) throw new Refusal(E_DENIED, `asks for more than the daemon's policy entry ${entry.key} allows: ${problems.join('; ')}`);
      grant = { plugin: `client ${entry.key}`, ...capabilities, limits: DEFAULT_LIMITS };
    } catch (e) {
      if (e instanceof Refusal) return this.fatal(e.status, e.why);
      throw e;
    }
    try {
      this.kernel = sessionKernel(() => this.env.open(netns), netns, this.env.eventBufferBytes);
    } catch (e) {
      return this.fatal(0, errorText(e));
    }
    const stats = emptyOpStats();
    this.gate = new ScopedConntrack(this.kernel.ops, grant, stats, (key, level, text) => {
      if (level === 'error' || level === 'warn') this.env.log(`${this.who}: ${text}`);
    });
    this.streams = new Streams(this.gate, this.kernel, this.sock, this.send, (id, r) => this.refuse(id, r), (id, e) => this.error(id, 0, errorText(e)));
    this.env.log(`${this.who}: session in ${netns ?? 'the daemon namespace'}, ${grant.operations.join(',') || 'no operations'}`);
    this.reply(FRAME.WELCOME, f.id, Buffer.from(JSON.stringify({ version: wire.version, grant: { operations: grant.operations, scope: grant.scope }, netns: netns ?? null })));
  }

  /** Writes one frame (nothing once closed). */
  readonly send = (type: number, id: number, flags: number, ...parts: Uint8Array[]): boolean => {
    if (this.closed) return false;
    return this.sock.write(encodeFrame(type, id, flags, ...parts));
  };

  private reply(type: number, id: number, payload: Uint8Array): void {
    this.send(type, id, 0, payload);
  }

  private refuse(id: number, r: Refusal): void {
    this.counted.refusals++;
    this.error(id, r.status, r.why);
  }

  private error(id: number, status: number, text: string): void {
    this.send(FRAME.ERROR, id, 0, encodeError(status, text));
  }

  /** One ERROR frame (id 0), then the connection ends. */
  fatal(status: number, why: string): void {
    if (this.closed) return;
    this.counted.refusals++;
    this.env.log(`${this.who}: refused: ${why}`);
    this.error(0, status, why);
    this.closed = true;
    this.sock.end();
    this.end();
  }

  /** Releases everything the session holds: streams stop, sockets close. Idempotent. */
  end(): void {
    this.closed = true;
    clearTimeout(this.helloTimer);
    this.streams?.close();
    this.kernel?.close();
    this.kernel = undefined;
    this.streams = undefined;
    if (!this.sock.destroyed) setTimeout(() => this.sock.destroy(), 1000).unref();
  }
}

/** A failure's wire text: a CtError as its fields (the client raises the same error), else its message. */
export function errorText(e: unknown): string {
  if (e instanceof CtError) return JSON.stringify({ op: e.op, code: e.code, kind: e.kind, detail: e.detail, hint: e.hint });
  return JSON.stringify({ op: 'daemon', code: 'EDAEMON', kind: 'kernel', detail: (e as Error)?.message ?? String(e) });
}

/** The RESULT of a gate request: what it admitted, and what the kernel did with it. */
function resultOf(admitted: number, results: (BatchResult | undefined)[]): Uint8Array {
  const r = { status: admitted, ok: 0, gone: 0, changed: 0, count: 0, failed: [] as { index: number; errno: number }[], failedCount: 0 };
  for (const b of results) {
    if (!b) {
      r.count = 0xffffffff; // a flush the kernel did in one request: it does not say how many
      continue;
    }
    r.ok += b.ok;
    r.gone += b.gone;
    r.changed += b.refused?.length ?? 0;
    r.failedCount += b.failed.length;
    for (const f of b.failed) r.failed.push({ index: f.index, errno: errnoNumber(f.errno) });
  }
  return encodeResult(r);
}

function errnoNumber(name: string): number {
  return (constants.errno as Record<string, number>)[name] ?? 0;
}
