// The residual race of confirm-then-act (host/conntrack/confirm.ts): for grants limited by an
// attribute the kernel's lookup key does not pin (a mark; the zone of a zone-0 entry), each held
// entry is confirmed with a GET right before its delete/update. An entry replaced in between (same
// tuple, same reused id, other mark) is still acted on. The window is, per chunk of CONFIRM_CHUNK
// entries, the time from sending the chunk's GETs to its actions being answered: every entry's
// gap is at most that. Also what confirming costs against the same deletes unconfirmed.
//   npm run bench -- confirm-window [ENTRIES]      (root; default 20000)
import { Conntrack, type CreateSpec } from '../host/conntrack/conntrack.js';
import { CONFIRM_CHUNK, type Confirm } from '../host/conntrack/confirm.js';
import { splitMessages } from '../host/netlink/message.js';
import { execFileSync, spawnSync } from 'node:child_process';

const n = Number(process.argv[2] ?? 20_000);
const ns = `ctplug-bench-confirm-${process.pid}`;
const specs: CreateSpec[] = Array.from({ length: n }, (_, i) => ({ protocol: 'udp', src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '192.0.2.1', sport: 1000, dport: 53, timeout: 600, zone: 5, mark: 0x10 }));
/** Confirms every entry (as a mark-limited grant does) and accepts what it finds. */
const everyEntry: Confirm = { needed: () => true, check: (held, cur) => (cur.id === held.id && cur.mark === 0x10 ? undefined : 'changed') };
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

execFileSync('ip', ['netns', 'add', ns]);
try {
  const ct = Conntrack.open({ netns: ns });
  const seed = () => {
    ct.flushSync();
    if (ct.createSync(specs).ok !== n) throw new Error('seeding failed');
    const held: Uint8Array[] = [];
    ct.dumpSync({ zone: 5 }, new Uint8Array(65536), (b) => { for (const m of splitMessages(b)) held.push(m.slice()); });
    return held;
  };
  for (const op of ['delete', 'update'] as const) {
    const held = seed();
    const windows: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < held.length; i += CONFIRM_CHUNK) {
      const slice = held.slice(i, i + CONFIRM_CHUNK);
      const r = op === 'delete' ? ct.deleteSync(slice, undefined, everyEntry) : ct.updateSync(slice.map((entry) => ({ entry, timeout: 300 })), undefined, everyEntry);
      if (r.ok !== slice.length) throw new Error(`${op}: ${JSON.stringify(r).slice(0, 300)}`);
      windows.push(r.windowMs!);
    }
    const confirmed = performance.now() - t0;
    const plain = seed();
    const t1 = performance.now();
    if (op === 'delete') ct.deleteSync(plain); else ct.updateSync(plain.map((entry) => ({ entry, timeout: 300 })));
    const unconfirmed = performance.now() - t1;
    windows.sort((a, b) => a - b);
    console.log(`${op}: ${n} entries, chunks of ${CONFIRM_CHUNK}: window median ${fmt(pct(windows, 50))}, p99 ${fmt(pct(windows, 99))}, max ${fmt(windows[windows.length - 1])}; `
      + `confirmed ${(n / confirmed * 1000).toFixed(0)}/s vs unconfirmed ${(n / unconfirmed * 1000).toFixed(0)}/s`);
  }
  ct.close();
} finally {
  spawnSync('ip', ['netns', 'del', ns]);
}
