// `create --from` parses 100k-line NDJSON restore files through a fast path (host/cli/commands/create.ts:
// entryFromJson). It must accept exactly what the flag path (optsFromJson + entryFromFlags)
// accepts and build byte-identical requests. (`-I` lines go through entryFromFlags itself.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { entryFromJson, optsFromJson } from '../../host/cli/commands/create.js';
import { entryFromFlags } from '../../host/cli/tuple.js';
import { createRequest, type NewEntry } from '../../host/conntrack/request.js';
import { Encoder } from '../../host/netlink/attr.js';

const bytes = (n: NewEntry) => {
  const e = new Encoder();
  createRequest(e, 1, n);
  return Buffer.from(e.bytes()).toString('hex');
};

type Outcome = { ok: string } | { err: string };
const outcome = (fn: () => NewEntry | undefined): Outcome | undefined => {
  try {
    const n = fn();
    return n === undefined ? undefined : { ok: bytes(n) };
  } catch (e) {
    return { err: (e as Error).constructor.name };
  }
};

const tcp = { family: 'ipv4', proto: 'tcp', timeout: 99, state: 'ESTABLISHED', orig: { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }, reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 2, dport: 1 }, flags: ['ASSURED', 'CONFIRMED'], mark: 4, zone: 3 };
const RECORDS: Record<string, any>[] = [
  tcp,
  { ...tcp, zone: 0, mark: 0, flags: ['CONFIRMED', 'SEEN_REPLY'] },
  { ...tcp, family: undefined, proto: 6, protonum: 6 },
  { ...tcp, proto: undefined, protonum: 17, state: undefined },
  { family: 'ipv6', proto: 'udp', timeout: 5, orig: { src: '2001:db8::1', dst: '2001:db8::2', sport: '53', dport: '1000' }, reply: { src: '2001:db8::2', dst: '2001:db8::1', sport: '1000', dport: '53' }, mark: '0x10', zone: '7' },
  { family: 'ipv4', proto: 'icmp', timeout: 30, orig: { src: '10.0.0.1', dst: '10.0.0.2', type: 8, code: 0, id: 5 }, reply: { src: '10.0.0.2', dst: '10.0.0.1', type: 0, code: 0, id: 5 }, mark: 0, zone: 0 },
  { family: 'ipv6', proto: 'icmpv6', timeout: 30, orig: { src: '2001:db8::1', dst: '2001:db8::2', type: 128, code: 0, id: 9 }, reply: { src: '2001:db8::2', dst: '2001:db8::1', type: 129, code: 0, id: 9 } },
  { ...tcp, timeout: 0 }, // clamped to 1
  { ...tcp, timeout: undefined },
  { ...tcp, reply: undefined },
  { ...tcp, reply: { src: '192.0.2.9', dst: '10.0.0.1', sport: 2, dport: 1 } }, // NAT: flag path
  { ...tcp, reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 8080, dport: 1 } }, // port NAT
  { ...tcp, reply: { src: '10.00.0.2', dst: '10.0.0.1', sport: 2, dport: 1 } }, // same text? no: invalid reply address
  // Invalid records: both paths refuse.
  { ...tcp, orig: { ...tcp.orig, src: '10.0.0.300' } },
  { ...tcp, orig: { ...tcp.orig, dport: 70000 } },
  { ...tcp, orig: { ...tcp.orig, dport: 1.5 } },
  { ...tcp, orig: { ...tcp.orig, dport: true } },
  { ...tcp, orig: { ...tcp.orig, sport: undefined, dport: undefined } },
  { ...tcp, zone: 65536 },
  { ...tcp, zone: -1 },
  { ...tcp, mark: '1/2/3' },
  { ...tcp, mark: 2 ** 32 },
  { ...tcp, state: 'BOGUS' },
  { ...tcp, timeout: 'soon' },
  { ...tcp, family: 'ipv6' },
  { ...tcp, proto: 'nope' },
  { ...tcp, proto: undefined },
  { ...tcp, orig: { dst: '10.0.0.2', sport: 1, dport: 2 } },
  { ...tcp, orig: undefined },
  { ...tcp, orig: 'x' },
  { ...tcp, reply: 'x' },
  { family: 'ipv4', proto: 'icmp', timeout: 30, orig: { src: '10.0.0.1', dst: '10.0.0.2', type: 3, code: 0, id: 5 } }, // not a query
  { family: 'ipv4', proto: 'icmp', timeout: 30, orig: { src: '2001:db8::1', dst: '2001:db8::2', type: 8, code: 0, id: 5 } },
];

test('NDJSON fast path == flag path, record by record (accepted bytes and refusals)', () => {
  let fast = 0;
  for (const [i, r] of RECORDS.entries()) {
    for (const toZone of [undefined, 9]) {
      const slow = outcome(() => {
        const o = optsFromJson(r);
        if (toZone !== undefined) o.zone = String(toZone);
        return entryFromFlags(o);
      });
      const quick = outcome(() => entryFromJson(r, toZone));
      if (quick === undefined) continue; // handed to the flag path
      fast++;
      if ('ok' in slow!) assert.equal(quick, slow, `record ${i} (to-zone ${toZone}): ${JSON.stringify(r)}`);
      else assert.ok('err' in quick, `record ${i} must be refused: ${JSON.stringify(r)}`);
    }
  }
  assert.ok(fast >= 40, `the fast path took ${fast} cases`);
});

test.run();
