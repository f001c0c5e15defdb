// CreateRecord + CreateExt (sdk/abi.json): everything `toNewEntry` builds travels to the gate and
// comes out as the same request (byte for byte), through the validator direct mode uses; the gate
// keeps the entry (its reply and NAT included) inside the grant, and refuses a malformed
// extension (lengths, unknown bits, bad values) with E_INVAL without throwing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { entryFromFlags } from '../../host/cli/tuple.js';
import { optsFromLine } from '../../host/cli/commands/create.js';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { decodeFlow } from '../../host/conntrack/flow.js';
import { toNewEntry } from '../../host/conntrack/new-entry.js';
import { kernelOps } from '../../host/conntrack/ops.js';
import { createRequest, type NewEntry } from '../../host/conntrack/request.js';
import { Encoder } from '../../host/netlink/attr.js';
import { abi } from '../../host/policy/abi.js';
import { parseScope, type ScopeDocument } from '../../host/policy/capabilities.js';
import { DEFAULT_LIMITS } from '../../host/policy/limits.js';
import { Refusal, ScopedConntrack } from '../../host/scoped/gate.js';
import { readCreateRecord } from '../../host/scoped/records.js';
import { emptyOpStats } from '../../host/scoped/stats.js';
import { createRecordOf } from '../../host/wire/records.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import { flags, record } from '../helpers/records.js';

const { E_SCOPE, E_INVAL } = abi.status;
const RECORD = abi.records.CreateRecord.size, EXT = abi.records.CreateExt.size;

function request(n: NewEntry): string {
  const e = new Encoder();
  createRequest(e, 1, n);
  return Buffer.from(e.bytes()).toString('hex');
}

/** conntrack -I argument lines covering every field toNewEntry takes. */
const LINES = [
  '-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60',
  '-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60 --state NONE',
  '-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60 --state SYN_SENT -m 7 -w 3 -u ASSURED,SEEN_REPLY',
  '-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60 --dst-nat 10.9.9.9:8080',
  '-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60 --src-nat 10.9.9.9 --dst-nat 10.8.8.8:53',
  '-p udp -s 2001:db8::1 -d 2001:db8::2 --sport 1 --dport 2 -t 60 --src-nat [2001:db8::9]:4000',
  '-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 9 --reply-zone 7 --src-nat 10.9.9.9:40000 --label-add 3,127',
  '-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 9 --orig-zone 4',
  '-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 9 -w 0 --orig-zone 4',
  '-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 9 -r 10.7.7.7 -q 10.0.0.1 --reply-port-src 99 --reply-port-dst 1',
  '-p udp -r 10.0.0.2 -q 10.0.0.1 --reply-port-src 2 --reply-port-dst 1 -t 9',
  '-p sctp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60 --state ESTABLISHED --orig-vtag 17 --reply-vtag 4000000000',
  '-p dccp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60 --state OPEN --role server',
  '-p udplite -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60',
  '-p gre -s 10.0.0.1 -d 10.0.0.2 --srckey 5 --dstkey 6 -t 60',
  '-p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 30 --dst-nat 10.3.3.3',
  '-p icmpv6 -s 2001:db8::1 -d 2001:db8::2 --icmp-type 128 --icmp-code 0 --icmp-id 9 -t 30 -m 0x10',
];

/** The entry the gate would build from these record bytes (what the daemon sends the kernel). */
function throughRecord(bytes: Uint8Array): NewEntry {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const r = readCreateRecord(v, 0, bytes.length > RECORD ? RECORD : -1);
  if (typeof r === 'string') throw new Error(r);
  return toNewEntry(r.spec);
}

test('every conntrack -I field survives NewEntry -> CreateRecord (+ CreateExt) -> toNewEntry: the same kernel request', () => {
  for (const line of LINES) {
    const direct = entryFromFlags(optsFromLine(line));
    const bytes = createRecordOf(direct);
    assert.ok(bytes.length === RECORD || bytes.length === RECORD + EXT, line);
    assert.is(request(throughRecord(bytes)), request(direct), line);
  }
  // The basic fields alone need no extension (records of ABI v1 without EXT are unchanged).
  assert.is(createRecordOf(entryFromFlags(optsFromLine(LINES[0]))).length, RECORD);
  assert.is(createRecordOf(entryFromFlags(optsFromLine(LINES[3]))).length, RECORD + EXT, 'NAT needs the extension');
});

function gateOf(scope: ScopeDocument) {
  const k = FakeKernel.fromSpecs([]);
  const grant = { plugin: 't', operations: ['create' as const], scope: parseScope(scope, 'scope', (m) => { throw new Error(m); }), limits: { ...DEFAULT_LIMITS } };
  const stats = emptyOpStats();
  return { k, stats, gate: new ScopedConntrack(kernelOps(Conntrack.open({ socket: k.socket(), actionSocket: k.socket() })), grant, stats) };
}
const recOf = (line: string) => createRecordOf(entryFromFlags(optsFromLine(line)));
const status = (r: unknown) => (r instanceof Refusal ? r.status : r);

test('the gate places a created entry by the zone rule, its NAT and reply included: outside the grant is E_SCOPE, nothing queued', async () => {
  const { gate, k, stats } = gateOf({ zones: [7], families: ['ipv4'], protocols: ['udp', 'tcp'], mark: { value: 0, mask: 0xff00 } });
  const base = '-p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 60 --src-nat 10.9.9.9:40000';
  const refusals: [string, RegExp][] = [
    [`${base} -w 8`, /zone 8/],
    [`${base} --reply-zone 8`, /zone 8/],
    [`${base} --orig-zone 8`, /zone 8/],
    [base, /zone 0/],
    [`${base.replace('-p udp', '-p sctp')} --reply-zone 7`, /protocol/],
    ['-p udp -s 2001:db8::1 -d 2001:db8::2 --sport 1 --dport 2 -t 60 --dst-nat [2001:db8::9]:53 --reply-zone 7', /family|ipv6/],
    [`${base} --reply-zone 7 -m 0x100`, /mark/],
  ];
  for (const [line, why] of refusals) {
    const r = gate.create(recOf(line));
    assert.ok(r instanceof Refusal && r.status === E_SCOPE, `${line}: ${r instanceof Refusal ? r.why : r}`);
    assert.match((r as Refusal).why, why);
  }
  // A batch with one entry outside refuses the whole batch.
  assert.is(status(gate.create(Buffer.concat([recOf(`${base} --reply-zone 7`), recOf(`${base} -w 8`)]))), E_SCOPE);
  assert.is(gate.create(Buffer.concat([recOf(`${base} --reply-zone 7 --label-add 5`), recOf(`${base.replace('10.0.0.1', '10.0.0.5')} -w 7 -m 0x10`)])), 2);
  await gate.send();
  assert.is(stats.created, 2);
  const flows = k.messages().map((m) => decodeFlow(m)!);
  assert.equal(flows.map((f) => f.zone).sort(), [7, 7]);
  assert.ok(flows.some((f) => f.reply.zone === 7), JSON.stringify(flows));
});

test('malformed extensions are refused with E_INVAL (lengths, unknown bits, values), never thrown', () => {
  const { gate } = gateOf({});
  const rec = (extra: Record<string, number | Uint8Array> = {}, names: string[] = []) => record('CreateRecord', {
    family: 2, protocol: 17, flags: flags('CreateRecord', ...names), srcPort: 1, dstPort: 2, timeout: 60,
    src: new Uint8Array([10, 0, 0, 1]), dst: new Uint8Array([10, 0, 0, 2]), ...extra,
  });
  const ext = (names: string[], x: Record<string, number | Uint8Array> = {}) => record('CreateExt', { flags: flags('CreateExt', ...names), ...x });
  const cases: [string, Uint8Array][] = [
    ['EXT with nothing after it', rec({}, ['EXT'])],
    ['EXT with a truncated extension', Buffer.concat([rec({}, ['EXT']), ext(['LABELS']).subarray(0, EXT - 1)])],
    ['a record cut short', rec().subarray(0, RECORD - 3)],
    ['a second record cut short', Buffer.concat([rec(), rec().subarray(0, 10)])],
    ['unknown CreateRecord bits', rec({ flags: 0x80 })],
    ['unknown CreateExt bits', Buffer.concat([rec({}, ['EXT']), ext([], { flags: 1 << 20 })])],
    ['a NAT port without NAT', Buffer.concat([rec({}, ['EXT']), ext(['SRC_NAT_PORT'], { srcNatPort: 5 })])],
    ['two directional zones', Buffer.concat([rec({}, ['EXT']), ext(['ORIG_ZONE', 'REPLY_ZONE'], { origZone: 1, replyZone: 2 })])],
    ['-w and a directional zone', Buffer.concat([rec({ zone: 3 }, ['EXT', 'ZONE']), ext(['ORIG_ZONE'], { origZone: 1 })])],
    ['udp has no state', Buffer.concat([rec({}, ['EXT']), ext(['STATE'], { state: 1 })])],
    ['sctp state 200', Buffer.concat([rec({ protocol: 132 }, ['EXT']), ext(['STATE'], { state: 200 })])],
    ['dccp role 7', Buffer.concat([rec({ protocol: 33 }, ['EXT']), ext(['ROLE'], { role: 7 })])],
    ['a vtag on udp', Buffer.concat([rec({}, ['EXT']), ext(['VTAG_ORIG'], { vtagOrig: 1 })])],
    ['a NAT port on gre', Buffer.concat([rec({ protocol: 47 }, ['EXT']), ext(['DST_NAT', 'DST_NAT_PORT'], { dstNat: new Uint8Array([1, 2, 3, 4]), dstNatPort: 9 })])],
    ['a tcp state on udp', rec({ tcpState: 3 })],
    ['unknown family', rec({ family: 7 })],
    ['status bits the kernel does not define', rec({ status: 1 << 30 })],
  ];
  for (const [name, bytes] of cases) {
    let r: unknown;
    assert.not.throws(() => (r = gate.create(bytes)), name);
    assert.ok(r instanceof Refusal && r.status === E_INVAL, `${name}: ${r instanceof Refusal ? `${r.status} ${r.why}` : r}`);
  }
});

test('random bytes after a valid CreateRecord with EXT: the gate answers (a count or a refusal) and never throws', () => {
  const { gate } = gateOf({ zones: [0, 7] });
  const head = record('CreateRecord', {
    family: 2, protocol: 17, flags: flags('CreateRecord', 'EXT'), srcPort: 1, dstPort: 2, timeout: 60,
    src: new Uint8Array([10, 0, 0, 1]), dst: new Uint8Array([10, 0, 0, 2]),
  });
  let seed = 0x1234567;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  let answered = 0;
  for (let i = 0; i < 20_000; i++) {
    const ext = new Uint8Array(EXT).map(rnd);
    // Mostly known bits, so the values behind them are read too.
    new DataView(ext.buffer).setUint32(0, i % 3 ? (rnd() | (rnd() << 8)) & 0xfff : (rnd() << 24) | rnd(), true);
    const cut = i % 7 === 0 ? rnd() % (RECORD + EXT) : RECORD + EXT;
    const bytes = Buffer.concat([head, ext]).subarray(0, cut);
    const r = gate.create(bytes);
    assert.ok(typeof r === 'number' || r instanceof Refusal, String(r));
    answered++;
    gate.discard();
  }
  assert.is(answered, 20_000);
});

test('CreateSpec.reply: the reply tuple is validated by toNewEntry as the original is', () => {
  const s: CreateSpec = { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, timeout: 9 };
  assert.throws(() => toNewEntry({ ...s, reply: { src: '2001:db8::1' } }), /reply source address/);
  assert.throws(() => toNewEntry({ ...s, reply: { sport: 70000 } }), /reply source port/);
  const e = toNewEntry({ ...s, reply: { src: '10.7.7.7' } });
  assert.equal([...e.reply!.src], [10, 7, 7, 7]);
  assert.equal([...e.reply!.dst], [10, 0, 0, 1], 'what is not given is the original swapped');
  assert.is(e.reply!.sport, 2);
});

test.run();
