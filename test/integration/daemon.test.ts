// `ctplug daemon` against the real kernel (issue 14): the daemon started as root drops to its own
// uid with CAP_NET_ADMIN (+ CAP_SYS_ADMIN for setns) only; the CLI runs as uid 65534 with no
// capability at all (setpriv) and is a client through CTPLUG_SOCKET. `conntrack` in the same
// namespace is the oracle; what a client is refused leaves the table as it was.
import * as assert from 'uvu/assert';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { bundledCli, type Run } from '../helpers/cli.js';
import { CLIENT_UID, procCaps, startTestDaemon, type TestDaemon, unprivileged } from '../helpers/daemon.js';
import { conntrackIn, kernelSuite, listingLines, makeNetns, removeNetns, seedNetns } from '../helpers/netns.js';
import { spawnSync } from 'node:child_process';

const { t, it, skip } = kernelSuite('daemon (kernel)', 'test/integration/daemon.test.ts');
const cli = bundledCli('daemon-it');
/** `ns`: the client's namespace; `twin`: seeded alike, not in the client's entry (conntrack's side of comparisons). */
let ns = '', twin = '';
let d: TestDaemon | undefined;
/** A second client, granted create, flush and update (mark bits 0xff) in zone 1. */
const OPERATOR_UID = 65_532;

/** Zones 1 and 2: udp and tcp in each (zone 1 has more udp than tcp), and one IPv6 udp in zone 1. */
const SPECS: CreateSpec[] = [1, 2].flatMap((zone) => [
  ...[1, 2, 3].map((i): CreateSpec => ({ protocol: 'udp', src: `10.${zone}.0.${i}`, dst: '198.51.100.53', sport: 50000 + i, dport: 53, timeout: 600, zone })),
  { protocol: 'tcp', src: `10.${zone}.1.1`, dst: '198.51.100.1', sport: 40001, dport: 443, tcpState: 'ESTABLISHED', timeout: 600, zone, mark: 7 },
  { protocol: 'udp', src: `2001:db8:${zone}::1`, dst: '2001:db8:ffff::53', sport: 50009, dport: 53, timeout: 600, zone },
]);

/** conntrack -L lines without their (ticking) timeouts, sorted; ids kept. */
const table = (n: string, args: string[] = []) => listingLines(conntrackIn(n, ['-L', ...args]));

/** `ctplug ARGS` as CLIENT_UID without capabilities, a client of the test daemon. */
function client(args: string[], uid = CLIENT_UID): Run {
  return cli.run(args, { prefix: [...unprivileged(uid), 'env', `CTPLUG_SOCKET=${d!.socket}`] });
}

if (!skip) {
  t.before(async () => {
    ns = makeNetns();
    twin = makeNetns();
    await cli.build();
    d = await startTestDaemon(cli.entry.replace(/cli\.cjs$/, 'daemon.js'), {
      clients: {
        [`uid:${CLIENT_UID}`]: { capabilities: { operations: ['read', 'delete'], scope: { zones: [1] } }, netns: [ns] },
        [`uid:${OPERATOR_UID}`]: { capabilities: { operations: ['read', 'delete', 'create', 'flush', 'update'], scope: { zones: [1], markBits: 0xff } }, netns: [ns] },
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
    seedNetns(ns, SPECS);
    seedNetns(twin, SPECS);
  });
}

/** Refused through the daemon: nothing on stdout, exit 3, one line naming the reason; the table as it was. */
function refused(args: string[], reason: RegExp, uid = CLIENT_UID): void {
  const before = table(ns), beforeTwin = table(twin);
  const r = client(args, uid);
  assert.is(r.stdout, '', `${args.join(' ')} printed`);
  assert.is(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, reason);
  assert.equal(table(ns), before, `${args.join(' ')} changed the table`);
  assert.equal(table(twin), beforeTwin);
}

it('as uid 65534 with no capabilities, list --netns NS -w 1 -o id prints what conntrack -L -w 1 -o id prints', () => {
  const r = client(['list', '--netns', ns, '-w', '1', '-o', 'id']);
  assert.is(r.code, 0, r.stderr);
  const want = table(ns, ['-w', '1', '-o', 'id']);
  assert.is(want.length, 5);
  assert.equal(listingLines(r.stdout), want);
});

it('refused with nothing printed and the table intact: list -w 2, delete -w 2, flush, flush -w 1, another netns, a uid without an entry', () => {
  refused(['list', '--netns', ns, '-w', '2', '-o', 'id'], /^ctplug: list: the ctplug daemon at .* refused \(E_DENIED\): .*zones: asks \[2\], allows \[1\]/);
  refused(['delete', '--netns', ns, '-w', '2'], /^ctplug: delete: .*refused \(E_DENIED\): .*zones/);
  refused(['delete', '--netns', ns, '-w', '2', '-p', 'udp'], /^ctplug: delete: .*refused \(E_DENIED\)/);
  refused(['flush', '--netns', ns], /^ctplug: flush: .*refused \(E_DENIED\)/);
  refused(['flush', '--netns', ns, '-w', '1'], /^ctplug: flush: .*refused \(E_DENIED\)/);
  refused(['list', '--netns', twin, '-w', '1'], /^ctplug: list: .*refused \(E_DENIED\): namespace "ctplug-test-[0-9a-f]+" is not in the netns list of uid:65534/);
  refused(['list', '-w', '1'], /^ctplug: list: .*refused \(E_DENIED\): the daemon's own namespace is not in the netns list/);
  refused(['list', '--netns', ns, '-w', '1'], /^ctplug: list: .*refused \(E_DENIED\): uid 65533 \(gid 65533\) has no entry in the daemon's policy "clients"/, 65533);
});

it('delete -w 1 -p udp through the daemon deletes what conntrack -D -w 1 -p udp deletes (twin namespaces)', () => {
  const mine = client(['delete', '--netns', ns, '-w', '1', '-p', 'udp']);
  const theirs = spawnSync('ip', ['netns', 'exec', twin, 'conntrack', '-D', '-w', '1', '-p', 'udp'], { encoding: 'utf8' });
  assert.is(theirs.status, 0, theirs.stderr);
  assert.is(mine.code, 0, mine.stderr);
  const n = (s: string) => s.match(/(\d+) flow entries have been deleted/)?.[1];
  assert.is(n(mine.stderr), '4');
  assert.is(n(mine.stderr), n(theirs.stderr));
  const noIds = (text: string) => listingLines(text, ['id']);
  assert.equal(noIds(mine.stdout), noIds(theirs.stdout), 'printed');
  assert.equal(listingLines(conntrackIn(ns, ['-L']), ['id']), listingLines(conntrackIn(twin, ['-L']), ['id']), 'what is left');
  assert.is(table(ns).length, SPECS.length - 4);
});

it('create and flush within the grant do what conntrack -I / -D do; beyond it refused, nothing changed', () => {
  const flow = ['-p', 'udp', '-s', '10.9.0.1', '-d', '10.9.0.2', '--sport', '1', '--dport', '2', '-t', '300'];
  const mine = client(['create', '--netns', ns, ...flow, '-w', '1'], OPERATOR_UID);
  assert.is(mine.code, 0, mine.stderr);
  conntrackIn(twin, ['-I', ...flow, '-w', '1']);
  const noIds = (n: string) => listingLines(conntrackIn(n, ['-L']), ['id']);
  assert.equal(noIds(ns), noIds(twin));
  refused(['create', '--netns', ns, ...flow, '-w', '2'], /^ctplug: create: .*refused \(E_SCOPE\): zone 2 is outside the grant/, OPERATOR_UID);
  refused(['flush', '--netns', ns], /^ctplug: flush: .*grants a flush within zones 1 only, .*nothing was flushed/, OPERATOR_UID);
  refused(['flush', '--netns', ns, '-w', '2'], /^ctplug: flush: .*nothing was flushed/, OPERATOR_UID);
  const f = client(['flush', '--netns', ns, '-w', '1'], OPERATOR_UID);
  assert.is(f.code, 0, f.stderr);
  assert.is(f.stdout, '');
  conntrackIn(twin, ['-D', '-w', '1']);
  assert.equal(noIds(ns), noIds(twin));
  assert.equal(table(ns, ['-w', '1']), []);
  assert.is(table(ns, ['-w', '2']).length, 5);
});

it('update through the daemon changes what direct mode changes; a zone, mark bits or status beyond the grant refused', () => {
  for (const c of [['-w', '1', '-p', 'tcp', '-m', '9/0xff'], ['-w', '1', '-p', 'tcp', '-m', '0x10/0x0f'], ['-w', '1', '-p', 'udp', '-m', '0x20/0xf0'], ['-w', '1', '-p', 'udp', '-u', 'ASSURED']]) {
    const mine = client(['update', '--netns', ns, ...c], OPERATOR_UID);
    assert.is(mine.code, 0, `${c.join(' ')}: ${mine.stderr}`);
    // conntrack 1.4.7 refuses -w with -U, so the oracle is direct mode (root) on the twin (cli-verbs checks it against conntrack -U).
    const direct = cli.run(['update', '--netns', twin, ...c]);
    assert.is(direct.code, 0, direct.stderr);
    assert.equal(listingLines(mine.stdout, ['id']), listingLines(direct.stdout, ['id']), `printed: ${c.join(' ')}`);
    const noIds = (n: string) => listingLines(conntrackIn(n, ['-L']), ['id']);
    assert.equal(noIds(ns), noIds(twin), c.join(' '));
  }
  assert.equal(table(ns, ['-w', '1', '-m', '16']).length, 1, "conntrack -U's rule: (9 & ~0x0f) ^ 0x10 = 0x10");
  refused(['update', '--netns', ns, '-w', '2', '-m', '9'], /^ctplug: update: .*refused \(E_DENIED\): .*zones/, OPERATOR_UID);
  refused(['update', '--netns', ns, '-w', '1', '-m', '0x100/0x100'], /^ctplug: update: .*refused \(E_DENIED\): .*markBits: asks 0x100, allows 0xff/, OPERATOR_UID);
  refused(['update', '--netns', ns, '-w', '1', '-m', '9'], /^ctplug: update: .*refused \(E_DENIED\): .*markBits: asks 0xffffffff/, OPERATOR_UID);
  refused(['update', '--netns', ns, '-w', '1', '-m', '9/0xff'], /^ctplug: update: .*refused \(E_DENIED\): .*operations/);
});

it('the daemon keeps CAP_NET_ADMIN and CAP_SYS_ADMIN only, in every set, under its own uid', () => {
  const caps = procCaps(d!.pid);
  const want = (1n << 12n) | (1n << 21n);
  assert.is(caps.CapEff, want);
  assert.is(caps.CapPrm, want);
  assert.is(caps.CapBnd, want);
  assert.is(caps.CapAmb & ~want, 0n);
  assert.is(caps.CapInh & ~want, 0n);
});

t.run();
