import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttrDecoder, Encoder } from '../../host/netlink/attr.js';
import { NLMSG_ERROR, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_REQUEST } from '../../host/netlink/constants.js';
import { errnoName, parseAck } from '../../host/netlink/errors.js';
import { MessageReader, beginMessage, endMessage, splitMessages } from '../../host/netlink/message.js';
import { kernelDumpRequest, flushRequest, createRequest } from '../../host/conntrack/request.js';
import { toNewEntry } from '../../host/conntrack/conntrack.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('attributes: u8 is padded to 4 bytes, u16/u32 are big-endian, nests carry NLA_F_NESTED and their length', () => {
  const e = new Encoder(8); // small on purpose: growth must keep earlier bytes
  e.u8(1, 0xab).u16be(2, 0x1234).u32be(3, 0xdeadbeef).begin(4).u8(5, 7).end();
  assert.is(hex(e.bytes()), '0500' + '0100' + 'ab000000' + '0600' + '0200' + '12340000' + '0800' + '0300' + 'deadbeef' + '0c00' + '0480' + '0500' + '0500' + '07000000');
});

test('messages: nlmsghdr + nfgenmsg, length patched, seq little-endian', () => {
  const e = new Encoder();
  const at = beginMessage(e, 0x0101, NLM_F_REQUEST | NLM_F_DUMP, 0x01020304, 2);
  e.u16be(18, 5);
  endMessage(e, at);
  assert.is(hex(e.bytes()), '1c000000' + '0101' + '0103' + '04030201' + '00000000' + '02000000' + '0600' + '1200' + '00050000');
});

test('dump request with zone and mark filters is byte-exact', () => {
  const e = new Encoder();
  kernelDumpRequest(e, 7, { family: 10, zone: 5, mark: 1, markMask: 0xff });
  assert.is(hex(e.bytes()), '2c000000' + '0101' + '0103' + '07000000' + '00000000' + '0a000000' + '0600120000050000' + '0800080000000001' + '08001500000000ff');
});

test('filtered flush sets nfgenmsg version 1 only when a family is given (so the kernel honours it)', () => {
  const e = new Encoder();
  flushRequest(e, 1, { family: 0, zone: 3 });
  assert.is(e.bytes()[16], 0); // AF_UNSPEC
  assert.is(e.bytes()[17], 0);
  e.reset();
  flushRequest(e, 1, { family: 2 });
  assert.is(e.bytes()[16], 2);
  assert.is(e.bytes()[17], 1);
});

test('create request: tuples, CONFIRMED status, timeout, protoinfo, mark, zone', () => {
  const e = new Encoder();
  createRequest(e, 9, toNewEntry({ protocol: 'tcp', src: '1.2.3.4', dst: '5.6.7.8', sport: 10, dport: 80, timeout: 60, zone: 5, mark: 3, tcpState: 'ESTABLISHED' }));
  const m = e.bytes();
  const types: number[] = [];
  for (const d = new AttrDecoder(m, 20, m.length); d.next(); ) types.push(d.type);
  assert.equal(types, [1, 2, 3, 7, 4, 8, 18]);
  assert.is(hex(m).includes('0800' + '0300' + '00000008'), true, 'status has IPS_CONFIRMED');
  assert.is(hex(m).includes('0800' + '0700' + '0000003c'), true, 'timeout 60 big-endian');
  // reply tuple: addresses and ports swapped
  assert.is(hex(m).includes('0800010005060708' + '0800020001020304'), true);
});

test('decoder: iterates, masks flag bits, reads nested children', () => {
  const e = new Encoder();
  e.u32be(1, 42).begin(2).u16be(3, 9).end();
  const b = e.bytes();
  const d = new AttrDecoder(b, 0, b.length);
  assert.ok(d.next());
  assert.is(d.type, 1);
  assert.is(d.u32be(), 42);
  assert.ok(d.next());
  assert.is(d.type, 2);
  assert.ok(d.nested);
  const c = d.children();
  assert.ok(c.next());
  assert.is(c.u16be(), 9);
  assert.not.ok(c.next());
  assert.not.ok(d.next());
  assert.not.ok(d.malformed);
});

test('decoder: malformed lengths (0, 3, past the end, 0xffff) stop without reading outside', () => {
  for (const len of [0, 3, 12, 0xffff]) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint16(0, len, true);
    const d = new AttrDecoder(b, 0, b.length);
    assert.not.ok(d.next(), `len ${len}`);
    assert.ok(d.malformed, `len ${len}`);
  }
  const d = new AttrDecoder(new Uint8Array(4), 0, 100); // limit beyond the buffer
  assert.ok(d.malformed);
  assert.not.ok(d.next());
  const trailing = new AttrDecoder(new Uint8Array([8, 0, 1, 0, 0, 0, 0, 0, 1, 2]), 0, 10);
  assert.ok(trailing.next());
  assert.not.ok(trailing.next());
  assert.ok(trailing.malformed, 'two trailing bytes are not an attribute');
});

test('message reader: splits aligned messages, refuses a length past the buffer', () => {
  const e = new Encoder();
  for (let i = 0; i < 3; i++) {
    const at = beginMessage(e, 0x100, 0, i, 2);
    e.u8(1, i);
    endMessage(e, at);
  }
  assert.equal([...splitMessages(e.bytes())].map((m) => m.length), [28, 28, 28]);
  const cut = e.bytes().slice(0, 70);
  const r = new MessageReader(cut);
  let n = 0;
  while (r.next()) n++;
  assert.is(n, 2);
  assert.ok(r.malformed);
  const huge = e.bytes().slice();
  new DataView(huge.buffer).setUint32(0, 0xfffffff0, true);
  const r2 = new MessageReader(huge);
  assert.not.ok(r2.next());
  assert.ok(r2.malformed);
});

test('acks: errno, seq, and extended-ack text', () => {
  const msgText = new TextEncoder().encode('missing tuple\0');
  const e = new Encoder();
  const at = e.reserve(16 + 4 + 16);
  const v = e.view;
  v.setUint32(at, 0, true);
  v.setUint16(at + 4, NLMSG_ERROR, true);
  v.setUint16(at + 6, NLM_F_CAPPED | NLM_F_ACK_TLVS, true);
  v.setInt32(at + 16, -22, true);
  v.setUint32(at + 20, 16, true);
  v.setUint32(at + 28, 77, true); // echoed seq
  e.bytesAttr(1, msgText);
  v.setUint32(at, e.len, true);
  const ack = parseAck(e.bytes(), NLM_F_CAPPED | NLM_F_ACK_TLVS)!;
  assert.is(ack.errno, 22);
  assert.is(ack.seq, 77);
  assert.is(ack.message, 'missing tuple');
  assert.is(errnoName(22), 'EINVAL');
  assert.is(errnoName(105), 'ENOBUFS');
  assert.is(parseAck(new Uint8Array(20), 0), undefined, 'truncated');
});

test.run();
