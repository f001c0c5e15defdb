// Fuzzing the daemon's frame parser (host/wire/frame.ts FrameReader: what reads every byte an
// untrusted client sends) with mutated frame streams delivered in random chunks. Oracle: a plain
// reference parse of the whole stream. The reader must return exactly the reference's frames, in
// order, throw FrameError (nothing else) exactly when the reference meets a bad header, and never
// hold more than one frame's worth of bytes. ITERATIONS inputs (1,000,000 with CTPLUG_LONG=1).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, FrameError, FrameReader, frameDef, FRAME, HEADER_SIZE } from '../../host/wire/frame.js';
import { dumpRequestOf, writeRecord } from '../../host/wire/records.js';
import { ITERATIONS, Rng } from './mutate.js';

/** A small limit, so the fuzzer reaches "too long" and "exactly the limit" often. */
const MAX = 4096;

interface Ref { frames: { type: number; flags: number; id: number; payload: Buffer }[]; bad: boolean }

/** The reference: frames one after the other until a header is wrong (or the bytes end). */
function reference(b: Uint8Array): Ref {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const frames: Ref['frames'] = [];
  for (let p = 0; p + HEADER_SIZE <= b.length; ) {
    const len = v.getUint32(p, true), type = v.getUint16(p + 4, true);
    if (len < HEADER_SIZE || len > MAX || frameDef(type)?.from !== 'client') return { frames, bad: true };
    if (p + len > b.length) break;
    frames.push({ type, flags: v.getUint16(p + 6, true), id: v.getUint32(p + 8, true), payload: Buffer.from(b.subarray(p + HEADER_SIZE, p + len)) });
    p += len;
  }
  return { frames, bad: false };
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  const v = new DataView(b.buffer);
  for (let i = 0; i + 4 <= n; i += 4) v.setUint32(i, rng.next());
  for (let i = n & ~3; i < n; i++) b[i] = rng.below(256);
  return b;
}

function seedStream(rng: Rng): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 1 + rng.below(5); i > 0; i--) {
    switch (rng.below(6)) {
      case 0: parts.push(encodeFrame(FRAME.HELLO, 1, 0, Buffer.from('{"version":1,"netns":null,"capabilities":null}'))); break;
      case 1: parts.push(encodeFrame(FRAME.DUMP, rng.next(), 0, dumpRequestOf({ zone: rng.below(65536) }))); break;
      case 2: parts.push(encodeFrame(FRAME.CREDIT, rng.next(), 0, writeRecord('Credit', { frames: rng.below(9) }))); break;
      case 3: parts.push(encodeFrame(FRAME.STOP, rng.next(), 0)); break;
      case 4: parts.push(encodeFrame(FRAME.DELETE, rng.next(), 0, randomBytes(rng, rng.below(MAX - HEADER_SIZE + 1)))); break;
      default: parts.push(encodeFrame(FRAME.COUNT, rng.next(), rng.below(4), dumpRequestOf({}))); break;
    }
  }
  return Buffer.concat(parts);
}

function mutate(rng: Rng, d: Uint8Array): Uint8Array {
  const out = Uint8Array.from(d);
  const v = new DataView(out.buffer);
  switch (rng.below(7)) {
    case 0: for (let i = 1 + rng.below(4); i > 0; i--) out[rng.below(out.length)] ^= 1 << rng.below(8); return out;
    case 1: return out.subarray(0, rng.below(out.length + 1));
    case 2: { // a header's length: 0, short, the limit, past it, huge
      const at = headerAt(rng, out);
      if (at >= 0 && at + 4 <= out.length) v.setUint32(at, [0, 1, 11, 12, 13, MAX, MAX + 1, 0xffffffff, rng.next()][rng.below(9)], true);
      return out;
    }
    case 3: { // a header's type: a daemon frame, unknown, zero
      const at = headerAt(rng, out);
      if (at >= 0 && at + 6 <= out.length) v.setUint16(at + 4, [0, FRAME.WELCOME, FRAME.ENTRIES, 13, 63, 0xffff, rng.below(80)][rng.below(7)], true);
      return out;
    }
    case 4: for (let i = 1 + rng.below(8); i > 0; i--) out[rng.below(out.length)] = rng.below(256); return out;
    case 5: return Uint8Array.from([...out, ...out.subarray(rng.below(out.length))]);
    default: return randomBytes(rng, rng.below(64));
  }
}

/** The offset of a frame header in the (unmutated part of the) stream, or -1. */
function headerAt(rng: Rng, b: Uint8Array): number {
  const at: number[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  for (let p = 0; p + HEADER_SIZE <= b.length; ) {
    at.push(p);
    const len = v.getUint32(p, true);
    if (len < HEADER_SIZE) break;
    p += len;
  }
  return at.length ? at[rng.below(at.length)] : -1;
}

/** Feeds `b` in random chunks; the frames got (copied) and whether FrameError ended it. */
function feed(rng: Rng, b: Uint8Array): Ref {
  const r = new FrameReader('client', MAX);
  const frames: Ref['frames'] = [];
  let p = 0;
  try {
    while (p < b.length) {
      const n = 1 + rng.below(rng.below(2) ? 16 : b.length);
      for (const f of r.push(b.subarray(p, p + n))) frames.push({ type: f.type, flags: f.flags, id: f.id, payload: Buffer.from(f.payload) });
      p += n;
      if (r.pending > MAX) throw new Error(`the reader holds ${r.pending} bytes (> ${MAX})`);
    }
  } catch (e) {
    if (e instanceof FrameError) {
      for (const f of e.frames) frames.push({ type: f.type, flags: f.flags, id: f.id, payload: Buffer.from(f.payload) });
      return { frames, bad: true };
    }
    throw e;
  }
  return { frames, bad: false };
}

test(`wire FrameReader: ${ITERATIONS} mutated client streams in random chunks agree with the reference parse`, () => {
  const rng = new Rng(0x5eed14);
  const t0 = Date.now();
  let bad = 0, frames = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const seed = seedStream(rng);
    const input = i % 8 === 0 ? seed : mutate(rng, seed);
    const want = reference(input);
    let got: Ref;
    try {
      got = feed(rng, input);
    } catch (e) {
      throw new Error(`input ${i} (${Buffer.from(input).toString('hex').slice(0, 200)}): ${(e as Error).stack}`);
    }
    if (got.bad !== want.bad || got.frames.length !== want.frames.length) {
      assert.equal(got, want, `input ${i}: ${Buffer.from(input).toString("hex")}`);
    }
    for (let k = 0; k < want.frames.length; k++) {
      const a = got.frames[k], w = want.frames[k];
      if (a.type !== w.type || a.id !== w.id || a.flags !== w.flags || !a.payload.equals(w.payload)) {
        assert.equal(a, w, `input ${i}, frame ${k}`);
      }
    }
    if (want.bad) bad++;
    frames += want.frames.length;
  }
  console.log(`fuzz wire: ${ITERATIONS} inputs in ${Date.now() - t0} ms, ${bad} ended by a bad header, ${frames} frames`);
});

test('wire FrameReader: the limit is the frame, header included; a daemon frame from a client ends the stream', () => {
  const r = new FrameReader('client', MAX);
  const ok = encodeFrame(FRAME.DELETE, 7, 0, new Uint8Array(MAX - HEADER_SIZE));
  assert.is(r.push(ok).length, 1);
  const over = Buffer.from(ok);
  over.writeUInt32LE(MAX + 1, 0);
  assert.throws(() => new FrameReader('client', MAX).push(over.subarray(0, HEADER_SIZE)), (e: unknown) => e instanceof FrameError);
  assert.throws(() => new FrameReader('client').push(encodeFrame(FRAME.WELCOME, 1, 0)), (e: unknown) => e instanceof FrameError);
});

test.run();
