// Netlink core benchmark: ctplug vs `conntrack` on the same table, in one run.
//   node --import ./scripts/ts-register.mjs bench/netlink.ts [entries=100000] [zones=10]
// Needs root. Makes a throwaway netns, raises nf_conntrack_max in it, removes it at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Conntrack, type CreateSpec } from '../host/conntrack/conntrack.js';
import { NETLINK_NETFILTER } from '../host/netlink/constants.js';
import { Encoder } from '../host/netlink/attr.js';
import { MessageReader } from '../host/netlink/message.js';
import { openNetlinkSocket } from '../host/netlink/socket.js';
import { kernelDumpRequest } from '../host/conntrack/request.js';
import { NLMSG_DONE } from '../host/netlink/constants.js';

const N = Number(process.argv[2] ?? 100_000);
const ZONES = Number(process.argv[3] ?? 10);
const ns = `ctplug-bench-${process.pid}`;
const rate = (n: number, ms: number) => `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}

/** Best of `runs` (the first runs include JIT warm-up); for read-only operations. */
function best<T>(fn: () => T, runs = 3): [T, number] {
  let out = time(fn);
  for (let i = 1; i < runs; i++) {
    const r = time(fn);
    if (r[1] < out[1]) out = r;
  }
  return out;
}

function shell(cmd: string): number {
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', `ip netns exec ${ns} ${cmd}`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0 && !/have been deleted/.test(r.stderr)) throw new Error(`${cmd}: ${r.stderr}`);
  return performance.now() - t0;
}

function specs(): CreateSpec[] {
  const out: CreateSpec[] = [];
  for (let i = 0; i < N; i++) {
    const zone = i % ZONES;
    out.push({ protocol: i % 3 ? 'udp' : 'tcp', src: `10.${zone}.${(i >> 16) & 255}.${(i >> 8) & 255}`, dst: `172.16.${i & 255}.1`, sport: 1024 + (i % 60000), dport: 53, timeout: 3600, zone, mark: i & 0xff });
  }
  return out;
}

/** The kernel's limit: receive the dump and throw it away, no parsing beyond finding DONE. */
function recvDiscard(): number {
  const sock = openNetlinkSocket(NETLINK_NETFILTER, `/var/run/netns/${ns}`);
  const enc = new Encoder();
  kernelDumpRequest(enc, 1, { family: 0 });
  const buf = new Uint8Array(65536);
  let n = 0;
  sock.send(enc.bytes());
  for (let done = false; !done; ) {
    const r = new MessageReader(buf, sock.recv(buf));
    while (r.next()) {
      if (r.header.type === NLMSG_DONE) done = true;
      else n++;
    }
  }
  sock.close();
  return n;
}

// nf_conntrack_max is only writable in the initial namespace on this kernel; raise it for
// large runs and put it back afterwards.
const maxPath = '/proc/sys/net/netfilter/nf_conntrack_max';
const oldMax = Number(readFileSync(maxPath, 'utf8'));
execFileSync('ip', ['netns', 'add', ns]);
try {
  if (N * 1.1 > oldMax) writeFileSync(maxPath, String(Math.ceil(N * 1.2)));
  const ct = Conntrack.open({ netns: ns });
  const all = specs();
  const [created, tCreate] = time(() => ct.createSync(all));
  if (created.ok !== N) throw new Error(`created ${created.ok}/${N}: ${JSON.stringify(created.failed.slice(0, 3))}`);
  const rows: string[][] = [];
  rows.push(['create', `${N} entries`, rate(N, tCreate), '', '']);

  const buf = new Uint8Array(65536);
  const dumpCount = (filter = {}) => {
    let n = 0;
    ct.dumpSync(filter, buf, (_b, c) => void (n += c));
    return n;
  };
  const [nDisc, tDisc] = best(recvDiscard);
  const [nDump, tDump] = best(() => dumpCount());
  const tCt = shell('conntrack -L > /dev/null');
  rows.push(['full dump', `${nDump} entries`, rate(nDump, tDump), `conntrack -L: ${rate(N, tCt)} (x${(tCt / tDump).toFixed(1)})`, `recv-discard: ${rate(nDisc, tDisc)} (ctplug ${Math.round((tDisc / tDump) * 100)}%)`]);

  // Peak RSS of a process that only streams a full dump (fresh process, nothing else held).
  const child = spawnSync(process.execPath, ['--import', './scripts/ts-register.mjs', '--input-type=module', '-e', `
    import { Conntrack } from './host/conntrack/conntrack.ts';
    const base = process.resourceUsage().maxRSS;
    const ct = Conntrack.open({ netns: '${ns}' });
    let n = 0;
    ct.dumpSync({}, new Uint8Array(65536), (_b, c) => { n += c; });
    console.log(n, (base / 1024).toFixed(0), (process.resourceUsage().maxRSS / 1024).toFixed(0));`], { encoding: 'utf8' });
  const [nRss, rss0, rss1] = child.stdout.trim().split(' ');
  rows.push(['dump peak RSS', `${nRss} entries`, `${rss1} MiB`, `(process at start: ${rss0} MiB)`, '']);

  const [nZone, tZone] = best(() => dumpCount({ zone: 3 }));
  const tCtZone = shell('conntrack -L -w 3 > /dev/null');
  rows.push(['zone dump', `${nZone} of ${N}`, `${tZone.toFixed(1)} ms`, `conntrack -L -w 3: ${tCtZone.toFixed(1)} ms (x${(tCtZone / tZone).toFixed(1)})`, '']);

  const [, tDel] = time(() => ct.deleteZoneSync(1));
  const tCtDel = shell('conntrack -D -w 2 > /dev/null');
  const left = dumpCount();
  rows.push(['delete zone', `${N / ZONES} entries`, `${tDel.toFixed(1)} ms`, `conntrack -D -w 2: ${tCtDel.toFixed(1)} ms (x${(tCtDel / tDel).toFixed(1)})`, `left ${left}`]);

  // The dump-and-batch-delete path (used by plugins, and by kernels older than 6.8). The
  // first zone warms the JIT; the second is timed.
  const dumpAndDelete = (zone: number) => {
    const held: Uint8Array[] = [];
    ct.dumpSync({ zone }, buf, (b) => {
      const r = new MessageReader(b);
      while (r.next()) held.push(r.message().slice());
    });
    return ct.deleteSync(held);
  };
  dumpAndDelete(6);
  const [res, tBatch] = time(() => dumpAndDelete(4));
  const tCtDel2 = shell('conntrack -D -w 5 > /dev/null');
  rows.push(['dump+batch delete', `${res.ok} entries`, `${tBatch.toFixed(1)} ms`, `conntrack -D -w 5: ${tCtDel2.toFixed(1)} ms (x${(tCtDel2 / tBatch).toFixed(1)})`, '']);

  console.log(`kernel ${execFileSync('uname', ['-r']).toString().trim()}, ${N} entries over ${ZONES} zones`);
  for (const r of rows) console.log(r.map((c, i) => c.padEnd([18, 18, 16, 44, 0][i])).join(' '));
  ct.close();
} finally {
  spawnSync('ip', ['netns', 'del', ns]);
  writeFileSync(maxPath, String(oldMax));
}
