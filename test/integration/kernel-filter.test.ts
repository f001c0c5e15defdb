// The kernel-filter planner against the real kernel, conntrack 1.4.7 as the oracle (it filters in
// userspace after a full dump): for exact tuple filters, the entries ctplug selects with the
// kernel's CTA_FILTER (where this kernel has it) are exactly the ones conntrack selects without.
// IPv6 address filters are the trap: 6.18 matches them inverted in CTA_FILTER, so the planner never
// pushes them; a planner that did would fail the IPv6 rows here.
import * as assert from 'uvu/assert';
import { Conntrack, type CreateSpec } from '../../host/conntrack/conntrack.js';
import { decodeFlow, type Flow } from '../../host/conntrack/flow.js';
import type { KernelFilter } from '../../host/conntrack/kernel-filter.js';
import { splitMessages } from '../../host/netlink/message.js';
import { parseAddress } from '../../host/conntrack/validate.js';
import { bundledCli } from '../helpers/cli.js';
import { conntrackIds, kernelSuite, makeNetns, removeNetns, seedNetns } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('kernel filter (kernel)', 'test/integration/kernel-filter.test.ts');
const cli = bundledCli('kernel-filter-test');
let ns = '';

const SPECS: CreateSpec[] = [];
for (let i = 0; i < 120; i++) {
  const six = i % 5 === 0;
  const protocol = ['tcp', 'udp', 'sctp'][i % 3];
  SPECS.push({
    protocol, src: six ? `2001:db8::${(i % 4) + 1}` : `10.0.${i % 4}.1`, dst: six ? '2001:db8::99' : i % 2 ? '198.51.100.7' : `203.0.113.${i}`,
    sport: 1000 + i, dport: i % 6 === 0 ? 5353 : 443, timeout: 3600, zone: i % 4, tcpState: protocol === 'tcp' ? 'ESTABLISHED' : undefined,
  });
}
if (!skip) {
  t.before(async () => {
    await cli.build();
    ns = makeNetns();
    seedNetns(ns, SPECS);
  });
  t.after(() => {
    if (ns) removeNetns(ns);
    cli.remove();
  });
}

const addr = (s: string) => parseAddress(s).bytes;
/** conntrack flags, the planner's wish for them, and the rule (the oracle's meaning, for the raw-dump check). */
const CASES: { flags: string[]; want: KernelFilter; match: (f: Flow) => boolean }[] = [
  { flags: ['-p', 'tcp', '--dport', '5353'], want: { tuple: { protocol: 6, dport: 5353 } }, match: (f) => f.protocol === 'tcp' && f.orig.dport === 5353 },
  { flags: ['-p', 'udp', '--sport', '1004'], want: { tuple: { protocol: 17, sport: 1004 } }, match: (f) => f.protocol === 'udp' && f.orig.sport === 1004 },
  { flags: ['-d', '198.51.100.7'], want: { tuple: { dst: addr('198.51.100.7') } }, match: (f) => f.orig.dst === '198.51.100.7' },
  { flags: ['-s', '10.0.2.1', '-p', 'sctp', '--dport', '443'], want: { tuple: { src: addr('10.0.2.1'), protocol: 132, dport: 443 } }, match: (f) => f.orig.src === '10.0.2.1' && f.protocol === 'sctp' && f.orig.dport === 443 },
  { flags: ['-w', '1', '-p', 'tcp'], want: { zone: 1, tuple: { protocol: 6 } }, match: (f) => f.zone === 1 && f.protocol === 'tcp' },
  { flags: ['-s', '2001:db8::1'], want: { tuple: { src: addr('2001:db8::1') } }, match: (f) => f.orig.src === '2001:db8::1' },
  { flags: ['-d', '2001:db8::99', '-p', 'tcp', '--dport', '5353'], want: { tuple: { dst: addr('2001:db8::99'), protocol: 6, dport: 5353 } }, match: (f) => f.orig.dst === '2001:db8::99' && f.protocol === 'tcp' && f.orig.dport === 5353 },
];

it('this kernel is probed, not guessed: CTA_FILTER is understood (6.18 refuses an undefined flag bit)', () => {
  const ct = Conntrack.open({ netns: ns });
  try {
    assert.is(ct.abilities(true).ctaFilter, true);
  } finally {
    ct.close();
  }
});

it('a kernel-filtered dump holds every entry conntrack selects; for IPv4-exact filters nothing else', () => {
  const ct = Conntrack.open({ netns: ns });
  try {
    for (const c of CASES) {
      const got: Flow[] = [];
      ct.dumpSync(c.want, new Uint8Array(65536), (b) => { for (const m of splitMessages(b)) got.push(decodeFlow(m)!); });
      const oracle = conntrackIds(ns, c.flags);
      assert.ok(oracle.length > 0, `${c.flags.join(' ')} selects something`);
      assert.equal(got.filter(c.match).map((f) => f.id!).sort((a, b) => a - b), oracle, c.flags.join(' '));
      // Where the kernel filtered (no IPv6 address in the wish), it sent nothing more.
      const v6 = [c.want.tuple?.src, c.want.tuple?.dst].some((a) => a?.length === 16);
      if (!v6) assert.is(got.length, oracle.length, `${c.flags.join(' ')}: the kernel filtered`);
    }
  } finally {
    ct.close();
  }
});

it('ctplug list with each filter prints the entries conntrack -L prints (ids)', () => {
  for (const c of CASES) {
    const r = cli.run(['list', '--netns', ns, '-o', 'id', ...c.flags]);
    assert.is(r.code, 0, r.stderr);
    const ids = r.stdout.split('\n').map((l) => l.match(/ id=(\d+)$/)?.[1]).filter(Boolean).map(Number).sort((a, b) => a - b);
    assert.equal(ids, conntrackIds(ns, c.flags), c.flags.join(' '));
  }
});

t.run();
