// Create requests with NAT, labels and directional zones (issue 8): the attributes compared byte
// for byte with what conntrack 1.4.7 sends for the same `conntrack -I` (strace -e sendto -x), the
// --src-nat/--dst-nat parser, the one-zone rule of ctnetlink_parse_tuple_zone, and how a saved
// `list -o json` record becomes create flags again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { optsFromLine } from '../../host/cli/commands/create.js';
import { specFromRecord } from '../../host/conntrack/entry-record.js';
import { entryFromFlags } from '../../host/cli/tuple.js';
import { toNewEntry, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { CTA, CTA_TUPLE } from '../../host/conntrack/constants.js';
import { CtError } from '../../host/conntrack/errors.js';
import { labelBits } from '../../host/conntrack/labels.js';
import { createRequest, entryLabels, type NewEntry } from '../../host/conntrack/request.js';
import { parseNatTarget } from '../../host/conntrack/validate.js';
import { AttrDecoder, Encoder } from '../../host/netlink/attr.js';
import { NLMSG_HDRLEN } from '../../host/netlink/constants.js';
import { NFGENMSG_LEN } from '../../host/netlink/message.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function request(n: NewEntry): Uint8Array {
  const e = new Encoder();
  createRequest(e, 1, n);
  return e.bytes().slice();
}

/** Top-level attributes of a message: type -> whole attribute (header included), hex. */
function attrs(m: Uint8Array, from = NLMSG_HDRLEN + NFGENMSG_LEN, to = m.length): Map<number, string> {
  const out = new Map<number, string>();
  for (const d = new AttrDecoder(m, from, to); d.next(); ) out.set(d.type, hex(m.subarray(d.offset, d.end)));
  return out;
}
const nested = (m: Uint8Array, type: number) => {
  for (const d = new AttrDecoder(m, NLMSG_HDRLEN + NFGENMSG_LEN, m.length); d.next(); ) if (d.type === type) return attrs(m, d.start, d.end);
  throw new Error(`no attribute ${type}`);
};

const spec = (extra: Partial<CreateSpec>): CreateSpec => ({ protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.4', sport: 1000, dport: 80, timeout: 60, ...extra });

test('--dst-nat IP:PORT: CTA_NAT_DST as conntrack -I sends it (MINIP, and PORT_MIN = PORT_MAX)', () => {
  const m = request(toNewEntry(spec({ dstNat: '192.168.1.5:8080' })));
  // conntrack -I -p tcp -s 10.0.0.1 -d 10.0.0.4 --sport 1000 --dport 80 --dst-nat 192.168.1.5:8080 -t 60 --state ESTABLISHED
  assert.is(attrs(m).get(CTA.NAT_DST), '20000d80' + '08000100c0a80105' + '14000380' + '060001001f900000' + '060002001f900000');
  assert.not.ok(attrs(m).has(CTA.NAT_SRC));
  // The reply tuple is the plain inverse: the kernel's NAT core rewrites it, as for conntrack.
  assert.is(attrs(m).get(CTA.TUPLE_REPLY), attrs(request(toNewEntry(spec({})))).get(CTA.TUPLE_REPLY));
});

test('--dst-nat [IPV6]:PORT and --src-nat IP: V6_MINIP with a port, V4_MINIP alone', () => {
  const v6 = request(toNewEntry({ protocol: 'udp', src: '2001:db8::1', dst: '2001:db8::2', sport: 1000, dport: 53, timeout: 60, dstNat: '[2001:db8::99]:5353' }));
  // conntrack -I -p udp -s 2001:db8::1 -d 2001:db8::2 --sport 1000 --dport 53 --dst-nat [2001:db8::99]:5353 -t 60
  assert.is(attrs(v6).get(CTA.NAT_DST), '2c000d80' + '1400040020010db8000000000000000000000099' + '14000380' + '0600010014e90000' + '0600020014e90000');
  const v4 = request(toNewEntry(spec({ srcNat: '172.16.0.1' })));
  assert.is(attrs(v4).get(CTA.NAT_SRC), '0c000680' + '08000100ac100001');
  const bare6 = request(toNewEntry({ protocol: 'udp', src: '2001:db8::1', dst: '2001:db8::3', sport: 1000, dport: 53, timeout: 60, dstNat: '2001:db8::99' }));
  assert.is(attrs(bare6).get(CTA.NAT_DST), '18000d80' + '1400040020010db8000000000000000000000099');
});

test('NAT targets: bad address, port, family and protocol are usage errors naming the flag', () => {
  const bad: [string, CreateSpec, RegExp][] = [
    ['1.2.3.400', spec({ srcNat: '1.2.3.400' }), /src-nat.*1\.2\.3\.400.*not an IPv4 or IPv6 address/],
    ['port 70000', spec({ dstNat: '10.0.0.1:70000' }), /dst-nat.*"70000" is not a port.*1 to 65535/],
    ['port 0', spec({ dstNat: '10.0.0.1:0' }), /dst-nat.*"0" is not a port/],
    ['no port', spec({ dstNat: '10.0.0.1:' }), /dst-nat.*"" is not a port/],
    ['family', spec({ srcNat: '2001:db8::1' }), /src-nat.*ipv6 address but the entry is ipv4/],
    ['family v6', { protocol: 'udp', src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 2, timeout: 5, dstNat: '[10.0.0.1]:5' }, /dst-nat.*ipv4 address but the entry is ipv6/],
    ['no ports', { protocol: 'gre', src: '10.0.0.1', dst: '10.0.0.2', timeout: 5, srcNat: '10.9.9.9:5' }, /src-nat.*gre has no ports/],
    ['empty', spec({ srcNat: '' }), /src-nat.*no address/],
  ];
  for (const [name, s, re] of bad) {
    try {
      toNewEntry(s);
      assert.unreachable(name);
    } catch (e) {
      assert.instance(e, CtError, name);
      assert.is((e as CtError).kind, 'usage', name);
      assert.match((e as Error).message, re, name);
    }
  }
  // ICMP: the port is the ICMP id (as the kernel's NAT core treats it).
  assert.equal(parseNatTarget('172.16.0.1:99', 'ipv4', 'icmp', 'src-nat'), { addr: Uint8Array.from([172, 16, 0, 1]), port: 99 });
});

test('--label-add on create: a 16-byte CTA_LABELS bitmap; numbers from a JSON record work too', () => {
  const m = request(toNewEntry(spec({ labels: '5,70' })));
  const got = entryLabels(m)!;
  assert.is(got.length, 16);
  assert.equal(labelBits(got), [5, 70]);
  assert.equal(labelBits(toNewEntry(spec({ labels: [3, 127] })).labels!), [3, 127]);
  assert.not.ok(attrs(request(toNewEntry(spec({})))).has(CTA.LABELS));
  assert.throws(() => toNewEntry(spec({ labels: [128] })), /label bit 128 is out of range/);
  assert.throws(() => toNewEntry(spec({ labels: 'nope' })), /label-add.*"nope" is not a label/);
});

test('directional zones: CTA_TUPLE_ZONE in one tuple only, no CTA_ZONE; the kernel\'s one-zone rule is checked first', () => {
  const o = request(toNewEntry(spec({ origZone: 5 })));
  assert.is(nested(o, CTA.TUPLE_ORIG).get(CTA_TUPLE.ZONE), '060003000005');
  assert.not.ok(nested(o, CTA.TUPLE_REPLY).has(CTA_TUPLE.ZONE));
  assert.not.ok(attrs(o).has(CTA.ZONE));
  const r = request(toNewEntry(spec({ replyZone: 6 })));
  assert.is(nested(r, CTA.TUPLE_REPLY).get(CTA_TUPLE.ZONE), '060003000006');
  assert.not.ok(nested(r, CTA.TUPLE_ORIG).has(CTA_TUPLE.ZONE));
  // -w 0 with a directional zone is what the kernel accepts (the zone is still the default then).
  assert.is(toNewEntry(spec({ zone: 0, origZone: 5 })).origZone, 5);
  for (const [name, s] of [['-w 3 + orig', spec({ zone: 3, origZone: 5 })], ['-w 3 + reply', spec({ zone: 3, replyZone: 5 })], ['orig + reply', spec({ origZone: 5, replyZone: 6 })]] as const) {
    try {
      toNewEntry(s);
      assert.unreachable(name);
    } catch (e) {
      assert.is((e as CtError).kind, 'usage', name);
      assert.match((e as Error).message, /one zone per entry.*EINVAL from ctnetlink_parse_tuple_zone/, name);
    }
  }
  // Flags and `conntrack -I` lines reach the same fields.
  const f = entryFromFlags(optsFromLine('-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 9 --reply-zone 7 --src-nat 10.9.9.9:40000 --label-add 3'));
  assert.is(f.replyZone, 7);
  assert.equal(f.srcNat, { addr: Uint8Array.from([10, 9, 9, 9]), port: 40000 });
  assert.equal(labelBits(f.labels!), [3]);
});

// Records as `ctplug list -o json` prints them (taken from entries conntrack -I made).
const DNAT = { family: 'ipv4', proto: 'tcp', timeout: 599, state: 'ESTABLISHED', orig: { src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 80 }, reply: { src: '192.168.1.5', dst: '10.0.0.1', sport: 8080, dport: 1000 }, flags: ['CONFIRMED', 'DST_NAT', 'SRC_NAT_DONE', 'DST_NAT_DONE'], mark: 0, zone: 0 };
const SNAT6 = { family: 'ipv6', proto: 'udp', timeout: 30, orig: { src: '2001:db8::1', dst: '2001:db8::2', sport: 1000, dport: 53 }, reply: { src: '2001:db8::2', dst: '2001:db8::7', sport: 53, dport: 1000 }, flags: ['CONFIRMED', 'SRC_NAT', 'SRC_NAT_DONE', 'DST_NAT_DONE'], zone: 0 };

test('restore: NAT flags become --src-nat/--dst-nat (exact port), not a hand-made reply tuple', () => {
  const d = specFromRecord(DNAT);
  assert.is(d.dstNat, '192.168.1.5:8080');
  assert.is(d.srcNat, undefined);
  assert.is(d.reply, undefined, 'the kernel derives the reply from the NAT');
  const s = specFromRecord(SNAT6);
  assert.is(s.srcNat, '[2001:db8::7]:1000');
  assert.equal(toNewEntry(s).srcNat, { addr: toNewEntry({ protocol: 'udp', src: '2001:db8::7', dst: '2001:db8::7', sport: 1, dport: 1, timeout: 1 }).tuple.src, port: 1000 });
  // A reply that is not the inverse without NAT flags is still given as a tuple.
  const plain = specFromRecord({ ...DNAT, flags: ['CONFIRMED'] });
  assert.is(plain.dstNat, undefined);
  assert.is(plain.reply?.src, '192.168.1.5');
  // NAT flags that do not explain the reply (SRC_NAT, but the reply source changed): the tuple.
  const odd = specFromRecord({ ...DNAT, flags: ['CONFIRMED', 'SRC_NAT'] });
  assert.is(odd.srcNat, undefined);
  assert.is(odd.reply?.src, '192.168.1.5');
  // ICMP: the id travels as the NAT port only when NAT changed it.
  const icmp = { family: 'ipv4', proto: 'icmp', timeout: 30, orig: { src: '10.0.0.1', dst: '10.0.0.4', type: 8, code: 0, id: 7 }, reply: { src: '10.0.0.4', dst: '172.16.0.1', type: 0, code: 0, id: 99 }, flags: ['SRC_NAT'] };
  assert.is(specFromRecord(icmp).srcNat, '172.16.0.1:99');
  assert.is(specFromRecord({ ...icmp, reply: { ...icmp.reply, id: 7 } }).srcNat, '172.16.0.1');
});

test('restore: labels and directional zones of a record are kept', () => {
  const rec = { family: 'ipv4', proto: 'udp', timeout: 30, orig: { src: '10.1.0.1', dst: '10.1.0.2', sport: 1, dport: 2, zone: 5 }, reply: { src: '10.1.0.2', dst: '10.1.0.1', sport: 2, dport: 1 }, flags: ['CONFIRMED'], zone: 0, labels: [5, 70] };
  const e = toNewEntry(specFromRecord(rec));
  assert.is(e.origZone, 5);
  assert.is(e.replyZone, undefined);
  assert.equal(labelBits(e.labels!), [5, 70]);
  const r = toNewEntry(specFromRecord({ ...rec, orig: { ...rec.orig, zone: undefined }, reply: { ...rec.reply, zone: 6 } }));
  assert.is(r.replyZone, 6);
  assert.is(toNewEntry(specFromRecord({ ...rec, orig: { ...rec.orig, zone: undefined }, labels: [] })).labels, undefined, 'an empty list is no labels');
  // --to-zone keeps the direction.
  assert.is(toNewEntry(specFromRecord(rec, 9)).origZone, 9);
  assert.is(toNewEntry(specFromRecord({ ...rec, orig: { ...rec.orig, zone: undefined } }, 9)).zone, 9);
});

test.run();
