// Update requests for status bits and connection labels (issue 8): byte-exact encoding, the
// validation in Conntrack.updateSync, the label parser, and the fake kernel honouring both the
// way ctnetlink_change_status / nf_connlabels_replace do.
import { endianness } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Conntrack, toNewEntry } from '../../host/conntrack/conntrack.js';
import { CTA, IPS } from '../../host/conntrack/constants.js';
import { CtError } from '../../host/conntrack/errors.js';
import { labelBits, parseLabels, readConnlabelConf } from '../../host/conntrack/labels.js';
import { SETTABLE_STATUS, createRequest, entryStatus, updateRequest } from '../../host/conntrack/request.js';
import { emptyScope, scanInto } from '../../host/conntrack/scope.js';
import { AttrDecoder, Encoder } from '../../host/netlink/attr.js';
import { splitMessages } from '../../host/netlink/message.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { entryMessage } from '../helpers/ctmsg.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const LE = endianness() === 'LE';

/** An entry message as the kernel reports one: CT_NEW with tuples, status, timeout, mark, zone, id. */
function entry(status: number, zone = 5): Uint8Array {
  const e = new Encoder();
  createRequest(e, 0, { ...toNewEntry({ protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 53, timeout: 60, zone, mark: 7 }), status });
  const m = e.bytes().slice();
  m[6] = 0; m[7] = 0; // flags as in a dump (no CREATE|EXCL)
  return m;
}

function update(msg: Uint8Array, change: Parameters<typeof updateRequest>[5]): Uint8Array {
  const scope = emptyScope();
  assert.ok(scanInto(msg, 0, msg.length, scope));
  const e = new Encoder();
  updateRequest(e, 3, msg, 0, scope, change);
  return e.bytes().slice();
}

function attrs(m: Uint8Array): Map<number, string> {
  const out = new Map<number, string>();
  for (const d = new AttrDecoder(m, 20, m.length); d.next(); ) out.set(d.type, hex(d.rawAttr()));
  return out;
}

test('entryStatus reads the top-level CTA_STATUS of an entry message', () => {
  assert.is(entryStatus(entry(IPS.SEEN_REPLY)), IPS.SEEN_REPLY | IPS.CONFIRMED);
  assert.is(entryStatus(entry(0)), IPS.CONFIRMED);
  // Inside a larger buffer, at an offset.
  const m = entry(IPS.ASSURED);
  const buf = new Uint8Array(m.length + 40);
  buf.set(m, 40);
  assert.is(entryStatus(buf, 40), IPS.ASSURED | IPS.CONFIRMED);
});

test('status update: CTA_STATUS is the entry status ORed with the new bits, byte-exact', () => {
  const m = entry(IPS.SEEN_REPLY);
  const req = update(m, { status: IPS.ASSURED });
  // Header: CT_NEW (0x0100), NLM_F_REQUEST only (an update never creates), seq 3, AF_INET.
  assert.is(hex(req.subarray(4, 20)), '0001' + '0100' + '03000000' + '00000000' + '02000000');
  const a = attrs(req);
  assert.is(a.get(CTA.STATUS), '0800' + '0300' + '0000000e'); // SEEN_REPLY|ASSURED|CONFIRMED
  assert.is(a.get(CTA.ZONE), '0600' + '1200' + '0005'); // (padding not part of the attribute)
  assert.ok(a.has(CTA.TUPLE_ORIG));
  assert.not.ok(a.has(CTA.MARK) || a.has(CTA.TIMEOUT) || a.has(CTA.LABELS));
  // Together with mark and timeout: the order is tuple, zone, mark, mask, timeout, status.
  const all = update(m, { mark: 0x100, markMask: 0xff00, timeout: 30, status: IPS.FIXED_TIMEOUT });
  assert.equal([...attrs(all).keys()], [CTA.TUPLE_ORIG, CTA.ZONE, CTA.MARK, CTA.MARK_MASK, CTA.TIMEOUT, CTA.STATUS]);
  assert.is(attrs(all).get(CTA.STATUS), '0800' + '0300' + '0000040a');
});

test('label update: CTA_LABELS and CTA_LABELS_MASK, 16 bytes each, bit n = label n', () => {
  const labels = parseLabels('0,9,127', 'label', new Map());
  const mask = parseLabels('0,9,127,64', 'label', new Map());
  const req = update(entry(0), { labels, labelsMask: mask });
  const a = attrs(req);
  if (LE) {
    assert.is(a.get(CTA.LABELS), '1400' + '1600' + '01020000' + '00000000' + '00000000' + '00000080');
    assert.is(a.get(CTA.LABELS_MASK), '1400' + '1700' + '01020000' + '00000000' + '01000000' + '00000080');
  }
  assert.equal(labelBits(labels), [0, 9, 127]);
  assert.equal(labelBits(mask), [0, 9, 64, 127]);
  // Without a mask only CTA_LABELS goes out (the kernel then replaces every label).
  const plain = attrs(update(entry(0), { labels }));
  assert.ok(plain.has(CTA.LABELS));
  assert.not.ok(plain.has(CTA.LABELS_MASK));
});

test('parseLabels: numbers, names from connlabel.conf, clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-labels-'));
  try {
    const conf = join(dir, 'connlabel.conf');
    writeFileSync(conf, '# comment\n0\teth0-in\n1 eth0-out # trailing\n200 too-big\nbogus line here\n');
    const names = readConnlabelConf(conf);
    assert.equal([...names.entries()], [['eth0-in', 0], ['eth0-out', 1]]);
    assert.equal(labelBits(parseLabels('eth0-out,5', 'label', names)), [1, 5]);
    assert.equal(readConnlabelConf(join(dir, 'missing.conf')).size, 0);
    for (const bad of ['128', 'nope', '', '1,,x']) {
      try {
        parseLabels(bad, 'label-add', names);
        assert.unreachable(bad);
      } catch (e) {
        assert.instance(e, CtError, bad);
        assert.match((e as Error).message, /label/);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function dumpAll(ct: Conntrack): Uint8Array[] {
  const out: Uint8Array[] = [];
  ct.dumpSync({}, new Uint8Array(65536), (b) => {
    for (const m of splitMessages(b)) out.push(m.slice());
  });
  return out;
}

test('updateSync refuses status bits the kernel will not set and malformed label bitmaps, before sending', () => {
  const k = new FakeKernel();
  const ct = Conntrack.open({ socket: k.socket(), actionSocket: k.socket() });
  ct.createSync([{ protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, timeout: 60 }]);
  const [e] = dumpAll(ct);
  const sends = k.calls.sends;
  for (const bad of [
    { status: IPS.DYING }, { status: IPS.CONFIRMED | IPS.ASSURED }, { status: IPS.SRC_NAT }, { status: -1 },
    { labels: new Uint8Array(17) }, { labels: new Uint8Array(3) }, { labels: new Uint8Array(16), labelsMask: new Uint8Array(8) },
    { labelsMask: new Uint8Array(16) },
  ]) {
    try {
      ct.updateSync([{ entry: e, ...bad }]);
      assert.unreachable(JSON.stringify(bad));
    } catch (err) {
      assert.instance(err, CtError, JSON.stringify(bad));
    }
  }
  assert.is(k.calls.sends, sends, 'nothing was sent');
  assert.is(SETTABLE_STATUS, IPS.SEEN_REPLY | IPS.ASSURED | IPS.FIXED_TIMEOUT);
});

test('fake kernel: status bits are set and kept, labels replaced under their mask', () => {
  const k = new FakeKernel();
  const ct = Conntrack.open({ socket: k.socket(), actionSocket: k.socket() });
  ct.createSync([
    { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, timeout: 60, status: IPS.SEEN_REPLY },
    { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, timeout: 60 },
  ]);
  const before = dumpAll(ct);
  assert.equal(ct.updateSync(before.map((entry) => ({ entry, status: IPS.ASSURED }))), { ok: 2, gone: 0, failed: [] });
  const after = dumpAll(ct).map((m) => entryStatus(m)).sort();
  assert.equal(after, [IPS.ASSURED | IPS.CONFIRMED, IPS.SEEN_REPLY | IPS.ASSURED | IPS.CONFIRMED].sort());
  // Setting ASSURED again changes nothing; the other bits stay.
  assert.equal(ct.updateSync(dumpAll(ct).map((entry) => ({ entry, status: IPS.ASSURED }))).ok, 2);
  assert.equal(dumpAll(ct).map((m) => entryStatus(m)).sort(), after);

  // A stale entry (status read before another update set ASSURED) would clear it: EBUSY, as the kernel.
  const r = ct.updateSync([{ entry: before[0], status: IPS.FIXED_TIMEOUT }]);
  assert.equal(r.failed.map((f) => f.errno), ['EBUSY']);

  // Labels: add 1 and 70, then remove 1 and add 3 under a mask; label 70 stays.
  const [one] = dumpAll(ct);
  const names = new Map<string, number>();
  assert.is(ct.updateSync([{ entry: one, labels: parseLabels('1,70', 'l', names), labelsMask: parseLabels('1,70', 'l', names) }]).ok, 1);
  const add3 = parseLabels('3', 'l', names);
  assert.is(ct.updateSync([{ entry: dumpAll(ct)[0], labels: add3, labelsMask: parseLabels('1,3', 'l', names) }]).ok, 1);
  const labelsOf = (m: Uint8Array) => {
    for (const d = new AttrDecoder(m, 20, m.length); d.next(); ) if (d.type === CTA.LABELS) return labelBits(d.rawAttr().subarray(4));
    return [];
  };
  assert.equal(labelsOf(dumpAll(ct)[0]), [3, 70]);
});


test('mark by conntrack -U\'s rule (markXor): the value goes unmasked, so the kernel toggles its bits outside the mask', () => {
  const m = entry(0);
  const xor = attrs(update(m, { mark: 0x301, markMask: 0xff00, markXor: true }));
  assert.is(xor.get(CTA.MARK), '08000800' + '00000301');
  assert.is(xor.get(CTA.MARK_MASK), '08001500' + '0000ff00');
  // v1 (no markXor): only the masked bits are sent, so they replace.
  assert.is(attrs(update(m, { mark: 0x301, markMask: 0xff00 })).get(CTA.MARK), '08000800' + '00000300');
  // The fake kernel computes (old & ~mask) ^ mark, as ctnetlink_change_mark does: 7 -> 0x301 ^ 7 = 0x306.
  const k = new FakeKernel();
  const ct = Conntrack.open({ socket: k.socket(), actionSocket: k.socket() });
  ct.createSync([{ protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, timeout: 60, mark: 7 }]);
  assert.is(ct.updateSync([{ entry: dumpAll(ct)[0], mark: 0x301, markMask: 0xff00, markXor: true }]).ok, 1);
  assert.is(attrs(dumpAll(ct)[0]).get(CTA.MARK), '08000800' + '00000306');
});

test('state: TCP sends the state alone; SCTP and DCCP carry the entry\'s own vtags / role (the kernel requires them)', () => {
  const tcp = new Encoder();
  createRequest(tcp, 0, toNewEntry({ protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, timeout: 60, tcpState: 'ESTABLISHED' }));
  const t = tcp.bytes().slice();
  // CTA_PROTOINFO { CTA_PROTOINFO_TCP { STATE = TIME_WAIT (7) } }
  assert.is(attrs(update(t, { state: 7 })).get(CTA.PROTOINFO), '10000480' + '0c000180' + '05000100' + '07000000');
  // An SCTP entry as the kernel reports one: CTA_PROTOINFO_SCTP { STATE, VTAG_ORIGINAL, VTAG_REPLY }.
  const info = new Encoder();
  info.begin(CTA.PROTOINFO).begin(3).u8(1, 3).u32be(2, 0x11111111).u32be(3, 0x22222222).end().end();
  const withInfo = entryMessage({ proto: 'sctp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, extra: [info.bytes().slice()] });
  assert.is(attrs(update(withInfo, { state: 4 })).get(CTA.PROTOINFO), '20000480' + '1c000380' + '05000100' + '04000000' + '08000200' + '11111111' + '08000300' + '22222222');
  // A protocol with no state: refused before anything is sent.
  const k = FakeKernel.fromMessages([entry(0)]);
  const ct = Conntrack.open({ socket: k.socket(), actionSocket: k.socket() });
  assert.throws(() => ct.updateSync([{ entry: k.messages()[0], state: 3 }]), (e: unknown) => e instanceof CtError && /has no state to set/.test(e.message));
});

test.run();
