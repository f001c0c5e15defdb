// What create sends for each protocol extension conntrack-tools has (issue 16 item 3): SCTP's state
// and verification tags, DCCP's state and role, GRE's keys, TCP's LISTEN; and what it refuses.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toNewEntry, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { CTA, CTA_PROTOINFO, CTA_TUPLE, CTA_PROTO } from '../../host/conntrack/constants.js';
import { parseDccpRole } from '../../host/conntrack/proto-ext.js';
import { createRequest } from '../../host/conntrack/request.js';
import { AttrDecoder, Encoder } from '../../host/netlink/attr.js';
import { NLMSG_HDRLEN } from '../../host/netlink/constants.js';
import { NFGENMSG_LEN } from '../../host/netlink/message.js';

const base = (protocol: string, extra: Partial<CreateSpec> = {}): CreateSpec => ({ protocol, src: '10.0.0.1', dst: '10.0.0.2', sport: 7, dport: 9, timeout: 60, ...extra });

/** The children of the first attribute `path[0]`, then of `path[1]` inside it, ...: type -> payload (hex). */
function children(spec: CreateSpec, ...path: number[]): Map<number, string> {
  const e = new Encoder();
  createRequest(e, 1, toNewEntry(spec));
  const m = e.bytes();
  let [from, to] = [NLMSG_HDRLEN + NFGENMSG_LEN, m.length];
  for (const type of path) {
    let found = false;
    for (const d = new AttrDecoder(m, from, to); d.next(); ) if (d.type === type) { [from, to] = [d.start, d.end]; found = true; break; }
    if (!found) return new Map();
  }
  const out = new Map<number, string>();
  for (const d = new AttrDecoder(m, from, to); d.next(); ) out.set(d.type, Buffer.from(m.subarray(d.start, d.end)).toString('hex'));
  return out;
}

test('sctp: --state and both verification tags in CTA_PROTOINFO_SCTP (state u8; tags in conntrack\'s byte order)', () => {
  // conntrack -I -p sctp ... --state COOKIE_WAIT --orig-vtag 16 --reply-vtag 0x01020304 sends 10000000 and 04030201
  const sctp = children(base('sctp', { tcpState: 'COOKIE_WAIT', origVtag: 0x10, replyVtag: '0x01020304' }), CTA.PROTOINFO, CTA_PROTOINFO.SCTP);
  assert.equal([...sctp], [[1, '02'], [2, '10000000'], [3, '04030201']]);
  assert.equal([...children(base('sctp', { tcpState: 'heartbeat_acked' }), CTA.PROTOINFO, CTA_PROTOINFO.SCTP)], [[1, '09']]);
  assert.is(children(base('sctp'), CTA.PROTOINFO).size, 0); // nothing given, nothing sent
  assert.throws(() => toNewEntry(base('sctp', { tcpState: 'BOGUS' })), /"BOGUS" is not a SCTP state/);
});

test('dccp: --state and --role (any beginning of client or server) in CTA_PROTOINFO_DCCP; tcp: LISTEN is SYN_SENT2', () => {
  assert.equal([...children(base('dccp', { tcpState: 'OPEN', role: 'serv' }), CTA.PROTOINFO, CTA_PROTOINFO.DCCP)], [[1, '04'], [2, '01']]);
  assert.is(parseDccpRole('C'), 0);
  assert.throws(() => parseDccpRole('nobody'), /not a DCCP role/);
  assert.equal([...children(base('tcp', { tcpState: 'LISTEN' }), CTA.PROTOINFO, CTA_PROTOINFO.TCP)], [[1, '09']]);
});

test('gre: the keys are the tuple\'s ports; both or neither', () => {
  const proto = children(base('gre', { sport: 0x1234, dport: 0x5678 }), CTA.TUPLE_ORIG, CTA_TUPLE.PROTO);
  assert.is(proto.get(CTA_PROTO.SRC_PORT), '1234');
  assert.is(proto.get(CTA_PROTO.DST_PORT), '5678');
  assert.not.ok(children(base('gre', { sport: undefined, dport: undefined }), CTA.TUPLE_ORIG, CTA_TUPLE.PROTO).has(CTA_PROTO.SRC_PORT));
  assert.throws(() => toNewEntry(base('gre', { dport: undefined })), /both keys/);
});

test('a protocol\'s own fields are refused on another protocol', () => {
  assert.throws(() => toNewEntry(base('tcp', { origVtag: 1 })), /--orig-vtag is sctp's/);
  assert.throws(() => toNewEntry(base('sctp', { role: 'client' })), /--role is dccp's/);
  assert.throws(() => toNewEntry(base('udp', { tcpState: 'ESTABLISHED' })), /udp has no states/);
  assert.is(toNewEntry({ protocol: 'esp', src: '10.0.0.1', dst: '10.0.0.2', timeout: 5 }).tuple.protocol, 50);
});

test.run();
