// Deterministic mutation fuzzing of netlink buffers: bit flips, truncation, length fields set
// to 0/3/0xffff, nested lengths larger than their parent, unaligned lengths, attribute loops
// (zero-length and self-covering attributes), splices of two seeds.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { splitMessages } from '../../host/netlink/message.js';
import { packageRoot } from '../../host/paths.js';

/** xorshift32: the same seed gives the same inputs on every run and machine. */
export class Rng {
  constructor(private s = 0x9e3779b9) {}
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (this.s = x >>> 0);
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

/** Seeds: every recorded dump buffer, and each of its messages alone. */
export function seeds(): Uint8Array[] {
  const dir = join(packageRoot(), 'test', 'fixtures');
  const out: Uint8Array[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.bin'))) {
    const buf = new Uint8Array(readFileSync(join(dir, f)));
    out.push(buf);
    for (const m of splitMessages(buf)) out.push(m.slice());
  }
  return out;
}

/** Offsets of every attribute header (top level and nested) in a ctnetlink message buffer. */
function attrOffsets(b: Uint8Array): number[] {
  const out: number[] = [];
  const walk = (from: number, to: number, depth: number) => {
    for (let p = from; p + 4 <= to && depth < 4; ) {
      const len = b[p] | (b[p + 1] << 8);
      if (len < 4 || p + len > to) return;
      out.push(p);
      if (b[p + 3] & 0x80) walk(p + 4, p + len, depth + 1);
      p += (len + 3) & ~3;
    }
  };
  for (let m = 0; m + 16 <= b.length; ) {
    const len = (b[m] | (b[m + 1] << 8) | (b[m + 2] << 16)) >>> 0;
    if (len < 16 || m + len > b.length) break;
    walk(m + 20, m + len, 0);
    m += (len + 3) & ~3;
  }
  return out;
}

export const MUTATORS = ['bitflip', 'truncate', 'attrlen', 'msglen', 'nested-overrun', 'unaligned', 'loop', 'splice', 'bytes'] as const;

export function mutate(rng: Rng, seed: Uint8Array, other: Uint8Array): { kind: string; data: Uint8Array } {
  const kind = MUTATORS[rng.below(MUTATORS.length)];
  let d = seed.slice();
  const attrs = attrOffsets(d);
  const setLen16 = (at: number, v: number) => {
    d[at] = v & 0xff;
    d[at + 1] = (v >> 8) & 0xff;
  };
  switch (kind) {
    case 'bitflip':
      for (let i = 1 + rng.below(4); i > 0; i--) d[rng.below(d.length)] ^= 1 << rng.below(8);
      break;
    case 'truncate':
      d = d.slice(0, rng.below(d.length));
      break;
    case 'attrlen':
      if (attrs.length) setLen16(attrs[rng.below(attrs.length)], [0, 3, 0xffff, 4, 5, 7][rng.below(6)]);
      break;
    case 'msglen':
      new DataView(d.buffer).setUint32(0, [0, 3, 15, 16, 0xffff, 0xffffffff, d.length + 4][rng.below(7)], true);
      break;
    case 'nested-overrun':
      if (attrs.length) {
        const at = attrs[rng.below(attrs.length)];
        setLen16(at, (d[at] | (d[at + 1] << 8)) + 4 * (1 + rng.below(16)));
      }
      break;
    case 'unaligned':
      if (attrs.length) {
        const at = attrs[rng.below(attrs.length)];
        setLen16(at, (d[at] | (d[at + 1] << 8)) + 1 + rng.below(3));
      }
      break;
    case 'loop':
      // A zero-length attribute or one that covers only its own header: a parser that advances
      // by the length field (not at least the header) would spin here forever.
      if (attrs.length) {
        const at = attrs[rng.below(attrs.length)];
        setLen16(at, rng.below(2) ? 0 : 4);
        d[at + 3] |= 0x80;
      }
      break;
    case 'splice': {
      const cut = rng.below(d.length);
      const from = rng.below(other.length);
      d = Uint8Array.from([...d.subarray(0, cut), ...other.subarray(from)]);
      break;
    }
    case 'bytes':
      for (let i = 1 + rng.below(8); i > 0; i--) d[rng.below(d.length)] = rng.below(256);
      break;
  }
  return { kind, data: d };
}

/** How many inputs per target: quick in `npm test`, the long run in `npm run test:adversarial`. */
export const ITERATIONS = process.env.CTPLUG_FUZZ_N ? Number(process.env.CTPLUG_FUZZ_N) : process.env.CTPLUG_LONG === '1' ? 1_000_000 : 20_000;

export function regressionInputs(target: string): Uint8Array[] {
  const dir = join(packageRoot(), 'test', 'fuzz', 'regressions');
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${target}-`) && f.endsWith('.bin'))
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}
