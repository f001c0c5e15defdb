// The one mapper from a saved `list -o json` record to a CreateSpec (host/conntrack/entry-record.ts):
// a record recreates exactly what the `conntrack -I` line describing the same entry creates (the
// same kernel request, byte for byte), and what no line could describe is refused by the same
// validator (toNewEntry), never half-read.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { optsFromLine } from '../../host/cli/commands/create.js';
import { entryFromFlags } from '../../host/cli/tuple.js';
import { type EntryRecord, recordProblem, specFromRecord } from '../../host/conntrack/entry-record.js';
import { toNewEntry } from '../../host/conntrack/new-entry.js';
import { createRequest, type NewEntry } from '../../host/conntrack/request.js';
import { Encoder } from '../../host/netlink/attr.js';

const bytes = (n: NewEntry) => {
  const e = new Encoder();
  createRequest(e, 1, n);
  return Buffer.from(e.bytes()).toString('hex');
};

const tcp = { family: 'ipv4', proto: 'tcp', timeout: 99, state: 'ESTABLISHED', orig: { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }, reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 2, dport: 1 }, flags: ['ASSURED', 'CONFIRMED'], mark: 4, zone: 3 };
const T = '-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2';
/** [record, the conntrack -I line for the same entry]. */
const SAME: [EntryRecord, string][] = [
  [tcp, `${T} -t 99 --state ESTABLISHED -u ASSURED -m 4 -w 3`],
  [{ ...tcp, zone: 0, mark: 0, flags: ['CONFIRMED', 'SEEN_REPLY'] }, `${T} -t 99 --state ESTABLISHED -u SEEN_REPLY -m 0 -w 0`],
  [{ ...tcp, family: undefined, proto: 6, protonum: 6 }, `${T} -t 99 --state ESTABLISHED -u ASSURED -m 4 -w 3`],
  [{ ...tcp, proto: undefined, protonum: 17, state: undefined }, '-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 99 -u ASSURED -m 4 -w 3'],
  [{ family: 'ipv6', proto: 'udp', timeout: 5, orig: { src: '2001:db8::1', dst: '2001:db8::2', sport: '53', dport: '1000' }, reply: { src: '2001:db8::2', dst: '2001:db8::1', sport: '1000', dport: '53' }, mark: '0x10', zone: '7' },
    '-p udp -s 2001:db8::1 -d 2001:db8::2 --sport 53 --dport 1000 -t 5 -m 0x10 -w 7'],
  [{ family: 'ipv4', proto: 'icmp', timeout: 30, orig: { src: '10.0.0.1', dst: '10.0.0.2', type: 8, code: 0, id: 5 }, reply: { src: '10.0.0.2', dst: '10.0.0.1', type: 0, code: 0, id: 5 }, mark: 0, zone: 0 },
    '-p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 5 -t 30 -m 0 -w 0'],
  [{ ...tcp, timeout: 0 }, `${T} -t 1 --state ESTABLISHED -u ASSURED -m 4 -w 3`], // clamped to 1, as conntrack -R needs
  [{ ...tcp, reply: undefined }, `${T} -t 99 --state ESTABLISHED -u ASSURED -m 4 -w 3`],
  [{ ...tcp, reply: { src: '192.0.2.9', dst: '10.0.0.1', sport: 2, dport: 1 } }, `${T} -r 192.0.2.9 -q 10.0.0.1 --reply-port-src 2 --reply-port-dst 1 -t 99 --state ESTABLISHED -u ASSURED -m 4 -w 3`],
  [{ ...tcp, flags: ['DST_NAT'], reply: { src: '192.0.2.9', dst: '10.0.0.1', sport: 8080, dport: 1 } }, `${T} --dst-nat 192.0.2.9:8080 -t 99 --state ESTABLISHED -m 4 -w 3`],
  [{ ...tcp, zone: undefined, flags: ['SRC_NAT'], orig: { ...tcp.orig, zone: 4 }, reply: { src: '10.0.0.2', dst: '10.9.9.9', sport: 2, dport: 40000 }, labels: [3, 127] },
    `${T} --src-nat 10.9.9.9:40000 --orig-zone 4 --label-add 3,127 -t 99 --state ESTABLISHED -m 4`],
  [{ ...tcp, zone: undefined, reply: { ...tcp.reply, zone: 8 } }, `${T} --reply-zone 8 -t 99 --state ESTABLISHED -u ASSURED -m 4`],
];

test('a record recreates what the conntrack -I line for the same entry creates (byte-identical requests)', () => {
  for (const [i, [given, line]] of SAME.entries()) {
    const rec = JSON.parse(JSON.stringify(given)) as EntryRecord; // as read from a file
    assert.is(recordProblem(rec), undefined, `record ${i}`);
    assert.is(bytes(toNewEntry(specFromRecord(rec))), bytes(entryFromFlags(optsFromLine(line))), `record ${i}: ${JSON.stringify(rec)} vs ${line}`);
  }
});

const REFUSED: EntryRecord[] = [
  { ...tcp, reply: { src: '10.00.0.2', dst: '10.0.0.1', sport: 2, dport: 1 } }, // not an address
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
  { ...tcp, labels: [200] },
  { ...tcp, zone: 3, orig: { ...tcp.orig, zone: 4 } }, // two zones
  { family: 'ipv4', proto: 'icmp', timeout: 30, orig: { src: '10.0.0.1', dst: '10.0.0.2', type: 3, code: 0, id: 5 } }, // not a query
  { family: 'ipv4', proto: 'icmp', timeout: 30, orig: { src: '2001:db8::1', dst: '2001:db8::2', type: 8, code: 0, id: 5 } },
];

test('records no -I line could describe are refused by the validator, with a reason', () => {
  for (const [i, given] of REFUSED.entries()) {
    const rec = JSON.parse(JSON.stringify(given)) as EntryRecord;
    assert.throws(() => toNewEntry(specFromRecord(rec)), (e: Error) => e.message.length > 0, `record ${i}: ${JSON.stringify(rec)}`);
  }
  assert.match(recordProblem({ ...tcp, proto: { toString: 1 } })!, /"proto" must be a string or a number/);
});

test.run();
