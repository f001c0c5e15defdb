// --icmp-type/--icmp-code/--icmp-id (and the --icmpv6-* spellings) as filters of list, delete,
// update and events, against the real kernel with conntrack 1.4.7 as the oracle: twin namespaces
// seeded alike; what ctplug lists and deletes in one is what conntrack lists and deletes in the other.
// The delete case is the one from the parity issue (OpenStack's netlink_lib deleting ICMP per zone).
import { spawnSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { bundledCli, type Run } from '../helpers/cli.js';
import { exitWithin, listen, sleep } from '../helpers/events.js';
import { conntrackIds, conntrackIn, kernelSuite, listingLines, twinNetns } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('ICMP filters (kernel)', 'test/integration/cli-icmp.test.ts');
let A = '', B = '';
const cli = bundledCli('cli-icmp-test');
const ctplug = (verb: string, ns: string, args: string[]): Run => cli.run([verb, '--netns', ns, ...args]);

const icmp = (src: string, dst: string, icmpType: number, icmpId: number, zone: number): CreateSpec => ({ protocol: 'icmp', src, dst, icmpType, icmpCode: 0, icmpId, timeout: 3600, zone });
const SPECS: CreateSpec[] = [
  icmp('192.168.1.10', '192.168.1.20', 8, 1111, 1),
  icmp('192.168.1.10', '192.168.1.21', 8, 2222, 1),
  icmp('192.168.1.10', '192.168.1.22', 13, 1111, 1), // timestamp request
  icmp('192.168.1.10', '192.168.1.20', 8, 1111, 2),
  icmp('10.0.0.1', '10.0.0.2', 8, 1111, 0),
  icmp('10.0.0.1', '10.0.0.3', 13, 5, 0),
  { protocol: 'icmpv6', src: '2001:db8::1', dst: '2001:db8::2', icmpType: 128, icmpCode: 0, icmpId: 1111, timeout: 3600, zone: 1 },
  { protocol: 'icmpv6', src: '2001:db8::1', dst: '2001:db8::3', icmpType: 128, icmpCode: 0, icmpId: 7, timeout: 3600 },
  { protocol: 'udp', src: '192.168.1.10', dst: '192.168.1.20', sport: 1111, dport: 8, timeout: 3600, zone: 1 },
  { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 443, tcpState: 'ESTABLISHED', timeout: 3600 },
];
if (!skip) twinNetns(t, SPECS, (a, b) => { A = a; B = b; }, cli);

function conntrack(ns: string, args: string[]): Run {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'conntrack', ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const normalize = (text: string) => listingLines(text, ['use', 'id']);
const table = (ns: string) => normalize(conntrackIn(ns, ['-L']));

const FILTERS: string[][] = [
  ['-p', 'icmp', '--icmp-type', '8'],
  ['-p', 'icmp', '--icmp-type', '13'],
  ['-p', 'icmp', '--icmp-id', '1111'],
  ['-p', 'icmp', '--icmp-code', '0', '-w', '1'],
  ['-p', 'icmp', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '1111', '-s', '192.168.1.10', '-d', '192.168.1.20', '-w', '1'],
  ['-p', 'icmp', '--icmp-type', '0'], // echo reply: the reply tuple's type, not matched (as conntrack)
  ['-p', 'icmpv6', '--icmpv6-type', '128'],
  ['-p', 'icmpv6', '--icmpv6-id', '1111'],
];

it('list with ICMP filters prints what conntrack -L prints', () => {
  for (const f of FILTERS) {
    const ours = ctplug('list', A, f);
    assert.is(ours.code, 0, `${f.join(' ')}: ${ours.stderr}`);
    assert.equal(normalize(ours.stdout), normalize(conntrackIn(A, ['-L', ...f])), f.join(' '));
  }
  assert.is(normalize(ctplug('list', A, FILTERS[0]).stdout).length, 4);
});

it('an ICMP field without -p icmp/icmpv6 is a usage error, as conntrack refuses it', () => {
  for (const f of [['--icmp-type', '8'], ['-p', 'udp', '--icmp-id', '1111']]) {
    const ours = ctplug('list', A, f);
    assert.is(ours.code, 2, ours.stderr);
    assert.match(ours.stderr, /give -p icmp or -p icmpv6/);
    assert.is(ours.stderr.trim().split('\n').length, 1);
    assert.is(conntrackIn(A, ['-L', ...f], { allowFail: true }), '');
  }
  const bad = ctplug('list', A, ['-p', 'icmp', '--icmp-type', '300']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /icmp type: "300" is out of range: use an integer from 0 to 255/);
});

it('delete by ICMP type/code/id, address and zone deletes and prints what conntrack -D does', () => {
  const scenario = ['-f', 'ipv4', '-p', 'icmp', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '1111', '-s', '192.168.1.10', '-d', '192.168.1.20', '-w', '1'];
  const ours = ctplug('delete', A, scenario);
  const theirs = conntrack(B, ['-D', ...scenario]);
  assert.is(ours.code, 0, ours.stderr);
  assert.is(theirs.code, 0, theirs.stderr);
  assert.equal(normalize(ours.stdout), normalize(theirs.stdout));
  assert.is(normalize(ours.stdout).length, 1);
  assert.match(ours.stderr, /1 flow entries have been deleted\./);
  assert.equal(table(A), table(B));
  // Every zone, by type alone.
  const all = ctplug('delete', A, ['-p', 'icmp', '--icmp-type', '8']);
  conntrackIn(B, ['-D', '-p', 'icmp', '--icmp-type', '8']);
  assert.is(all.code, 0, all.stderr);
  assert.is(normalize(all.stdout).length, 3);
  assert.equal(table(A), table(B));
  assert.is(ctplug('delete', A, ['-p', 'icmp', '--icmp-type', '8']).code, 1, 'nothing left to delete: exit 1');
});

it('update by ICMP filters changes exactly the entries conntrack -L selects with them', () => {
  const selected = conntrackIds(A, ['-p', 'icmp', '--icmp-type', '8', '-w', '1']);
  assert.is(selected.length, 2);
  const r = ctplug('update', A, ['-p', 'icmp', '--icmp-type', '8', '-w', '1', '-m', '5']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(conntrackIds(A, ['-w', '1', '-m', '5']), selected);
  assert.equal(conntrackIds(A, ['-m', '5']), selected, 'no other zone or type changed');
});

it('events with ICMP filters show only the matching ICMP entries', async () => {
  const l = listen([process.execPath, cli.entry, 'events', '--netns', A, '-p', 'icmp', '--icmp-type', '8', '--limit', '2']);
  const shown = () => l.out().split('\n').filter(Boolean).length;
  try {
    // The subscription starts once the plugin is loaded: keep making type 13 and type 8 entries until two are shown.
    for (let i = 0; i < 60 && l.child.exitCode === null; i++) {
      await sleep(250);
      if (shown() >= 2) continue;
      for (const type of ['13', '8']) {
        conntrackIn(A, ['-I', '-p', 'icmp', '-s', '192.0.2.9', '-d', '192.0.2.10', '--icmp-type', type, '--icmp-code', '0', '--icmp-id', `${100 + i}`, '-t', '30'], { allowFail: true });
      }
    }
    const code = await exitWithin(l, 5000);
    assert.is(code, 0, `exit ${code}; stdout: ${l.out()}; stderr: ${l.err()}`);
    const lines = l.out().trim().split('\n');
    assert.is(lines.length, 2, l.out());
    for (const line of lines) assert.match(line, /^\s*\[NEW\] icmp .* type=8 code=0 /);
  } finally {
    l.child.kill('SIGKILL');
  }
});

t.run();
