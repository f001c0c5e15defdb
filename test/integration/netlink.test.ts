// The netlink core against the real kernel, in throwaway namespaces, with `conntrack` as oracle.
import { spawnSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { CtError } from '../../host/conntrack/errors.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { splitMessages } from '../../host/netlink/message.js';
import { conntrackIds, conntrackIn, conntrackSuite } from '../helpers/netns.js';

const { t, it, env } = conntrackSuite('netlink core (kernel)', 'test/integration/netlink.test.ts');

function ids(filter = {}): number[] {
  const out: number[] = [];
  env.ct.dumpSync(filter, new Uint8Array(65536), (b) => {
    for (const m of splitMessages(b)) out.push(scanEntry(m)!.id!);
  });
  return out.sort((a, b) => a - b);
}

function mixed(zone: number): CreateSpec[] {
  const out: CreateSpec[] = [];
  for (let i = 0; i < 20; i++) {
    out.push({ protocol: 'tcp', src: '10.1.0.1', dst: `10.2.${zone}.${i}`, sport: 2000 + i, dport: 443, timeout: 300, zone, tcpState: 'ESTABLISHED', mark: i });
    out.push({ protocol: 'udp', src: 'fd00::1', dst: `fd00:${zone}::${i + 1}`, sport: 3000 + i, dport: 53, timeout: 300, zone });
  }
  out.push({ protocol: 'icmp', src: '10.1.0.1', dst: `10.3.${zone}.1`, icmpId: zone, timeout: 30, zone });
  out.push({ protocol: 'icmpv6', src: 'fd00::1', dst: `fd01::${zone + 1}`, icmpId: zone, timeout: 30, zone });
  return out;
}

it('entries created by ctplug and by conntrack -I are both seen; zone dumps equal conntrack -L -w Z -o id', () => {
  for (const z of [0, 5, 7]) assert.equal(env.ct.createSync(mixed(z)), { ok: 42, gone: 0, failed: [] });
  conntrackIn(env.ns, ['-I', '-p', 'udp', '-s', '192.0.2.1', '-d', '192.0.2.2', '--sport', '1', '--dport', '2', '-t', '100', '-w', '5']);
  conntrackIn(env.ns, ['-I', '-p', 'tcp', '-s', '2001:db8::1', '-d', '2001:db8::2', '--sport', '1', '--dport', '2', '--state', 'SYN_SENT', '-t', '100', '-w', '7']);
  for (const z of [0, 5, 7]) assert.equal(ids({ zone: z }), conntrackIds(env.ns, ['-w', String(z)]), `zone ${z}`);
  assert.equal(ids(), conntrackIds(env.ns));
  assert.equal(ids({ family: 'ipv6' }), conntrackIds(env.ns, ['-f', 'ipv6']));
  assert.is(ids({ zone: 5 }).length, 43);
  assert.is(env.ct.countSync(), 42 * 3 + 2);
});

it('mark/mask dump filter matches conntrack -m', () => {
  env.ct.createSync(mixed(3));
  assert.equal(ids({ mark: 1, markMask: 1 }), conntrackIds(env.ns, ['-m', '1/1']));
  assert.is(ids({ mark: 1, markMask: 1 }).length, 10);
});

it('deleting zone Z removes exactly zone Z; other zones unchanged (conntrack -L)', () => {
  for (const z of [4, 5, 6]) env.ct.createSync(mixed(z));
  const before4 = conntrackIds(env.ns, ['-w', '4']);
  const before6 = conntrackIds(env.ns, ['-w', '6']);
  env.ct.deleteZoneSync(5);
  assert.equal(conntrackIds(env.ns, ['-w', '5']), []);
  assert.equal(conntrackIds(env.ns, ['-w', '4']), before4);
  assert.equal(conntrackIds(env.ns, ['-w', '6']), before6);
});

it('batch delete of dumped entries; an entry that vanished meanwhile is counted as gone', () => {
  env.ct.createSync(mixed(9));
  const held: Uint8Array[] = [];
  env.ct.dumpSync({ zone: 9 }, new Uint8Array(65536), (b) => {
    for (const m of splitMessages(b)) held.push(m.slice());
  });
  conntrackIn(env.ns, ['-D', '-w', '9', '-p', 'icmp']); // one disappears behind our back
  const r = env.ct.deleteSync(held);
  assert.equal(r, { ok: 41, gone: 1, failed: [] });
  assert.equal(conntrackIds(env.ns, ['-w', '9']), []);
});

it('flush empties the namespace and never touches the initial namespace', () => {
  // A marker entry in the initial namespace, removed again at the end.
  const marker = ['-p', 'udp', '-s', '198.51.100.77', '-d', '198.51.100.78', '--sport', '4242', '--dport', '4243', '-w', '4242'];
  const mine = spawnSync('conntrack', ['-I', ...marker, '-t', '120'], { encoding: 'utf8' }).status === 0;
  try {
    env.ct.createSync(mixed(1));
    env.ct.flushSync();
    assert.equal(conntrackIds(env.ns), []);
    const host = spawnSync('conntrack', ['-L', ...marker], { encoding: 'utf8' });
    assert.ok(host.stdout.includes('198.51.100.77'), 'the initial namespace still has its entry');
  } finally {
    if (mine) spawnSync('conntrack', ['-D', ...marker]);
  }
});

it('family flush only removes that family', () => {
  env.ct.createSync(mixed(2));
  env.ct.flushSync({ family: 'ipv6' });
  assert.equal(conntrackIds(env.ns, ['-f', 'ipv6']), []);
  assert.is(conntrackIds(env.ns, ['-f', 'ipv4']).length, 21);
});

it('get by original tuple and zone; a missing entry is null', () => {
  env.ct.createSync([{ protocol: 'tcp', src: '10.9.9.1', dst: '10.9.9.2', sport: 7, dport: 8, timeout: 50, zone: 12 }]);
  const tuple = { family: 'ipv4' as const, protocol: 6, src: Uint8Array.of(10, 9, 9, 1), dst: Uint8Array.of(10, 9, 9, 2), sport: 7, dport: 8 };
  const got = env.ct.getSync({ tuple, direction: 'original', zone: 12 });
  assert.ok(got);
  assert.is(scanEntry(got!)!.zone, 12);
  assert.is(env.ct.getSync({ tuple, direction: 'original', zone: 13 }), null);
});

it('update: a masked mark change leaves the other bits alone (conntrack -L as oracle)', () => {
  env.ct.createSync([{ protocol: 'udp', src: '10.8.0.1', dst: '10.8.0.2', sport: 1, dport: 2, timeout: 50, zone: 3, mark: 0x1234 }]);
  const held: Uint8Array[] = [];
  env.ct.dumpSync({ zone: 3 }, new Uint8Array(65536), (b) => {
    for (const m of splitMessages(b)) held.push(m.slice());
  });
  assert.equal(env.ct.updateSync([{ entry: held[0], mark: 0xab00, markMask: 0xff00, timeout: 500 }]), { ok: 1, gone: 0, failed: [] });
  const line = conntrackIn(env.ns, ['-L', '-w', '3']);
  assert.match(line, new RegExp(`mark=${0xab34} `));
  assert.match(line, /^udp +17 (49\d|500) /);
});

it('per-CPU statistics have one row per CPU', () => {
  const rows = env.ct.statsSync();
  assert.ok(rows.length >= 1);
  assert.ok('found' in rows[0] && 'insert_failed' in rows[0]);
});

it('a missing netns is a clear environment error', () => {
  try {
    Conntrack.open({ netns: 'ctplug-test-does-not-exist' });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CtError);
    assert.is((e as CtError).kind, 'environment');
    assert.match((e as Error).message, /does not exist/);
  }
});

it('without CAP_NET_ADMIN the kernel says EPERM and the error says what is needed', () => {
  // A child process that has dropped CAP_NET_ADMIN (and everything else) tries to count.
  const script = `import { Conntrack } from './host/conntrack/conntrack.ts';
    try { Conntrack.open({ netns: '${env.ns}' }).countSync(); console.log('no error'); }
    catch (e) { console.log(e.kind + '|' + e.message); }`;
  const r = spawnSync('setpriv', ['--inh-caps=-net_admin', '--bounding-set=-net_admin', '--', process.execPath, '--import', './scripts/ts-register.mjs', '--input-type=module', '-e', script], { encoding: 'utf8' });
  const line = r.stdout.trim();
  assert.is(line, 'privilege|count: EPERM (needs CAP_NET_ADMIN in the target network namespace: run as root)', r.stderr);
});

t.run();
