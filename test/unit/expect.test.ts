// Expectations (host/conntrack/expect.ts, host/cli/commands/expect.ts): a message built as the kernel
// sends it, decoded, and printed as conntrack -L expect printed the same expectation (the tftp
// helper's, seen on this machine; the parity cases compare with conntrack itself, as root).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeExpectation } from '../../host/conntrack/expect.js';
import { encodeTuple, type Tuple } from '../../host/conntrack/tuple.js';
import { expectText, expectXml } from '../../host/cli/commands/expect.js';
import { Encoder } from '../../host/netlink/attr.js';
import { NLM_F_CREATE, NLM_F_EXCL } from '../../host/netlink/constants.js';
import { beginMessage, endMessage } from '../../host/netlink/message.js';

const lo = Uint8Array.of(127, 0, 0, 1);
const udp = (src: Uint8Array, dst: Uint8Array, sport: number, dport: number): Tuple => ({ family: 'ipv4', protocol: 17, src, dst, sport, dport });

function message(type = 0, flags = 0, extra?: (enc: Encoder) => void): Uint8Array {
  const enc = new Encoder();
  const at = beginMessage(enc, (2 << 8) | type, flags, 1, 2);
  encodeTuple(enc, 1, udp(lo, lo, 40069, 69)); // CTA_EXPECT_MASTER
  encodeTuple(enc, 2, udp(lo, lo, 0, 40069)); // CTA_EXPECT_TUPLE
  const ones = Uint8Array.of(255, 255, 255, 255);
  encodeTuple(enc, 3, udp(ones, ones, 0, 65535)); // CTA_EXPECT_MASK
  enc.u32be(4, 299).u32be(5, 7).bytesAttr(6, new TextEncoder().encode('tftp\0')).u32be(8, 0).u32be(9, 0);
  extra?.(enc);
  endMessage(enc, at);
  return enc.bytes().slice();
}

test('a listed expectation prints as conntrack -L expect printed it', () => {
  const e = decodeExpectation(message())!;
  assert.ok(e);
  assert.is(e.event, undefined);
  assert.is(expectText(e), '299 proto=17 src=127.0.0.1 dst=127.0.0.1 sport=0 dport=40069 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=127.0.0.1 master-dst=127.0.0.1 sport=40069 dport=69 class=0 helper=tftp');
  assert.is(expectXml(e), '<flow><layer3 protonum="2" protoname="ipv4"><expected><src>127.0.0.1</src><dst>127.0.0.1</dst></expected><mask><src>255.255.255.255</src><dst>255.255.255.255</dst></mask><master><src>127.0.0.1</src><dst>127.0.0.1</dst></master></layer3><layer4 protonum="17" protoname="udp"><expected><sport>0</sport><dport>40069</dport></expected><mask><sport>0</sport><dport>65535</dport></mask><master><sport>40069</sport><dport>69</dport></master></layer4><meta><helper-name>tftp</helper-name><timeout>299</timeout><class>0</class></meta></flow>');
});

test('events: NEW (create|excl), DESTROY; zone and flags printed where conntrack prints them', () => {
  const n = decodeExpectation(message(0, NLM_F_CREATE | NLM_F_EXCL, (enc) => enc.u16be(7, 5)), true)!;
  assert.is(n.event, 'NEW');
  assert.ok(expectText(n).startsWith('    [NEW] 299 proto=17 '), expectText(n));
  assert.ok(expectText(n).endsWith(' sport=40069 dport=69 zone=5 class=0 helper=tftp'), expectText(n));
  const d = decodeExpectation(message(2, 0), true)!;
  assert.is(d.event, 'DESTROY');
  assert.ok(expectXml(d).startsWith('<flow type="destroy">'));
  const f = decodeExpectation(message(0, 0, (enc) => enc.u32be(8, 1 | 4)))!;
  assert.ok(expectText(f).endsWith(' dport=69 PERMANENT,USERSPACE class=0 helper=tftp'), expectText(f));
});

test('not an expectation, or one with a tuple missing: undefined', () => {
  const m = message();
  const ct = m.slice(); ct[5] = 1; // subsystem ctnetlink, not its expect subsystem
  assert.is(decodeExpectation(ct), undefined);
  const enc = new Encoder();
  endMessage(enc, beginMessage(enc, 2 << 8, 0, 1, 2));
  assert.is(decodeExpectation(enc.bytes().slice()), undefined);
});

test.run();
