import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CtError } from '../../host/conntrack/errors.js';
import { netnsPath, parseAddress, parseCidr, parseNetmask, parseEventKinds, parseFamily, parseMark, parsePort, parseProtocol, parseTcpState, parseZone } from '../../host/conntrack/validate.js';
import { toNewEntry } from '../../host/conntrack/conntrack.js';

function fails(fn: () => unknown, text: string, kind = 'usage') {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CtError);
    assert.is((e as CtError).kind, kind);
    assert.ok((e as Error).message.includes(text), `"${(e as Error).message}" should mention "${text}"`);
    return;
  }
  assert.unreachable(`should have thrown: ${text}`);
}

test('zones: 0..65535 only, no silent truncation of 70000 into 16 bits', () => {
  assert.is(parseZone(0), 0);
  assert.is(parseZone('65535'), 65535);
  fails(() => parseZone(65536), 'use an integer from 0 to 65535');
  fails(() => parseZone(70000), '70000');
  fails(() => parseZone(-1), 'zone');
  fails(() => parseZone('5x'), '"5x"');
  fails(() => parseZone(1.5), 'zone');
});

test('ports, marks, families, protocols, states', () => {
  assert.is(parsePort('443'), 443);
  fails(() => parsePort(-1), 'not a port');
  fails(() => parsePort(65536), 'not a port');
  assert.equal(parseMark('0x10/0xff'), { mark: 16, mask: 255 });
  assert.equal(parseMark(7), { mark: 7, mask: 0xffffffff });
  fails(() => parseMark('1/2/3'), 'MARK/MASK');
  fails(() => parseMark('0x1ffffffff'), 'out of range');
  assert.is(parseFamily('inet6'), 'ipv6');
  fails(() => parseFamily('ipx'), 'use ipv4 or ipv6');
  assert.is(parseProtocol('TCP').number, 6);
  assert.is(parseProtocol(17).name, 'udp');
  assert.is(parseProtocol('ipv6-icmp').name, 'icmpv6');
  fails(() => parseProtocol('tcpp'), 'is not a protocol');
  assert.equal(parseProtocol('esp'), { name: 'esp', number: 50 }); // /etc/protocols, as conntrack's getprotobyname
  assert.equal(parseProtocol('99'), { name: '99', number: 99 });
  fails(() => parseProtocol('256'), 'is not a protocol');
  assert.is(parseTcpState('LISTEN'), 9); // conntrack's other name for SYN_SENT2
  assert.is(parseTcpState('established'), 3);
  fails(() => parseTcpState('OPEN'), 'not a TCP state');
});

test('event kinds (-e and EventSource): names in any case, ALL, duplicates once; the CLI and the library share this parser', () => {
  assert.equal(parseEventKinds('new,Destroy'), ['NEW', 'DESTROY']);
  assert.equal(parseEventKinds('NEW,NEW'), ['NEW']);
  assert.equal(parseEventKinds('all'), ['NEW', 'UPDATE', 'DESTROY']);
  fails(() => parseEventKinds('NEW,BOGUS'), '"BOGUS" is not an event type: use NEW, UPDATES, DESTROY or ALL');
  assert.equal(parseEventKinds('UPDATES,upd'), ['UPDATE']); // conntrack's spelling, and any beginning of it
  fails(() => parseEventKinds(' , '), 'no event type given');
});

test('addresses and CIDRs: both families, prefix checked, host bits cleared (as conntrack)', () => {
  assert.equal([...parseAddress('10.1.2.3').bytes], [10, 1, 2, 3]);
  assert.equal([...parseAddress('fd00::1').bytes], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal([...parseAddress('::ffff:1.2.3.4').bytes].slice(10), [0xff, 0xff, 1, 2, 3, 4]);
  assert.equal([...parseAddress('1:2:3:4:5:6:7:8').bytes].filter((_, i) => i % 2), [1, 2, 3, 4, 5, 6, 7, 8]);
  fails(() => parseAddress('10.0.0.256'), 'not an IPv4 or IPv6 address');
  fails(() => parseAddress('fd00::1', 'ipv4'), 'is an ipv6 address but the family is ipv4');
  assert.is(parseCidr('10.0.0.0/8').prefix, 8);
  assert.is(parseCidr('fd00::/64').prefix, 64);
  assert.is(parseCidr('10.0.0.1').prefix, 32);
  assert.equal([...parseCidr('10.0.0.5/24').bytes], [10, 0, 0, 0]); // as `ip addr` prints an interface's address
  assert.equal([...parseCidr('10.255.7.1/12').bytes], [10, 240, 0, 0]);
  assert.equal([...parseCidr('2001:db8::7/64').bytes].slice(8), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.is(parseCidr('2001:db8::7/64').prefix, 64);
  fails(() => parseCidr('10.0.0.0/33'), 'bad prefix length');
  fails(() => parseCidr('10.0.0.0/x'), 'bad prefix length');
});

test('netmasks (--mask-src/--mask-dst): the prefix length they stand for; contiguous only', () => {
  assert.equal(parseNetmask('255.255.255.0'), { family: 'ipv4', prefix: 24 });
  assert.equal(parseNetmask('0.0.0.0'), { family: 'ipv4', prefix: 0 });
  assert.equal(parseNetmask('255.255.255.255'), { family: 'ipv4', prefix: 32 });
  assert.equal(parseNetmask('ffff:ffff:ffff:ffff::'), { family: 'ipv6', prefix: 64 });
  assert.equal(parseNetmask('ffff:fe00::'), { family: 'ipv6', prefix: 23 });
  fails(() => parseNetmask('255.0.255.0'), 'not a contiguous netmask');
  fails(() => parseNetmask('ffff::', 'ipv4'), 'is an ipv6 address but the family is ipv4');
});

test('netns: a missing namespace is an environment error naming it; paths must be absolute', () => {
  fails(() => netnsPath('ctplug-no-such-ns'), 'network namespace "ctplug-no-such-ns" does not exist', 'environment');
  fails(() => netnsPath('../etc'), 'absolute path');
  fails(() => netnsPath('..'), 'not a namespace name');
  assert.is(netnsPath('/proc/self/ns/net'), '/proc/self/ns/net');
});

test('create specs: required fields as conntrack requires them', () => {
  fails(() => toNewEntry({ protocol: 'tcp', src: '1.1.1.1', dst: '2.2.2.2', timeout: 10 }), 'needs a source and a destination port');
  fails(() => toNewEntry({ protocol: 'udp', src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2 } as never), 'timeout is required');
  fails(() => toNewEntry({ protocol: 'icmp', src: 'fd00::1', dst: 'fd00::2', timeout: 1 }), 'icmp needs IPv4 addresses');
  fails(() => toNewEntry({ protocol: 'udp', src: '1.1.1.1', dst: 'fd00::2', sport: 1, dport: 2, timeout: 1 }), 'is an ipv6 address but the family is ipv4');
  fails(() => toNewEntry({ protocol: 'icmp', src: '1.1.1.1', dst: '2.2.2.2', icmpType: 3, timeout: 1 }), 'not a query the kernel tracks');
  fails(() => toNewEntry({ protocol: 'udp', src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2, timeout: 1, zone: 65536 }), 'from 0 to 65535');
  const n = toNewEntry({ protocol: 'icmpv6', src: 'fd00::1', dst: 'fd00::2', timeout: 1 });
  assert.is(n.tuple.icmpType, 128);
});

test.run();
