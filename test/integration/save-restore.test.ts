// -o save (issue 16 item 6): each entry as the conntrack -I line that makes it again. What ctplug
// saves, `ctplug create --from`, `ctplug load` and `conntrack -R` restore to the same table; what
// conntrack saves, ctplug restores; both tools save the same lines. The table is conntrack's own
// making (every protocol extension, NAT, zones, directional zones, status bits, a generic protocol).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { bundledCli } from '../helpers/cli.js';
import { conntrackIn, kernelSuite, listingLines, makeNetns, removeNetns } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('ctplug -o save and restore (kernel)', 'test/integration/save-restore.test.ts');
const cli = bundledCli('save-restore-test');
let A = '', B = '', dir = '';

/** conntrack -I lines: one of each kind the save format has a field for. */
const SEED = [
  '-p tcp -s 10.1.0.1 -d 10.1.1.1 --sport 1 --dport 2 --state ESTABLISHED -t 300 -u ASSURED,SEEN_REPLY',
  '-p tcp -s 10.1.0.2 -d 10.1.1.1 --sport 1 --dport 2 --state SYN_SENT2 -t 300 -w 7',
  '-p udp -s 10.1.0.3 -d 10.1.1.1 --sport 1 --dport 53 -t 300 --orig-zone 8',
  '-p udp -s 10.1.0.4 -d 10.1.1.1 --sport 1 --dport 53 -t 300 --reply-zone 9 -u FIXED_TIMEOUT',
  '-p udplite -s 2001:db8:1::1 -d 2001:db8:1::2 --sport 1 --dport 2 -t 300',
  '-p icmp -s 10.1.0.5 -d 10.1.1.1 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 300',
  '-p icmpv6 -s 2001:db8:1::1 -d 2001:db8:1::2 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 78 -t 300',
  '-p sctp -s 10.1.0.6 -d 10.1.1.1 --sport 1 --dport 2 --state COOKIE_ECHOED --orig-vtag 10 --reply-vtag 20 -t 300',
  '-p gre -s 10.1.0.7 -d 10.1.1.1 --srckey 0x10 --dstkey 0x20 -t 300',
  '-p esp -s 10.1.0.8 -d 10.1.1.1 -t 300',
  '-p tcp -s 10.1.0.9 -d 203.0.113.1 --sport 1000 --dport 80 --state ESTABLISHED -t 300 --dst-nat 192.168.1.5:8080',
  '-p udp -s 10.1.0.10 -d 203.0.113.1 --sport 1000 --dport 53 -t 300 --src-nat 198.51.100.1:2000',
  '-p tcp -s 10.1.0.11 -d 203.0.113.1 --sport 1000 --dport 80 --state ESTABLISHED -t 300 --src-nat 198.51.100.2 --dst-nat 192.168.1.7',
  '-p udp -s 10.1.0.12 -d 203.0.113.1 --sport 1000 --dport 53 -r 192.168.7.7 -q 10.1.0.12 --reply-port-src 53 --reply-port-dst 1000 -t 300',
  '-p udp -s 2001:db8:4::1 -d 2001:db8:4::99 --sport 1000 --dport 53 -t 300 --dst-nat [2001:db8:4::5]:5353',
];

/** What conntrack itself saves of a namespace, timeouts masked (they tick), sorted. */
const saved = (ns: string) => conntrackIn(ns, ['-L', '-o', 'save']).split('\n').filter(Boolean).map((l) => l.replace(/ -t \d+/, ' -t T')).sort();
const table = (ns: string) => listingLines(conntrackIn(ns, ['-L']));
const flush = (ns: string) => conntrackIn(ns, ['-F']);
const ctplug = (...args: string[]) => cli.run(args);

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

if (!skip) {
  t.before(async () => {
    await cli.build();
    A = makeNetns();
    B = makeNetns();
    dir = mkdtempSync(join(tmpdir(), 'ctplug-save-'));
    flush(A);
    for (const line of SEED) conntrackIn(A, ['-I', ...line.split(' ')]);
  });
  t.after(() => {
    removeNetns(A);
    removeNetns(B);
    if (dir) rmSync(dir, { recursive: true, force: true });
    cli.remove();
  });
  t.before.each(() => { flush(B); });
}

it('list -o save prints the lines conntrack -L -o save prints', () => {
  const r = ctplug('list', '--netns', A, '-o', 'save');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${SEED.length} flow entries have been shown`));
  assert.equal(r.stdout.split('\n').filter(Boolean).map((l) => l.replace(/ -t \d+/, ' -t T')).sort(), saved(A));
});

it('create --from restores what list -o save wrote: the same table, the same saved lines', () => {
  const lines = ctplug('list', '--netns', A, '-o', 'save').stdout;
  const r = ctplug('create', '--netns', B, '--from', file('ctplug.save', lines));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${SEED.length} flow entries have been created`));
  assert.equal(table(B), table(A));
  assert.equal(saved(B), saved(A)); // vtags, zones, status bits, NAT included
});

it('ctplug load and conntrack -R restore each other\'s saved lines alike', () => {
  const ours = ctplug('list', '--netns', A, '-o', 'save').stdout;
  const theirs = conntrackIn(A, ['-L', '-o', 'save']);
  const r = ctplug('load', '--netns', B, file('conntrack.save', theirs));
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, ''); // as conntrack -R: no summary lines
  assert.equal(saved(B), saved(A));
  flush(B);
  const c = spawnSync('ip', ['netns', 'exec', B, 'conntrack', '-R', file('ctplug2.save', ours)], { encoding: 'utf8' });
  assert.is(c.status, 0, c.stderr);
  assert.equal(saved(B), saved(A));
});

t.run();
