// The scope scanner's guards, without root: the zone rule, duplicate attributes, tuples that
// disagree, DESTROY messages, and the lookup key every delete/update/confirmation is built from.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CTA, CTA_TUPLE } from '../../host/conntrack/constants.js';
import { deleteRequest, updateRequest } from '../../host/conntrack/request.js';
import { emptyScope, entryZone, scanEntry, scanInto, ZONE_DIR } from '../../host/conntrack/scope.js';
import { AttrDecoder, Encoder } from '../../host/netlink/attr.js';
import { entryMessage } from '../helpers/ctmsg.js';

const base = { proto: 'udp' as const, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, id: 42, mark: 0x10 };

/** The message with one more top-level attribute appended (nlmsg_len fixed). */
function withExtra(msg: Uint8Array, attr: Uint8Array): Uint8Array {
  const out = new Uint8Array(msg.length + attr.length);
  out.set(msg);
  out.set(attr, msg.length);
  new DataView(out.buffer).setUint32(0, out.length, true);
  return out;
}
const u32attr = (type: number, v: number) => { const b = new Uint8Array(8), d = new DataView(b.buffer); d.setUint16(0, 8, true); d.setUint16(2, type, true); d.setUint32(4, v, false); return b; };

test('the zone rule: CTA_ZONE, else the CTA_TUPLE_ZONE of either tuple, else 0; two zones are not an entry', () => {
  assert.equal([entryZone(7, -1, -1), entryZone(-1, 7, -1), entryZone(-1, -1, 7), entryZone(-1, -1, -1)], [7, 7, 7, 0]);
  assert.equal([entryZone(5, 7, -1), entryZone(-1, 5, 7), entryZone(0, 7, -1), entryZone(7, -1, 7)], [-1, -1, -1, -1]);
  const z = (spec: object) => { const s = scanEntry(entryMessage({ ...base, ...spec }))!; return [s.zone, s.zoneDir]; };
  assert.equal(z({}), [0, ZONE_DIR.BOTH]);
  assert.equal(z({ zone: 7 }), [7, ZONE_DIR.BOTH]);
  assert.equal(z({ origZone: 7 }), [7, ZONE_DIR.ORIG]);
  assert.equal(z({ reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 2, dport: 1, zone: 7 } }), [7, ZONE_DIR.REPLY]);
  assert.is(scanEntry(entryMessage({ ...base, zone: 5, origZone: 7 })), null, 'CTA_ZONE and a tuple zone: refused');
});

test('duplicate attributes are refused, top-level and inside a tuple (the kernel would take the last one)', () => {
  const m = entryMessage(base);
  assert.ok(scanEntry(m));
  assert.is(scanEntry(withExtra(m, u32attr(CTA.MARK, 0x20))), null, 'a second CTA_MARK');
  assert.is(scanEntry(withExtra(m, u32attr(CTA.ID, 1))), null, 'a second CTA_ID');
  // A second CTA_TUPLE_ZONE inside the original tuple.
  const s = scanEntry(entryMessage({ ...base, origZone: 7 }))!;
  const twice = entryMessage({ ...base, origZone: 7 });
  const zoneAt = Buffer.from(twice).indexOf(Buffer.from([6, 0, CTA_TUPLE.ZONE, 0, 0, 7]), s.tupleOffset);
  assert.ok(zoneAt > 0);
  twice[zoneAt + 2] = CTA_TUPLE.IP; // the zone attribute becomes a second CTA_TUPLE_IP
  assert.is(scanEntry(twice), null);
});

test('an attribute that runs past its message is refused, even when the buffer goes on (the next message)', () => {
  const m = entryMessage({ ...base, extra: [u32attr(30, 0)] }); // ends with an attribute the scanner does not read
  assert.ok(scanEntry(m));
  const two = new Uint8Array(m.length * 2);
  two.set(m);
  two.set(m, m.length);
  const last = m.length - 8;
  two[last] = 16; // its length now reaches 8 bytes into the next message
  const s = emptyScope();
  assert.not.ok(scanInto(two, 0, m.length, s));
  two[last] = 8;
  assert.ok(scanInto(two, 0, m.length, s) && scanInto(two, m.length, m.length, s), 'both intact messages scan');
});

test('a reply tuple of another protocol than the original is refused (it is a lookup key)', () => {
  const m = entryMessage(base);
  const s = scanEntry(m)!;
  const bad = m.slice();
  const num = Buffer.from(bad).indexOf(Buffer.from([5, 0, 1, 0, 17]), s.replyTupleOffset); // CTA_PROTO_NUM udp in the reply tuple
  assert.ok(num > 0);
  bad[num + 4] = 6;
  assert.is(scanEntry(bad), null);
});

test('a DESTROY message is scanned as destroyed', () => {
  const s = emptyScope();
  assert.ok(scanInto(entryMessage({ ...base, msgType: (1 << 8) | 2 }), 0, entryMessage(base).length, s));
  assert.ok(s.destroyed);
  assert.ok(scanInto(entryMessage(base), 0, entryMessage(base).length, s) && !s.destroyed);
});

/** The top-level attributes of a request message. */
function attrs(req: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const d = new AttrDecoder(req, 20, req.length); d.next(); ) out.set(d.type, d.buf.subarray(d.start, d.end));
  return out;
}

test('the lookup key: the tuple of the zone\'s direction without its tuple zone, CTA_ZONE for a non-zero zone, CTA_ID always', () => {
  const req = (spec: object, update = false) => {
    const m = entryMessage({ ...base, ...spec });
    const enc = new Encoder();
    const s = scanEntry(m)!;
    if (update) updateRequest(enc, 1, m, 0, s, { timeout: 5 });
    else deleteRequest(enc, 1, m, 0, s);
    return attrs(enc.bytes().slice());
  };
  const zone0 = req({});
  assert.ok(zone0.has(CTA.TUPLE_ORIG) && !zone0.has(CTA.TUPLE_REPLY) && !zone0.has(CTA.ZONE));
  assert.is(new DataView(zone0.get(CTA.ID)!.buffer, zone0.get(CTA.ID)!.byteOffset).getUint32(0, false), 42);
  for (const update of [false, true]) {
    const orig7 = req({ origZone: 7 }, update);
    assert.ok(orig7.has(CTA.TUPLE_ORIG) && orig7.has(CTA.ZONE) && orig7.has(CTA.ID), `orig-zone-7 ${update ? 'update' : 'delete'}`);
    const tuple = orig7.get(CTA.TUPLE_ORIG)!, inner: number[] = [];
    for (const d = new AttrDecoder(tuple, 0, tuple.length); d.next(); ) inner.push(d.type);
    assert.equal(inner, [CTA_TUPLE.IP, CTA_TUPLE.PROTO], 'its tuple zone is dropped');
    const reply7 = req({ reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 2, dport: 1, zone: 7 } }, update);
    assert.ok(reply7.has(CTA.TUPLE_REPLY) && !reply7.has(CTA.TUPLE_ORIG) && reply7.has(CTA.ZONE) && reply7.has(CTA.ID), `reply-zone-7 ${update ? 'update' : 'delete'}`);
    assert.is(new DataView(reply7.get(CTA.ZONE)!.buffer, reply7.get(CTA.ZONE)!.byteOffset).getUint16(0, false), 7);
  }
});

test.run();
