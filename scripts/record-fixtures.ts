// Records real kernel dumps as test fixtures: a throwaway netns is seeded with a mix of
// flows (by ctplug and by `conntrack -I`), dumped raw, and listed by `conntrack -L`, so SDK
// parser and renderer tests compare against what the kernel and conntrack really produce.
//   node --import ./scripts/ts-register.mjs scripts/record-fixtures.ts   (root)
// For each variant (plain; `acct` = nf_conntrack_acct on; `acct-ts` = accounting and
// timestamps on) writes test/fixtures/<variant>.bin (entry messages back to back) and the
// matching <variant>.conntrack-L.txt, -L-extended.txt and -L-id.txt listings. With timestamps on,
// the flows are created in two waves seconds apart (so delta-time differs between entries) and the
// second the listings were taken in is written to <variant>.now (conntrack's "now" for delta-time).
//   ... scripts/record-fixtures.ts acct-ts    re-records one variant only
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Conntrack, type CreateSpec } from '../host/conntrack/conntrack.js';
import { splitMessages } from '../host/netlink/message.js';
import { packageRoot } from '../host/paths.js';

const out = join(packageRoot(), 'test', 'fixtures');
const specs: CreateSpec[] = [
  { protocol: 'tcp', src: '10.0.0.1', dst: '192.168.1.10', sport: 40000, dport: 443, timeout: 431999, tcpState: 'ESTABLISHED', status: 0x6, zone: 5, mark: 0x10 },
  { protocol: 'tcp', src: '10.0.0.2', dst: '192.168.1.11', sport: 40001, dport: 22, timeout: 120, tcpState: 'SYN_SENT' },
  { protocol: 'tcp', src: '10.0.0.3', dst: '192.168.1.12', sport: 40002, dport: 80, timeout: 60, tcpState: 'TIME_WAIT', status: 0x2, zone: 7 },
  { protocol: 'udp', src: '10.0.0.4', dst: '8.8.8.8', sport: 5353, dport: 53, timeout: 30, zone: 5, mark: 0xff00 },
  { protocol: 'udp', src: '2001:db8::1', dst: '2001:db8:0:1::53', sport: 5000, dport: 53, timeout: 30, status: 0x6, zone: 65535 },
  { protocol: 'tcp', src: 'fe80::1', dst: '2001:db8::ffff:1', sport: 1, dport: 65535, timeout: 100, tcpState: 'CLOSE_WAIT', mark: 0xffffffff },
  { protocol: 'icmp', src: '10.0.0.5', dst: '10.0.0.6', icmpType: 8, icmpCode: 0, icmpId: 77, timeout: 30, zone: 5 },
  { protocol: 'icmpv6', src: '2001:db8::5', dst: '2001:db8::6', icmpType: 128, icmpId: 99, timeout: 30 },
];

const variants: Record<string, string[]> = {
  plain: [],
  acct: ['nf_conntrack_acct'],
  'acct-ts': ['nf_conntrack_acct', 'nf_conntrack_timestamp'],
};

const only = process.argv.slice(2);
for (const [variant, sysctls] of Object.entries(variants)) if (!only.length || only.includes(variant)) await record(variant, sysctls);

async function record(variant: string, sysctls: string[]): Promise<void> {
  const ns = `ctplug-record-${process.pid}`;
  const ctIn = (args: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'conntrack', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  // The three listings at once: the fewer milliseconds they span, the likelier no timeout ticks.
  const listings = () => Promise.all([[], ['-o', 'extended'], ['-o', 'id']].map((o) => new Promise<string>((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, 'conntrack', '-L', ...o], { encoding: 'utf8' }, (e, out) => (e ? reject(e) : resolve(out)));
  })));
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    for (const k of sysctls) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.netfilter.${k}=1`]);
    const ct = Conntrack.open({ netns: ns });
    const timestamps = sysctls.includes('nf_conntrack_timestamp');
    const waves = timestamps ? [specs.slice(0, 4), specs.slice(4)] : [specs];
    for (const [i, wave] of waves.entries()) {
      if (i > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500); // delta-time differs by 2-3 s
      const r = ct.createSync(wave);
      if (r.failed.length) throw new Error(`seeding failed: ${JSON.stringify(r.failed)}`);
    }
    ctIn(['-I', '-p', 'udp', '-s', '172.16.0.1', '-d', '172.16.0.2', '--sport', '123', '--dport', '123', '-t', '50', '-u', 'ASSURED', '-w', '7', '-m', '42']);
    ctIn(['-I', '-p', 'sctp', '-s', '10.9.0.1', '-d', '10.9.0.2', '--sport', '9', '--dport', '10', '--state', 'ESTABLISHED', '--orig-vtag', '1', '--reply-vtag', '2', '-t', '50']);

    const dump = () => {
      const parts: Buffer[] = [];
      ct.dumpSync({}, new Uint8Array(65536), (b) => {
        for (const m of splitMessages(b)) parts.push(Buffer.from(m));
      });
      return Buffer.concat(parts);
    };
    /** The entries of a dump without each message's nlmsg_seq/pid (they differ per dump). */
    const content = (d: Buffer) => Buffer.concat([...splitMessages(d)].map((m) => { const c = Buffer.from(m); c.fill(0, 8, 16); return c; }));
    // The timeouts tick each second: take the listings between two identical dumps.
    for (let attempt = 0; ; attempt++) {
      const before = dump();
      const now = Math.floor(Date.now() / 1000);
      const [text, extended, ids] = await listings();
      const sameSecond = Math.floor(Date.now() / 1000) === now;
      if (!content(before).equals(content(dump())) || !sameSecond) {
        if (attempt < 100) continue;
        throw new Error('the table kept changing while it was listed (timeouts tick each second): run again on a quieter machine');
      }
      if (timestamps) writeFileSync(join(out, `${variant}.now`), `${now}\n`);
      writeFileSync(join(out, `${variant}.bin`), before);
      writeFileSync(join(out, `${variant}.conntrack-L.txt`), text);
      writeFileSync(join(out, `${variant}.conntrack-L-extended.txt`), extended);
      writeFileSync(join(out, `${variant}.conntrack-L-id.txt`), ids);
      console.log(`${variant}: recorded ${text.trim().split('\n').length} entries (${before.length} bytes) into ${out}`);
      break;
    }
    ct.close();
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}
