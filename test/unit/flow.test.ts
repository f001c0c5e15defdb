// decodeFlow: recorded real-kernel dumps decoded and compared field by field with what
// `conntrack -L -o extended` and `-o id` printed for the same table (test/fixtures), plus built
// messages for what the recordings do not hold (NAT, labels, helper, directional zones, SCTP,
// DCCP, timestamps, 32-bit counters, master tuple).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatAddress } from '../../host/conntrack/address.js';
import { decodeFlow, type Flow } from '../../host/conntrack/flow.js';
import { splitMessages } from '../../host/netlink/message.js';
import { IPS, TCP, entryMessage } from '../helpers/ctmsg.js';

const dir = join('test', 'fixtures');
const variants = readdirSync(dir).filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4));

/** One `conntrack -L -o extended` line as the fields a Flow carries. */
function fromText(line: string, id: string | undefined) {
  const words = line.trim().split(/\s+/);
  const [family, , protocol, protocolNumber, timeout] = words;
  const rest = words.slice(5);
  const state = /^[A-Z_]+$/.test(rest[0]) ? rest.shift() : undefined;
  const tuples: Record<string, number | string>[] = [];
  const out: Record<string, unknown> = { family, protocol, protocolNumber: Number(protocolNumber), timeout: Number(timeout), state, flags: [] as string[] };
  for (const w of rest) {
    const m = w.match(/^([a-z-]+)=(.*)$/);
    if (!m) {
      (out.flags as string[]).push(w);
      continue;
    }
    const [, k, v] = m;
    if (k === 'src') tuples.push({});
    if (['src', 'dst'].includes(k)) tuples.at(-1)![k] = v;
    else if (['sport', 'dport', 'type', 'code', 'id', 'packets', 'bytes'].includes(k) && tuples.length <= 2 && !(k in tuples.at(-1)!)) tuples.at(-1)![k] = Number(v);
    else out[k] = Number(v);
  }
  out.tuples = tuples;
  if (id !== undefined) out.id = Number(id.match(/ id=(\d+)$/)![1]);
  return out;
}

function fromFlow(f: Flow) {
  const t = (x: Flow['orig'], dir: 'orig' | 'reply') => {
    const o: Record<string, number | string> = { src: x.src, dst: x.dst };
    if (x.sport !== undefined) Object.assign(o, { sport: x.sport, dport: x.dport });
    if (x.icmp) Object.assign(o, x.icmp);
    const c = f.counters?.[dir];
    if (c) Object.assign(o, c);
    return o;
  };
  const flags = [...(f.flags.includes('SEEN_REPLY') ? [] : ['[UNREPLIED]']), ...(f.flags.includes('ASSURED') ? ['[ASSURED]'] : [])];
  const out: Record<string, unknown> = {
    family: f.family, protocol: f.protocol, protocolNumber: f.protocolNumber, timeout: f.timeout, state: f.state, flags,
    mark: f.mark, use: f.use, tuples: [t(f.orig, 'orig'), t(f.reply, 'reply')], id: f.id,
  };
  if (f.zone) out.zone = f.zone;
  return out;
}

for (const v of variants) {
  test(`${v}: every recorded entry decodes to what conntrack -L printed`, () => {
    const msgs = [...splitMessages(new Uint8Array(readFileSync(join(dir, `${v}.bin`))))];
    const text = readFileSync(join(dir, `${v}.conntrack-L-extended.txt`), 'utf8').trim().split('\n');
    const ids = readFileSync(join(dir, `${v}.conntrack-L-id.txt`), 'utf8').trim().split('\n');
    assert.is(msgs.length, text.length);
    const got = msgs.map((m) => fromFlow(decodeFlow(m)!));
    const want = text.map((line, i) => {
      const o = fromText(line, ids[i]);
      delete o['delta-time'];
      return o;
    });
    // conntrack -L sorts by nothing in particular; the recorder kept the dump's order for both.
    assert.equal(got, want);
  });
}

test('NAT, labels, helper, master, directional zones and status names', () => {
  const f = decodeFlow(entryMessage({
    proto: 'tcp', src: '10.0.0.1', dst: '203.0.113.1', sport: 40000, dport: 80, origZone: 7,
    reply: { src: '192.168.1.5', dst: '198.51.100.9', sport: 8080, dport: 1024 },
    status: IPS.CONFIRMED | IPS.SRC_NAT | IPS.DST_NAT | IPS.SEEN_REPLY, tcpState: TCP.ESTABLISHED, tcpWscale: [7, 9],
    labels: Uint8Array.of(0b1001, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80), helper: 'ftp',
    master: { src: '10.0.0.1', dst: '203.0.113.1', sport: 1000, dport: 21 }, mark: 5, id: 99, use: 2, timeout: 30,
  }))!;
  assert.equal(f.orig, { src: '10.0.0.1', dst: '203.0.113.1', sport: 40000, dport: 80, zone: 7 });
  assert.equal(f.reply, { src: '192.168.1.5', dst: '198.51.100.9', sport: 8080, dport: 1024 });
  assert.equal(f.nat, { src: { address: '198.51.100.9', port: 1024 }, dst: { address: '192.168.1.5', port: 8080 } });
  assert.equal(f.flags, ['SEEN_REPLY', 'CONFIRMED', 'SRC_NAT', 'DST_NAT']);
  assert.equal(f.labels, [0, 3, 127]);
  assert.is(f.helper, 'ftp');
  assert.equal(f.master, { src: '10.0.0.1', dst: '203.0.113.1', sport: 1000, dport: 21 });
  assert.equal([f.state, f.tcp?.wscaleOrig, f.tcp?.wscaleReply], ['ESTABLISHED', 7, 9]);
  assert.equal([f.zone, f.mark, f.id, f.use, f.timeout], [7, 5, 99, 2, 30]); // the zone rule: the orig tuple's zone
});

test('SCTP and DCCP states, ICMPv6, timestamps, 64- and 32-bit counters', () => {
  const sctp = decodeFlow(entryMessage({ proto: 'sctp', src: '10.9.0.1', dst: '10.9.0.2', sport: 9, dport: 10, sctpState: 4 }))!;
  assert.equal([sctp.protocol, sctp.state], ['sctp', 'ESTABLISHED']);
  const icmp = decodeFlow(entryMessage({
    proto: 'icmpv6', src: '2001:db8::5', dst: '2001:db8::6', icmpType: 128, icmpCode: 0, icmpId: 99,
    timestamp: { start: 1_700_000_000_123_456_789n, stop: 1_700_000_001_000_000_000n }, counters: { orig: [3, 300], reply: [2n ** 40n, 5] },
  }))!;
  assert.equal(icmp.orig, { src: '2001:db8::5', dst: '2001:db8::6', icmp: { type: 128, code: 0, id: 99 } });
  assert.equal(icmp.reply.icmp, { type: 129, code: 0, id: 99 });
  assert.equal(icmp.timestamp, { start: 1_700_000_000_123_456_789n, stop: 1_700_000_001_000_000_000n });
  assert.equal(icmp.counters, { orig: { packets: 3, bytes: 300 }, reply: { packets: 2 ** 40, bytes: 5 } });
  const old = decodeFlow(entryMessage({ proto: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, counters: { orig: [1, 2], reply: [3, 4] }, counters32: true }))!;
  assert.equal(old.counters, { orig: { packets: 1, bytes: 2 }, reply: { packets: 3, bytes: 4 } });
});

test('anything that is not a well-formed entry is null, never a half-filled flow', () => {
  const m = entryMessage({ proto: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 });
  assert.is(decodeFlow(m.subarray(0, m.length - 2)), null);
  const wrongType = m.slice();
  wrongType[4] = 3; // NLMSG_DONE
  assert.is(decodeFlow(wrongType), null);
  assert.is(decodeFlow(new Uint8Array(0)), null);
});

test('addresses print as inet_ntop does (the table the SDK renderer is checked against)', () => {
  const table: [string, string][] = JSON.parse(readFileSync(join('test', 'plugin', 'ipv6-ntop.json'), 'utf8'));
  for (const [hex, text] of table) assert.is(formatAddress(Buffer.from(hex, 'hex')), text, hex);
  assert.is(formatAddress(Uint8Array.of(192, 0, 2, 255)), '192.0.2.255');
});

test.run();
