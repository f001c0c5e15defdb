// The daemon protocol's framing (sdk/abi.json `wire`): a 12-byte header (length, type, flags, id)
// then the payload. Frame types, header offsets and the size limit come from abi.json; nothing
// here spells one. FrameReader is the one parser of the byte stream on both sides (the daemon
// reads untrusted clients with it): it never holds more than one frame, and a header it cannot
// accept (length out of bounds, unknown type) is an error that ends the connection.
import { abi } from '../policy/abi.js';

interface FieldDef { offset: number; type: string; bits?: Record<string, number> }
interface RecordDef { size: number; fields: Record<string, FieldDef> }
export interface WireDef {
  version: number;
  maxFrameBytes: number;
  header: RecordDef;
  frames: Record<string, { code: number; from: 'client' | 'daemon'; payload: string; import?: string; needs?: string }>;
  flagBits: Record<string, number>;
  /** ENTRIES/EVENTS frames of one stream the daemon may send before the client's CREDIT. */
  window: number;
  records: Record<string, RecordDef>;
}

export const wire = (abi as unknown as { wire: WireDef }).wire;

const FRAME_NAMES = [
  'HELLO', 'DUMP', 'DELETE', 'UPDATE', 'CREATE', 'FLUSH', 'SUBSCRIBE', 'COUNT', 'STATS', 'GET', 'STOP', 'CREDIT', 'CLIENTS',
  'WELCOME', 'RESULT', 'ERROR', 'ENTRIES', 'DONE', 'EVENTS', 'OVERRUN', 'STATS_REPLY', 'CLIENTS_REPLY',
] as const;
export type FrameName = (typeof FRAME_NAMES)[number];
/** Frame type codes by name (abi.json wire.frames); a name the code uses and abi.json lacks fails at load. */
export const FRAME = Object.fromEntries(FRAME_NAMES.map((k) => {
  const f = wire.frames[k];
  if (!f) throw new Error(`sdk/abi.json wire.frames has no ${k}`);
  return [k, f.code];
})) as Record<FrameName, number>;

const H = wire.header;
export const HEADER_SIZE = H.size;
const OFF = { length: H.fields.length.offset, type: H.fields.type.offset, flags: H.fields.flags.offset, id: H.fields.id.offset };
/** Header flag bits (RESYNC on ENTRIES, as the ABI's batch flag) and request flag bits (REPLY on GET). */
export const FLAG = { ...H.fields.flags.bits!, ...wire.flagBits } as Record<'RESYNC' | 'REPLY', number>;

const byCode = new Map(Object.entries(wire.frames).map(([name, f]) => [f.code, { name, ...f }]));
/** The frame definition of a type code, or undefined (an unknown type ends the connection). */
export const frameDef = (code: number) => byCode.get(code);

export interface Frame {
  type: number;
  flags: number;
  id: number;
  /** A view into the reader's buffer: valid until the reader is fed again. */
  payload: Uint8Array;
}

export class FrameError extends Error {
  readonly code = 'EPROTO';
  /** The whole frames before the bad header in the same push (the stream ends at the error either way). */
  frames: Frame[] = [];
}

/** One frame's bytes: header and payload (payload parts are concatenated). */
export function encodeFrame(type: number, id: number, flags: number, ...parts: Uint8Array[]): Buffer {
  const len = HEADER_SIZE + parts.reduce((n, p) => n + p.length, 0);
  if (len > wire.maxFrameBytes) throw new RangeError(`frame of ${len} bytes exceeds the ${wire.maxFrameBytes}-byte limit`);
  const out = Buffer.allocUnsafe(len);
  writeHeader(out, 0, len, type, flags, id);
  let at = HEADER_SIZE;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes a header at `at` (a sender that fills the payload in place, e.g. a dump batch). */
export function writeHeader(buf: Uint8Array, at: number, length: number, type: number, flags: number, id: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset + at, HEADER_SIZE);
  v.setUint32(OFF.length, length, true);
  v.setUint16(OFF.type, type, true);
  v.setUint16(OFF.flags, flags, true);
  v.setUint32(OFF.id, id, true);
}

/**
 * Splits a byte stream into frames. `push` takes what the socket delivered and returns the whole
 * frames in it (their payloads are views valid until the next push); a partial frame is kept, at
 * most one frame's worth (`maxFrameBytes`). `from`: whose frames are expected ('client' for the
 * daemon's reader): any other type, or a length outside [header, max], throws FrameError.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private have = 0;

  constructor(private readonly from: 'client' | 'daemon', private readonly max = wire.maxFrameBytes) {}

  /** Bytes held for a frame not yet complete. */
  get pending(): number {
    return this.have;
  }

  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    try {
      return this.take(chunk, frames);
    } catch (e) {
      if (e instanceof FrameError) e.frames = frames;
      throw e;
    }
  }

  private take(chunk: Uint8Array, frames: Frame[]): Frame[] {
    let data: Uint8Array = chunk;
    if (this.have) {
      // Complete the partial frame first (at most one frame is ever held).
      const need = this.need(this.buf, this.have);
      const take = Math.min(data.length, need - this.have);
      this.ensure(this.have + take);
      this.buf.set(data.subarray(0, take), this.have);
      this.have += take;
      data = data.subarray(take);
      if (this.have < HEADER_SIZE || this.have < this.need(this.buf, this.have)) {
        if (data.length) return this.take(data, frames); // the header just completed: its length is known now
        return frames;
      }
      frames.push(this.frame(this.buf, 0));
      // The payload views this.buf: later pushes start a new buffer rather than overwrite it.
      this.buf = Buffer.alloc(0);
      this.have = 0;
    }
    let p = 0;
    while (data.length - p >= HEADER_SIZE) {
      const len = this.need(data, data.length, p);
      if (data.length - p < len) break;
      frames.push(this.frame(data, p));
      p += len;
    }
    if (p < data.length) {
      const rest = data.subarray(p);
      if (rest.length >= HEADER_SIZE) this.need(rest, rest.length); // checks the header now: a bad length fails at once
      this.ensure(rest.length);
      this.buf.set(rest, 0);
      this.have = rest.length;
    }
    return frames;
  }

  /** The length of the frame at `at` once its header is there (checked), else the header size. */
  private need(b: Uint8Array, end: number, at = 0): number {
    if (end - at < HEADER_SIZE) return HEADER_SIZE;
    const v = new DataView(b.buffer, b.byteOffset + at, HEADER_SIZE);
    const len = v.getUint32(OFF.length, true);
    const type = v.getUint16(OFF.type, true);
    if (len < HEADER_SIZE || len > this.max) throw new FrameError(`frame length ${len} is outside ${HEADER_SIZE}..${this.max}`);
    const def = byCode.get(type);
    if (!def || def.from !== this.from) throw new FrameError(`frame type ${type} is not one a ${this.from} sends`);
    return len;
  }

  private frame(b: Uint8Array, at: number): Frame {
    const v = new DataView(b.buffer, b.byteOffset + at, HEADER_SIZE);
    const len = v.getUint32(OFF.length, true);
    return { type: v.getUint16(OFF.type, true), flags: v.getUint16(OFF.flags, true), id: v.getUint32(OFF.id, true), payload: b.subarray(at + HEADER_SIZE, at + len) };
  }

  private ensure(n: number): void {
    if (this.buf.length >= n) return;
    // Grows to the frame's size only once its header said how long it is (never past max).
    const next = Buffer.alloc(Math.min(this.max, Math.max(n, 2 * this.buf.length, 4096)));
    next.set(this.buf.subarray(0, this.have));
    this.buf = next;
  }
}
