// `create` and `create --from` through `ctplug daemon` (issue 14, issue 17's CreateRecord
// extension): as uid 65534 with no capability, everything conntrack -I sets (NAT, labels, status,
// a reply tuple, directional zones, sctp vtags and state, dccp role) is created as conntrack -I
// creates it in a twin namespace; a save restored through the daemon lists as the original; an
// entry outside the client's grant (zone, direction, family, protocol, mark) is refused with the
// table intact; malformed extensions sent raw are refused and the daemon serves on.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { Conntrack } from '../../host/index.js';
import { abi, STATUS } from '../../host/policy/abi.js';
import { encodeFrame, FRAME, FrameReader } from '../../host/wire/frame.js';
import { createRecordOf, decodeError, decodeResult } from '../../host/wire/records.js';
import { toNewEntry } from '../../host/conntrack/new-entry.js';
import { bundledCli, type Run } from '../helpers/cli.js';
import { CLIENT_UID, startTestDaemon, type TestDaemon, unprivileged } from '../helpers/daemon.js';
import { conntrackIn, kernelSuite, listingLines, makeNetns, removeNetns } from '../helpers/netns.js';
import { connlabelRoom, trafficSkipReason } from '../helpers/traffic.js';

const { t, it, skip } = kernelSuite('daemon: create and restore (kernel)', 'test/integration/daemon-create.test.ts');
const cli = bundledCli('daemon-create');
const noNft = skip ? undefined : trafficSkipReason();
if (noNft) process.stdout.write(`SKIP test/integration/daemon-create.test.ts (labels): ${noNft}\n`);
/** A client granted create in zone 1 only, IPv4 UDP only, marks 0x1X only. */
const NARROW_UID = 65_532;
const me = process.getuid!();
let ns = '', twin = '';
let d: TestDaemon | undefined;
const ZONES = [0, 4, 5, 6, 9];

if (!skip) {
  t.before(async () => {
    ns = makeNetns();
    twin = makeNetns();
    if (!noNft) {
      connlabelRoom(ns);
      connlabelRoom(twin);
    }
    await cli.build();
    d = await startTestDaemon(cli.daemon, {
      clients: {
        [`uid:${CLIENT_UID}`]: { capabilities: { operations: ['read', 'create'], scope: { zones: ZONES } }, netns: [ns] },
        [`uid:${NARROW_UID}`]: {
          capabilities: { operations: ['read', 'create'], scope: { zones: [1], families: ['ipv4'], protocols: ['udp'], mark: { value: 0x10, mask: 0xf0 } } }, netns: [ns],
        },
        [`uid:${me}`]: { capabilities: { operations: ['read', 'create'], scope: { zones: ZONES } }, netns: [ns] },
      },
    });
  });
  t.after(async () => {
    await d?.stop();
    cli.remove();
    removeNetns(ns);
    removeNetns(twin);
  });
  t.before.each(() => {
    conntrackIn(ns, ['-F']);
    conntrackIn(twin, ['-F']);
  });
}

/** `ctplug ARGS --netns NS` as `uid` without capabilities, a client of the test daemon. */
function client(args: string[], uid = CLIENT_UID, input?: string): Run {
  return cli.run([args[0], '--netns', ns, ...args.slice(1)], { prefix: [...unprivileged(uid), 'env', `CTPLUG_SOCKET=${d!.socket}`], input });
}
/** conntrack -L lines without timeout, use= and id=, sorted. */
const table = (n: string, args: string[] = []) => listingLines(conntrackIn(n, ['-L', ...args]), ['use', 'id']);
/** Status flags and labels of every entry (ctplug list -o json, direct mode), by original tuple. */
function flags(n: string): string[] {
  const r = cli.run(['list', '--netns', n, '-o', 'json']);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map((l) => {
    const j = JSON.parse(l);
    return `${JSON.stringify(j.orig)} ${j.flags.join(',')} labels=${(j.labels ?? []).join(',')}`;
  }).sort();
}

// conntrack -I argument lines; each goes to conntrack -I in the twin and to ctplug create through the daemon.
const CASES: string[][] = [
  ['-p', 'tcp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--sport', '1000', '--dport', '80', '--dst-nat', '192.168.1.5:8080', '-t', '600', '--state', 'ESTABLISHED'],
  ['-p', 'udp', '-s', '10.0.0.1', '-d', '10.0.0.3', '--sport', '1000', '--dport', '53', '--src-nat', '192.168.1.9', '-t', '600'],
  // (Not -m with -u: conntrack 1.4.7 -I then sets the mark to the status bits.)
  ['-p', 'udp', '-s', '10.0.0.1', '-d', '10.0.0.3', '--sport', '1001', '--dport', '53', '--src-nat', '192.168.1.9:2000', '-t', '600', '-u', 'ASSURED'],
  ['-p', 'udp', '-s', '10.0.0.1', '-d', '10.0.0.3', '--sport', '1002', '--dport', '53', '--dst-nat', '10.0.0.99', '-t', '600', '-m', '7'],
  ['-p', 'tcp', '-s', '10.0.0.5', '-d', '10.0.0.6', '--sport', '4000', '--dport', '443', '--src-nat', '172.16.0.1:5000', '--dst-nat', '192.168.2.2:8443', '-t', '600', '--state', 'SYN_SENT', '-w', '9'],
  ['-p', 'udp', '-s', '2001:db8::1', '-d', '2001:db8::2', '--sport', '1000', '--dport', '53', '--dst-nat', '[2001:db8::99]:5353', '--src-nat', '2001:db8::7', '-t', '600'],
  ['-p', 'icmp', '-s', '10.0.0.1', '-d', '10.0.0.4', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '7', '--src-nat', '172.16.0.1', '-t', '600'],
  ['-p', 'udp', '-s', '10.1.0.1', '-d', '10.1.0.2', '--sport', '1', '--dport', '2', '-t', '600', '--orig-zone', '5'],
  ['-p', 'udp', '-s', '10.1.0.1', '-d', '10.1.0.3', '--sport', '1', '--dport', '2', '-t', '600', '--reply-zone', '6', '--src-nat', '10.9.9.9:40000'],
  ['-p', 'udp', '-s', '10.5.0.1', '-d', '10.5.0.2', '--sport', '7', '--dport', '8', '-r', '10.5.0.9', '-q', '10.5.0.1', '--reply-port-src', '8', '--reply-port-dst', '7', '-t', '600'],
  ['-p', 'tcp', '-s', '10.5.0.1', '-d', '10.5.0.3', '--sport', '7', '--dport', '8', '--state', 'TIME_WAIT', '-u', 'SEEN_REPLY', '-t', '600', '-w', '4'],
  ['-p', 'sctp', '-s', '10.6.0.1', '-d', '10.6.0.2', '--sport', '5', '--dport', '6', '-t', '600', '--state', 'ESTABLISHED', '--orig-vtag', '17', '--reply-vtag', '4000000000'],
];
const LABELLED: [string[], number[]][] = [
  [['-p', 'tcp', '-s', '10.2.0.1', '-d', '10.2.0.2', '--sport', '1', '--dport', '2', '-t', '600', '--state', 'ESTABLISHED'], [5, 70]],
  [['-p', 'udp', '-s', '2001:db8::1', '-d', '2001:db8::2', '--sport', '1', '--dport', '2', '-t', '600', '--dst-nat', '[2001:db8::9]:99'], [0, 127]],
];

it('as uid 65534: create with NAT, status, reply tuple, directional zones, sctp vtags (and labels) lists as conntrack -I makes it', () => {
  for (const args of CASES) {
    conntrackIn(twin, ['-I', ...args]);
    const r = client(['create', ...args]);
    assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /1 flow entries have been created\./);
  }
  if (!noNft) {
    for (const [args, bits] of LABELLED) {
      // conntrack names labels only through connlabel.conf; ctplug direct mode (root) is the oracle for the bits.
      const direct = cli.run(['create', '--netns', twin, ...args, '--label-add', bits.join(',')]);
      assert.is(direct.code, 0, direct.stderr);
      const r = client(['create', ...args, '--label-add', bits.join(',')]);
      assert.is(r.code, 0, r.stderr);
    }
  }
  const want = table(twin);
  assert.is(want.length, CASES.length + (noNft ? 0 : LABELLED.length));
  assert.equal(table(ns), want);
  for (const f of ['--src-nat', '--dst-nat']) {
    assert.ok(table(twin, [f]).length > 0, f);
    assert.equal(table(ns, [f]), table(twin, [f]), f);
  }
  assert.equal(flags(ns), flags(twin));
  if (!noNft) assert.ok(flags(ns).some((l) => l.endsWith('labels=5,70')), flags(ns).join('\n'));
  assert.match(conntrackIn(ns, ['-L', '-p', 'tcp', '--dport', '80']), /src=192\.168\.1\.5 dst=10\.0\.0\.1 sport=8080 dport=1000/, 'the NAT core made the reply');
});

it('create --from through the daemon: a list -o json save and a -o save file restore as the original lists', () => {
  // (conntrack's -o save format, which list -o save keeps, writes no mark: entries without one.)
  const cases = CASES.filter((c) => !c.includes('-m'));
  for (const args of cases) conntrackIn(twin, ['-I', ...args]);
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-restore-'));
  try {
    for (const format of ['json', 'save']) {
      const saved = cli.run(['list', '--netns', twin, '-o', format]);
      assert.is(saved.code, 0, saved.stderr);
      const file = join(dir, `t.${format}`);
      writeFileSync(file, saved.stdout);
      spawnSync('chmod', ['644', file]);
      spawnSync('chmod', ['755', dir]);
      conntrackIn(ns, ['-F']);
      const r = client(['create', '--from', file]);
      assert.is(r.code, 0, `${format}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${cases.length} flow entries have been created\\.`));
      // A JSON record holds no SCTP verification tags, and the kernel takes an SCTP state only with them: NONE then.
      const sctpState = (l: string) => (format === 'json' ? l.replace(/^(sctp +132) ESTABLISHED /, '$1 NONE ') : l);
      assert.equal(table(ns), table(twin).map(sctpState), format);
      assert.equal(flags(ns), flags(twin), format);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('10,000 entries restored through the daemon: the same table as conntrack -R would leave', () => {
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const nat = i % 4 === 0 ? ` --src-nat 172.16.${i >> 8 & 255}.${i & 255}:${20000 + (i % 1000)}` : '';
    lines.push(`-A -p udp -s 10.${i >> 16}.${(i >> 8) & 255}.${i & 255} -d 198.51.100.${i % 7} --sport ${1024 + (i % 5000)} --dport 53 -t 600 -w ${ZONES[i % ZONES.length]}${nat}`);
  }
  const r = client(['create', '--from', '-'], CLIENT_UID, lines.join('\n') + '\n');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /10000 flow entries have been created\./);
  const o = spawnSync('ip', ['netns', 'exec', twin, 'conntrack', '-R', '-'], { input: lines.map((l) => l.replace(/^-A/, '-I')).join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 26 });
  // conntrack -R: `-R -` reads stdin on 1.4.7; on a conntrack without it, the twin is filled by ctplug direct mode instead.
  if (o.status !== 0) {
    const direct = cli.run(['create', '--netns', twin, '--from', '-'], { input: lines.join('\n') + '\n' });
    assert.is(direct.code, 0, direct.stderr);
  }
  assert.is(Number(conntrackIn(ns, ['-C']).trim()), 10_000);
  assert.equal(table(ns), table(twin));
});

/** Refused through the daemon: nothing on stdout, exit 3, one line naming the reason; the table as it was. */
function refused(args: string[], reason: RegExp, uid = NARROW_UID, input?: string): void {
  const before = table(ns);
  const r = client(args, uid, input);
  assert.is(r.stdout, '', `${args.join(' ')} printed`);
  assert.is(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, reason);
  assert.equal(table(ns), before, `${args.join(' ')} changed the table`);
}

it('outside the grant (zone, direction, family, protocol, mark), the entry and its NAT reply are refused: E_SCOPE, table intact', () => {
  const udp = ['-p', 'udp', '-s', '10.7.0.1', '-d', '10.7.0.2', '--sport', '1', '--dport', '2', '-t', '600'];
  const ok = client(['create', ...udp, '-w', '1', '-m', '0x11', '--src-nat', '10.9.9.9:4000'], NARROW_UID);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(table(ns).length, 1);
  refused(['create', ...udp, '-w', '2', '-m', '0x11'], /refused \(E_SCOPE\): zone 2 is outside the grant/);
  refused(['create', ...udp, '--reply-zone', '2', '-m', '0x11', '--src-nat', '10.9.9.8'], /refused \(E_SCOPE\): zone 2 is outside the grant/);
  refused(['create', ...udp, '--orig-zone', '3', '-m', '0x11', '--dst-nat', '10.9.9.8:53'], /refused \(E_SCOPE\): zone 3 is outside the grant/);
  refused(['create', '-p', 'udp', '-s', '2001:db8::1', '-d', '2001:db8::2', '--sport', '1', '--dport', '2', '-t', '600', '-w', '1', '-m', '0x11', '--dst-nat', '[2001:db8::9]:53'], /refused \(E_SCOPE\): .*ipv6/);
  refused(['create', '-p', 'tcp', '-s', '10.7.0.1', '-d', '10.7.0.2', '--sport', '1', '--dport', '2', '-t', '600', '-w', '1', '-m', '0x11'], /refused \(E_SCOPE\): .*tcp/);
  refused(['create', ...udp, '-w', '1', '-m', '0x21', '--src-nat', '10.9.9.8'], /refused \(E_SCOPE\): .*mark/);
  // A restore with one entry outside the grant: that batch is refused whole, nothing of it created.
  const file = [`-A ${udp.join(' ')} -w 1 -m 0x12`, `-A ${udp.join(' ').replace('10.7.0.1', '10.7.0.3')} --reply-zone 2 -m 0x12`].join('\n') + '\n';
  refused(['create', '--from', '-'], /refused \(E_SCOPE\): zone 2 is outside the grant/, NARROW_UID, file);
});

/** A raw connection as `me` (policy uid:me): HELLO, then frames; the replies collected. */
async function rawSession(): Promise<{ send(type: number, id: number, payload: Uint8Array): void; reply(id: number): Promise<{ type: number; payload: Uint8Array }>; close(): void }> {
  const sock = connect(d!.socket);
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  const reader = new FrameReader('daemon');
  const got: { type: number; id: number; payload: Uint8Array }[] = [];
  const waiting: (() => void)[] = [];
  sock.on('data', (c: Buffer) => {
    for (const f of reader.push(c)) got.push({ type: f.type, id: f.id, payload: f.payload.slice() });
    waiting.splice(0).forEach((w) => w());
  });
  sock.on('error', () => undefined);
  sock.write(encodeFrame(FRAME.HELLO, 1, 0, Buffer.from(JSON.stringify({ version: 1, netns: ns, capabilities: null }))));
  const reply = async (id: number) => {
    for (let i = 0; i < 200; i++) {
      const f = got.find((x) => x.id === id && x.type !== FRAME.WELCOME);
      if (f) return f;
      await new Promise<void>((res) => { waiting.push(res); setTimeout(res, 50); });
    }
    throw new Error(`no reply to ${id}`);
  };
  return { send: (type, id, payload) => sock.write(encodeFrame(type, id, 0, payload)), reply, close: () => sock.destroy() };
}

it('hostile CreateExt sent raw (lengths, unknown bits, bad values): ERROR E_INVAL each, nothing created, the daemon serves on', async () => {
  const s = await rawSession();
  try {
    const good = createRecordOf(toNewEntry({ protocol: 'udp', src: '10.8.0.1', dst: '10.8.0.2', sport: 1, dport: 2, timeout: 600, srcNat: '10.9.9.9:5000', replyZone: 5 }));
    assert.is(good.length, abi.records.CreateRecord.size + abi.records.CreateExt.size);
    const E = abi.records.CreateExt.fields;
    const withFlags = (bits: number, origZone = 0) => {
      const b = Buffer.from(good);
      b.writeUInt32LE(bits, abi.records.CreateRecord.size);
      b.writeUInt16LE(origZone, abi.records.CreateRecord.size + E.origZone.offset);
      return b;
    };
    const bad: [string, Uint8Array][] = [
      ['truncated extension', good.subarray(0, good.length - 1)],
      ['EXT, no extension', good.subarray(0, abi.records.CreateRecord.size)],
      ['unknown extension bits', withFlags(0x8000_0000)],
      ['a NAT port without NAT', withFlags(4)],
      ['two zones', withFlags(1 | 32 | 64, 4)],
      ['a vtag on udp', withFlags(512)],
      ['a record and a half', Buffer.concat([good, good.subarray(0, 70)])],
    ];
    let id = 10;
    for (const [name, payload] of bad) {
      s.send(FRAME.CREATE, ++id, payload);
      const f = await s.reply(id);
      assert.is(f.type, FRAME.ERROR, name);
      assert.is(decodeError(f.payload).status, STATUS.E_INVAL, `${name}: ${decodeError(f.payload).text}`);
    }
    assert.equal(table(ns), [], 'nothing created');
    s.send(FRAME.CREATE, ++id, good);
    const f = await s.reply(id);
    assert.is(f.type, FRAME.RESULT);
    assert.is(decodeResult(f.payload).ok, 1);
    assert.match(table(ns).join('\n'), /dst=10\.8\.0\.2 .* src=10\.8\.0\.2 dst=10\.9\.9\.9 sport=2 dport=5000 .*zone-reply=5/);
  } finally {
    s.close();
  }
  const c = await Conntrack.connect(d!.socket, { netns: ns });
  try {
    assert.is(await c.count(), 1, 'the daemon still serves');
  } finally {
    c.close();
  }
});

t.run();
