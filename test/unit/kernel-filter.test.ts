// The kernel-filter planner (host/conntrack/kernel-filter.ts): its choices as data, its encoding,
// the CTA_FILTER probe both ways, the empty-namespace skip, and results identical with and
// without the kernel filter, over the fake kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Encoder } from '../../host/netlink/attr.js';
import { splitMessages } from '../../host/netlink/message.js';
import { AF_INET, AF_INET6, AF_UNSPEC, CTA, IPPROTO } from '../../host/conntrack/constants.js';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { decodeFlow } from '../../host/conntrack/flow.js';
import { CTA_FILTER_FLAG as F, type KernelAbilities, encodeFilter, planDumps, planFlush } from '../../host/conntrack/kernel-filter.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';

const NOW: KernelAbilities = { zoneFilter: true, ctaFilter: true };
const OLD: KernelAbilities = { zoneFilter: false, ctaFilter: false };
const v4 = (s: string) => Uint8Array.from(s.split('.').map(Number));
/** 2001:db8::N */
const v6 = (n: number) => Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), n]);
const v6one = v6(1);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('plan: family, zone and mark pass through as one dump; a mark without mask gets the full mask', () => {
  assert.equal(planDumps({}, NOW), [{ family: AF_UNSPEC }]);
  assert.equal(planDumps({ family: 'ipv6', zone: 7, mark: 3 }, NOW), [{ family: AF_INET6, zone: 7, mark: 3, markMask: 0xffffffff }]);
  assert.equal(planDumps({ zone: 0, mark: 1, markMask: 0xff }, OLD), [{ family: AF_UNSPEC, zone: 0, mark: 1, markMask: 0xff }]);
});

test('plan: without CTA_FILTER the tuple is left to the caller (one unfiltered dump)', () => {
  assert.equal(planDumps({ zone: 5, tuple: { protocol: IPPROTO.tcp, dport: 5353 } }, { zoneFilter: true, ctaFilter: false }), [{ family: AF_UNSPEC, zone: 5 }]);
});

test('plan: protocol and ports with no family -> one CTA_FILTER dump per family (AF_UNSPEC + CTA_FILTER is EOPNOTSUPP)', () => {
  const p = planDumps({ tuple: { protocol: IPPROTO.tcp, sport: 1500, dport: 5353 } }, NOW);
  assert.equal(p.map((x) => x.family), [AF_INET, AF_INET6]);
  for (const x of p) assert.is(x.tuple!.flags, F.PROTO_NUM | F.SRC_PORT | F.DST_PORT);
});

test('plan: an IPv4 address fixes the family to IPv4 (one dump); one contradicting the family plans no dump', () => {
  const p = planDumps({ tuple: { src: v4('10.5.1.5'), dst: v4('198.51.100.7') } }, NOW);
  assert.is(p.length, 1);
  assert.is(p[0].family, AF_INET);
  assert.is(p[0].tuple!.flags, F.IP_SRC | F.IP_DST);
  assert.equal(planDumps({ family: 'ipv6', tuple: { src: v4('10.5.1.5') } }, NOW), []);
});

test('plan: IPv6 addresses are never pushed down (6.18 matches them inverted); their family and the protocol are', () => {
  const p = planDumps({ tuple: { src: v6one, protocol: IPPROTO.udp, dport: 53 } }, NOW);
  assert.is(p.length, 1);
  assert.is(p[0].family, AF_INET6);
  assert.is(p[0].tuple!.flags, F.PROTO_NUM | F.DST_PORT);
  assert.is(p[0].tuple!.match.src, undefined);
  // An IPv6 address alone: the family, no CTA_FILTER at all.
  assert.equal(planDumps({ tuple: { dst: v6one } }, NOW), [{ family: AF_INET6 }]);
});

test('plan: ports only for tcp and udp (the kernel compares no others) and only with the protocol', () => {
  assert.is(planDumps({ family: 'ipv4', tuple: { protocol: IPPROTO.sctp, dport: 80 } }, NOW)[0].tuple!.flags, F.PROTO_NUM);
  assert.equal(planDumps({ family: 'ipv4', tuple: { dport: 80 } }, NOW), [{ family: AF_INET }]);
});

test('flush plan: CTA_ZONE in a delete only from 6.8; before, dump + judge the zone here; never by tuple', () => {
  assert.equal(planFlush({ zone: 4 }, NOW), { kind: 'kernel', filter: { family: AF_UNSPEC, zone: 4 } });
  assert.equal(planFlush({ family: 'ipv4' }, OLD), { kind: 'kernel', filter: { family: AF_INET } });
  assert.equal(planFlush({ zone: 4, mark: 1 }, OLD), { kind: 'dump-and-delete', dump: [{ family: AF_UNSPEC, zone: 4, mark: 1, markMask: 0xffffffff }], zone: 4 });
  assert.throws(() => planFlush({ tuple: { protocol: 6 } }, NOW));
});

test('encoding: CTA_TUPLE_ORIG with only the flagged fields, CTA_FILTER { ORIG_FLAGS u32 host order }, then zone', () => {
  const [p] = planDumps({ zone: 2, tuple: { src: v4('10.0.0.1'), protocol: IPPROTO.tcp, dport: 443 } }, NOW);
  const e = new Encoder();
  encodeFilter(e, p);
  assert.is(hex(e.bytes()),
    '2400' + '0180' // CTA_TUPLE_ORIG (nested), 36 bytes
    + '0c00' + '0180' + '0800' + '0100' + '0a000001' // CTA_TUPLE_IP { V4_SRC }
    + '1400' + '0280' + '0500' + '0100' + '06000000' + '0600' + '0300' + '01bb0000' // CTA_TUPLE_PROTO { NUM 6, DST_PORT 443 }
    + '0c00' + '1980' + '0800' + '0100' + '29000000' // CTA_FILTER { ORIG_FLAGS = IP_SRC|PROTO_NUM|DST_PORT = 0x29 }
    + '0600' + '1200' + '00020000'); // CTA_ZONE 2
});

// A table over two families, zones and protocols; 1 in 10 entries has dport 5353.
const specs: CreateSpec[] = [];
for (let i = 0; i < 200; i++) {
  const six = i % 7 === 0;
  specs.push({
    protocol: i % 3 === 0 ? 'udp' : 'tcp', src: six ? `2001:db8::${(i + 1).toString(16)}` : `10.0.${i >> 8}.${i & 255}`, dst: six ? '2001:db8::99' : i % 4 === 0 ? '198.51.100.7' : '203.0.113.9',
    sport: 1000 + i, dport: i % 10 === 0 ? 5353 : 443, timeout: 100, zone: i % 3,
  });
}

/** The entries a dump returned (whole messages, copied). */
function dumped(ct: Conntrack, filter: Parameters<Conntrack['dumpSync']>[0]): Uint8Array[] {
  const out: Uint8Array[] = [];
  ct.dumpSync(filter, new Uint8Array(65536), (b) => { for (const m of splitMessages(b)) out.push(m.slice()); });
  return out;
}

test('probe both ways: a kernel with CTA_FILTER refuses the undefined flag (used); one without answers the dump (not used)', () => {
  for (const ctaFilter of [true, false]) {
    const k = FakeKernel.fromSpecs(specs, { ctaFilter });
    const ct = Conntrack.open({ socket: k.socket() });
    assert.is(ct.abilities(true).ctaFilter, ctaFilter, `ctaFilter ${ctaFilter}`);
    k.dumpRequests.length = 0;
    dumped(ct, { tuple: { protocol: IPPROTO.tcp, dport: 5353 } });
    const carried = k.dumpRequests.map((r) => r.attrs.has(CTA.FILTER));
    assert.equal(carried, ctaFilter ? [true, true] : [false], `dumps carried CTA_FILTER: ${carried}`);
    // Probed once per connection.
    dumped(ct, { tuple: { protocol: IPPROTO.udp } });
    assert.is(k.dumpRequests.filter((r) => !r.family).length, ctaFilter ? 0 : 2);
    ct.close();
  }
});

test('differential: every entry a tuple filter selects comes back with the kernel filter and without it', () => {
  const cases: { name: string; tuple: NonNullable<Parameters<Conntrack['dumpSync']>[0]['tuple']>; want: (f: ReturnType<typeof decodeFlow>) => boolean }[] = [
    { name: '-p tcp --dport 5353', tuple: { protocol: IPPROTO.tcp, dport: 5353 }, want: (f) => f!.protocol === 'tcp' && f!.orig.dport === 5353 },
    { name: '-d 198.51.100.7', tuple: { dst: v4('198.51.100.7') }, want: (f) => f!.orig.dst === '198.51.100.7' },
    { name: '-s 2001:db8::8 -p tcp', tuple: { src: v6(8), protocol: IPPROTO.tcp }, want: (f) => f!.orig.src === '2001:db8::8' && f!.protocol === 'tcp' },
    { name: '-p udp --sport 1003', tuple: { protocol: IPPROTO.udp, sport: 1003 }, want: (f) => f!.protocol === 'udp' && f!.orig.sport === 1003 },
  ];
  for (const c of cases) {
    const results = [true, false].map((ctaFilter) => {
      const ct = Conntrack.open({ socket: FakeKernel.fromSpecs(specs, { ctaFilter }).socket() });
      const all = dumped(ct, { tuple: c.tuple });
      ct.close();
      // Compared without the netlink header (its sequence number differs between connections).
      return all.filter((m) => c.want(decodeFlow(m))).map((m) => hex(m.subarray(16))).sort();
    });
    assert.ok(results[0].length > 0, `${c.name}: selects something`);
    assert.equal(results[0], results[1], c.name);
  }
});

test('an empty namespace is not dumped: the entry count (no walk) is asked first', () => {
  const k = new FakeKernel();
  const ct = Conntrack.open({ socket: k.socket() });
  let batches = 0;
  ct.dumpSync({ zone: 3 }, new Uint8Array(65536), () => void batches++);
  assert.is(k.dumpRequests.length, 0);
  assert.is(batches, 0);
  ct.close();
});

test.run();
