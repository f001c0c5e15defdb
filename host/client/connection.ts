// The client side of the daemon protocol (sdk/abi.json `wire`): one connection to `ctplug daemon`,
// opened with HELLO (the namespace and the capabilities this client asks for) and answered with
// the session grant. Requests go out as frames with fresh ids and are matched to their replies;
// streams (dumps, events) are pulled frame by frame with credit (abi.json wire.window), so the
// daemon never sends more than a stream's reader has room for, and replies are never stuck behind
// unread stream frames: this side reads its socket all the time and buffers at most the window
// per stream. Errors are CtErrors like a direct Conntrack's: the daemon's refusals as 'privilege'
// (exit 3), a daemon that is not there or went away as 'environment' (exit 4): a request whose
// answer did not arrive is never reported as done.
import { connect, type Socket } from 'node:net';
import { CtError, type ErrorKind } from '../conntrack/errors.js';
import type { Capabilities, CapabilitiesDocument } from '../policy/capabilities.js';
import { STATUS } from '../policy/abi.js';
import { encodeFrame, type Frame, FrameReader, FRAME, wire } from '../wire/frame.js';
import { decodeError, writeRecord } from '../wire/records.js';

const STATUS_NAME = new Map(Object.entries(STATUS).map(([k, v]) => [v, k]));

export interface HelloOptions {
  /** The `ip netns` name to work in; undefined: the daemon's own namespace. */
  netns?: string;
  /** What this session asks for, within the client's policy entry (a plugin's grant); null: the whole entry. */
  capabilities: Capabilities | CapabilitiesDocument | null;
}

export interface Welcome { version: number; grant: Capabilities; netns: string | null }

/** A reply the daemon refused (an ABI status) or failed (a CtError from its side). */
export function daemonError(status: number, text: string, path: string): CtError {
  if (status === 0) {
    try {
      const j = JSON.parse(text) as { op: string; code: string; kind: ErrorKind; detail: string; hint?: string };
      return new CtError(j.op, j.code, j.kind, j.detail, { hint: j.hint });
    } catch {
      return new CtError('daemon', 'EDAEMON', 'kernel', text);
    }
  }
  const name = STATUS_NAME.get(status) ?? String(status);
  const kind: ErrorKind = name === 'E_DENIED' || name === 'E_SCOPE' ? 'privilege' : name === 'E_INVAL' ? 'usage' : 'environment';
  return new CtError('daemon', name, kind, `the ctplug daemon at ${path} refused (${name}): ${text}`, {
    hint: kind === 'privilege' ? 'the daemon policy\'s "clients" entry for your user decides what you may do; ask its operator' : undefined,
  });
}

function gone(path: string, why: string): CtError {
  return new CtError('daemon', 'ECONNRESET', 'environment', `the ctplug daemon at ${path} ${why}; what was in progress is not reported as done`, {
    hint: 'run the command again once the daemon is back (systemctl status ctplug)',
  });
}

interface Waiter { onFrame(f: Frame): void; onError(e: CtError): void }

/** Frames of one stream (ENTRIES, EVENTS, OVERRUN), pulled by next(); credit goes back as they are taken. */
export class FrameStream {
  private readonly queue: Frame[] = [];
  private wake?: () => void;
  private end: Frame | CtError | undefined;
  private taken = 0;

  constructor(private readonly conn: DaemonConnection, readonly id: number) {}

  /** @internal */
  push(f: Frame | CtError): void {
    if (f instanceof CtError || f.type === FRAME.DONE || f.type === FRAME.ERROR) this.end ??= f;
    else this.queue.push(f);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The next frame; null after DONE; throws the stream's error. */
  async next(): Promise<Frame | null> {
    for (;;) {
      const f = this.queue.shift();
      if (f) {
        // Half the window consumed: give it back, so the daemon keeps sending while this reads.
        if (++this.taken >= wire.window / 2) {
          this.conn.send(FRAME.CREDIT, this.id, 0, writeRecord('Credit', { frames: this.taken }));
          this.taken = 0;
        }
        return f;
      }
      if (this.end) {
        if (this.end instanceof CtError) throw this.end;
        if (this.end.type === FRAME.ERROR) {
          const { status, text } = decodeError(this.end.payload);
          throw daemonError(status, text, this.conn.path);
        }
        return null;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** The DONE frame's payload, once next() returned null. */
  get done(): Uint8Array | undefined {
    return this.end && !(this.end instanceof CtError) && this.end.type === FRAME.DONE ? this.end.payload : undefined;
  }

  /** Frames already buffered (the daemon sends at most the window ahead). */
  get buffered(): number {
    return this.queue.length;
  }

  /** Drops what is buffered (stale events after an overrun). */
  discard(): number {
    return this.queue.splice(0).length;
  }

  /** Asks the daemon to end the stream early; what was buffered is dropped. */
  stop(): void {
    this.queue.length = 0;
    if (!this.end) this.conn.send(FRAME.STOP, this.id, 0);
  }
}

export class DaemonConnection {
  private readonly reader = new FrameReader('daemon');
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  private failure?: CtError;
  welcome!: Welcome;

  private constructor(private readonly sock: Socket, readonly path: string) {
    sock.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk);
      } catch (e) {
        return this.fail(gone(this.path, `sent a frame this client cannot read (${(e as Error).message})`));
      }
      for (const f of frames) this.dispatch(f);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => this.fail(gone(this.path, `connection failed (${e.code ?? e.message})`)));
    sock.on('close', () => this.fail(gone(this.path, 'closed the connection (it stopped or restarted)')));
  }

  /** Connects and opens the session (HELLO -> WELCOME); a refusal is a CtError (privilege). */
  static async open(path: string, hello: HelloOptions): Promise<DaemonConnection> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => { s.off('error', reject); resolve(s); });
      s.once('error', (e: NodeJS.ErrnoException) => reject(new CtError('daemon', e.code ?? 'ECONNREFUSED', e.code === 'EACCES' ? 'privilege' : 'environment',
        `cannot connect to the ctplug daemon at ${path} (${e.code ?? e.message})`, { hint: 'is it running? (ctplug daemon, or systemctl start ctplug.socket); or unset CTPLUG_SOCKET to work directly as root' })));
    });
    const c = new DaemonConnection(sock, path);
    const doc = { version: wire.version, netns: hello.netns ?? null, capabilities: hello.capabilities };
    const f = await c.request(FRAME.HELLO, Buffer.from(JSON.stringify(doc)));
    c.welcome = JSON.parse(Buffer.from(f.payload).toString('utf8')) as Welcome;
    return c;
  }

  private dispatch(f: Frame): void {
    if (f.id === 0 && f.type === FRAME.ERROR) {
      const { status, text } = decodeError(f.payload);
      return this.fail(daemonError(status, text, this.path));
    }
    this.waiters.get(f.id)?.onFrame(f);
  }

  private fail(e: CtError): void {
    if (this.failure) return;
    this.failure = e;
    for (const w of this.waiters.values()) w.onError(e);
    this.waiters.clear();
    this.sock.destroy();
  }

  /** @internal */
  send(type: number, id: number, flags: number, ...parts: Uint8Array[]): void {
    if (!this.failure) this.sock.write(encodeFrame(type, id, flags, ...parts));
  }

  /** One request and its one reply frame (RESULT, WELCOME, STATS_REPLY); an ERROR rejects. */
  request(type: number, payload: Uint8Array, flags = 0): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Frame>((resolve, reject) => {
      this.waiters.set(id, {
        onFrame: (f) => {
          this.waiters.delete(id);
          if (f.type === FRAME.ERROR) {
            const { status, text } = decodeError(f.payload);
            reject(daemonError(status, text, this.path));
          } else resolve({ ...f, payload: f.payload.slice() });
        },
        onError: reject,
      });
      this.send(type, id, flags, payload);
    });
  }

  /** A request answered by a stream of frames ending in DONE (or ERROR). */
  stream(type: number, payload: Uint8Array, flags = 0): FrameStream {
    const id = this.nextId++;
    const s = new FrameStream(this, id);
    if (this.failure) {
      s.push(this.failure);
      return s;
    }
    this.waiters.set(id, {
      onFrame: (f) => {
        if (f.type === FRAME.DONE || f.type === FRAME.ERROR) this.waiters.delete(id);
        s.push(f);
      },
      onError: (e) => s.push(e),
    });
    this.send(type, id, flags, payload);
    return s;
  }

  close(): void {
    this.failure ??= gone(this.path, 'connection was closed by this client');
    this.waiters.clear();
    this.sock.end();
    this.sock.destroy();
  }
}
