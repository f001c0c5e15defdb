// Fuzzing the host's parsers with mutated real dump buffers: message framing, attribute
// decoding, the scope scanner, the flow decoder, error acks, and a whole dump through NetlinkConnection with a
// socket that answers with the mutated bytes. The host may reject; it must never throw an
// untyped error, read outside its input, or hang.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttrDecoder } from '../../host/netlink/attr.js';
import { NetlinkConnection } from '../../host/netlink/connection.js';
import { NetlinkError, parseAck } from '../../host/netlink/errors.js';
import { MessageReader } from '../../host/netlink/message.js';
import type { NetlinkSocketLike } from '../../host/netlink/socket.js';
import { kernelDumpRequest } from '../../host/conntrack/request.js';
import { decodeFlow } from '../../host/conntrack/flow.js';
import { emptyScope, scanInto } from '../../host/conntrack/scope.js';
import { packageRoot } from '../../host/paths.js';
import { ITERATIONS, Rng, mutate, regressionInputs, seeds } from './mutate.js';

/** Everything the host does with untrusted bytes. Returns a checksum so nothing is optimised away. */
function parseAll(d: Uint8Array): number {
  let sum = 0;
  const r = new MessageReader(d);
  const s = emptyScope();
  while (r.next()) {
    const h = r.header;
    if (scanInto(d, h.offset, h.length, s)) sum += s.zone + s.mark + s.protocol + s.tupleLength;
    sum += decodeFlow(d.subarray(h.offset, h.offset + h.length))?.orig.src.length ?? 0;
    if (h.type === 2) sum += parseAck(r.message(), h.flags)?.errno ?? 0;
    for (const a = new AttrDecoder(d, h.offset + 20, h.offset + h.length); a.next(); ) {
      sum += a.type;
      if (a.nested) for (const c = a.children(); c.next(); ) sum += c.length;
    }
  }
  return sum;
}

/** A socket that answers a dump request with `answer`, then (if the host asks for more) a DONE. */
function replaySocket(answer: Uint8Array): NetlinkSocketLike {
  let seq = 0;
  let queue: Uint8Array[] = [];
  return {
    send(data) {
      seq = new DataView(data.buffer, data.byteOffset).getUint32(8, true);
      const a = answer.slice();
      // Put the request's seq into every message header we can find, so the answer is "ours".
      const v = new DataView(a.buffer);
      for (let p = 0; p + 16 <= a.length; ) {
        const len = v.getUint32(p, true);
        v.setUint32(p + 8, seq, true);
        if (len < 16) break;
        p += len + ((4 - (len % 4)) % 4);
      }
      const done = new Uint8Array(20);
      new DataView(done.buffer).setUint32(0, 20, true);
      new DataView(done.buffer).setUint16(4, 3, true);
      new DataView(done.buffer).setUint32(8, seq, true);
      queue = [a, done];
      return data.length;
    },
    recv(buf) {
      const d = queue.shift();
      if (!d) throw new Error('host asked for more data than the dump holds (it would hang)');
      buf.set(d.subarray(0, buf.length));
      return Math.min(d.length, buf.length);
    },
    readable: () => Promise.reject(new Error('not used')),
    setsockopt() {},
    getsockopt: () => 0,
    attachFilter() {},
    close() {},
  };
}

function dumpThrough(d: Uint8Array): void {
  const conn = new NetlinkConnection(replaySocket(d));
  try {
    conn.dumpSync((enc, seq) => kernelDumpRequest(enc, seq, { family: 0 }), new Uint8Array(65536), (b) => void parseAll(b));
  } catch (e) {
    if (!(e instanceof NetlinkError)) throw e; // typed rejections are fine
  }
}

test(`host framing, attribute decoder, scope scanner and dump loop: ${ITERATIONS} mutated inputs, no untyped error`, () => {
  const base = seeds();
  const rng = new Rng(0x51a7e);
  const byKind: Record<string, number> = {};
  let crashes = 0;
  const t0 = Date.now();
  for (const input of regressionInputs('host')) {
    parseAll(input);
    dumpThrough(input);
  }
  for (let i = 0; i < ITERATIONS; i++) {
    const { kind, data } = mutate(rng, base[rng.below(base.length)], base[rng.below(base.length)]);
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    try {
      parseAll(data);
      if (i % 8 === 0) dumpThrough(data); // the full loop is slower; a sample is enough
    } catch (e) {
      crashes++;
      const file = join(packageRoot(), 'test', 'fuzz', 'regressions', `host-${i}.bin`);
      writeFileSync(file, data);
      console.error(`crash on input ${i} (${kind}), saved to ${file}: ${(e as Error).stack}`);
    }
  }
  console.log(`fuzz host: ${ITERATIONS} inputs in ${Date.now() - t0} ms, ${crashes} crashes; by mutator ${JSON.stringify(byKind)}`);
  assert.is(crashes, 0);
});

test.run();
