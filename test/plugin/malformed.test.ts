// The SDK parser on hostile bytes: truncation at every offset, bad attribute lengths
// (0, 3, 0xffff, one past the end, nested longer than its parent), random corruption.
// Oracles: the plugin never traps; and what it reports is identical whatever lies after the
// message in memory (two different poisons), i.e. it never reads outside the message.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PluginRun, testPluginPath, built } from './harness.js';
import { entryMessage, IPS, TCP, type EntrySpec } from '../helpers/ctmsg.js';

const PROBE = testPluginPath('probe');
const LONG = process.env.CTPLUG_LONG === '1';

// poison A: zeros; poison B: a stream of plausible attributes of every type carrying 0xdeadbeef
const POISON_A = new Uint8Array(8);
const POISON_B = (() => {
  const b = new Uint8Array(8 * 30);
  for (let k = 0; k < 30; k++) b.set([8, 0, k + 1, k % 2 ? 0x80 : 0, 0xde, 0xad, 0xbe, 0xef], k * 8);
  return b;
})();

const full: EntrySpec = {
  proto: 'tcp', src: '2001:db8::1', dst: '2001:db8::2', sport: 1234, dport: 443, timeout: 300, tcpState: TCP.ESTABLISHED,
  tcpWscale: [7, 7], status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED, mark: 42, zone: 7, use: 1, id: 99, secmark: 3,
  counters: { orig: [1n, 2n], reply: [3n, 4n] }, timestamp: { start: 1n, stop: 2n }, labels: new Uint8Array(16).fill(1),
  helper: 'ftp', secctx: 'ctx', master: { src: '2001:db8::3', dst: '2001:db8::4', sport: 1, dport: 2 },
};
const small: EntrySpec = { proto: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 5, dport: 53, timeout: 30 };

function probe(config: unknown = { mode: 'both' }): PluginRun {
  const r = new PluginRun(PROBE, config).start();
  assert.is(r.init(), 0);
  return r;
}

/** Feed `msg` twice with different poisons after it; outputs must agree and nothing may trap. */
function sameWithBothPoisons(msg: Uint8Array, what: string): string {
  const a = probe(), b = probe();
  let ra: number, rb: number;
  try {
    ra = a.feed(msg, 0, 4096, POISON_A);
    rb = b.feed(msg, 0, 4096, POISON_B);
    a.finish(); b.finish(); // output is handed over at finish (or once enough is buffered)
  } catch (e) {
    throw new Error(`${what}: plugin trapped: ${(e as Error).message}; logs ${JSON.stringify(a.logs.concat(b.logs))}`);
  }
  assert.is(ra, rb, what);
  assert.is(a.output, b.output, `${what}: output depends on bytes past the message`);
  assert.not.ok(/3735928559|222\.173\.190\.239|dead:beef/.test(b.output), `${what}: poison leaked into output`);
  return a.output;
}

/** Offsets of every attribute header inside the message (top-level and nested), with its parent's end. */
function attrHeaders(msg: Uint8Array): { at: number; parentEnd: number; nested: boolean }[] {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const out: { at: number; parentEnd: number; nested: boolean }[] = [];
  const walk = (start: number, end: number) => {
    for (let p = start; p + 4 <= end;) {
      const len = v.getUint16(p, true), type = v.getUint16(p + 2, true);
      if (len < 4 || p + len > end) break;
      const nested = (type & 0x8000) !== 0;
      out.push({ at: p, parentEnd: end, nested });
      if (nested) walk(p + 4, p + len);
      p += (len + 3) & ~3;
    }
  };
  walk(20, msg.length);
  return out;
}

if (!built(PROBE)) {
  console.log('SKIP malformed-input tests: dist/test-plugins/probe.wasm missing (npm test builds it; or node scripts/build-plugins.mjs --fixtures)');
  test.skip('probe plugin built', () => {});
} else {
  test('baseline: the full message parses and renders identically under both poisons', () => {
    const out = sameWithBothPoisons(entryMessage(full), 'baseline');
    assert.ok(out.includes('"helper":"ftp"'), out);
    assert.not.ok(out.includes('MALFORMED'));
  });

  for (const [name, spec] of [['full', full], ['small', small]] as const) {
    test(`${name}: truncated at every offset, nlmsg_len patched to the cut`, () => {
      const msg = entryMessage(spec);
      for (let cut = 0; cut <= msg.length; cut++) {
        const m = msg.slice(0, cut);
        if (cut >= 4) new DataView(m.buffer).setUint32(0, cut, true);
        const out = sameWithBothPoisons(m, `cut ${cut}`);
        if (cut < 20) assert.is(out, '', `cut ${cut}: nothing below a whole header`);
      }
    });

    test(`${name}: truncated at every offset, nlmsg_len left claiming the whole message`, () => {
      const msg = entryMessage(spec);
      for (let cut = 0; cut < msg.length; cut++) {
        const out = sameWithBothPoisons(msg.slice(0, cut), `cut ${cut}`);
        assert.is(out, '', `cut ${cut}: a message longer than the batch is dropped`);
      }
    });

    test(`${name}: every attribute length set to 0, 3, 4, 0xffff, one past its parent`, () => {
      const msg = entryMessage(spec);
      const headers = attrHeaders(msg);
      assert.ok(headers.length > 10);
      for (const h of headers) {
        for (const bad of [0, 1, 3, 4, 5, 0xffff, h.parentEnd - h.at + 1, msg.length - h.at + 4]) {
          const m = msg.slice();
          new DataView(m.buffer).setUint16(h.at, bad & 0xffff, true);
          sameWithBothPoisons(m, `attr@${h.at} len=${bad}`);
        }
      }
    });
  }

  test('nested attribute longer than its parent: stops at the parent, no address from outside', () => {
    const msg = entryMessage(small);
    const h = attrHeaders(msg);
    // CTA_TUPLE_ORIG (first) > CTA_TUPLE_IP (second): make IP claim 8 bytes more than the tuple holds
    const tuple = h[0], ip = h[1];
    const v = new DataView(msg.buffer);
    const tupleLen = v.getUint16(tuple.at, true);
    v.setUint16(ip.at, tupleLen - 4 + 8, true);
    const out = sameWithBothPoisons(msg, 'nested overrun');
    const o = JSON.parse(out.split('\n')[0]);
    assert.is(o.orig.src, undefined, 'no address read from an overrunning nest');
    assert.is(o.reply.src, '10.0.0.2', 'the next top-level attribute still parses');
  });

  test('lengths 0/3/0xffff in the top-level walk flag the entry as malformed', () => {
    const msg = entryMessage(small);
    const last = attrHeaders(msg).filter((x) => x.parentEnd === msg.length).pop()!;
    new DataView(msg.buffer).setUint16(last.at, 3, true);
    const out = sameWithBothPoisons(msg, 'len 3');
    assert.ok(out.includes('MALFORMED'));
  });

  test('non-ctnetlink and control messages in a batch are skipped, entries around them kept', () => {
    const e = entryMessage(small);
    const other = e.slice(); new DataView(other.buffer).setUint16(4, (2 << 8) | 0, true); // subsystem 2
    const done = new Uint8Array(20); new DataView(done.buffer).setUint32(0, 20, true); new DataView(done.buffer).setUint16(4, 3, true);
    const b = new Uint8Array([...e, ...other, ...e, ...done]);
    const r = probe({ mode: 'text' });
    r.feed(b);
    r.finish();
    assert.is(r.lines.length, 2);
  });

  test('random corruption never traps and never reads past the message', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const base = entryMessage(full);
    const rounds = LONG ? 20000 : 1500;
    for (let i = 0; i < rounds; i++) {
      const m = base.slice();
      const flips = 1 + Math.floor(rnd() * 6);
      for (let k = 0; k < flips; k++) m[20 + Math.floor(rnd() * (m.length - 20))] = Math.floor(rnd() * 256);
      if (rnd() < 0.3) new DataView(m.buffer).setUint32(0, 20 + Math.floor(rnd() * (m.length - 20)), true);
      sameWithBothPoisons(m, `round ${i}`);
    }
  });
}

test.run();
