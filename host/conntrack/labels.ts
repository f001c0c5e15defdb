// Connection labels: 128 bits per entry (CTA_LABELS), bit n = label n. The kernel keeps them as
// an array of unsigned long and takes CTA_LABELS / CTA_LABELS_MASK as host-order u32 words
// (nf_connlabels_replace): on the little-endian machines ctplug runs on, bit n is byte n >> 3,
// bit n & 7. Names are read from conntrack's /etc/xtables/connlabel.conf ("BIT NAME" lines),
// as conntrack does; numbers always work.
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { invalid } from './errors.js';

export const LABEL_BITS = 128;
export const LABEL_BYTES = LABEL_BITS / 8;
export const CONNLABEL_CONF = '/etc/xtables/connlabel.conf';

/** connlabel.conf: name -> bit. Missing file: no names. */
export function readConnlabelConf(path = CONNLABEL_CONF): Map<string, number> {
  const names = new Map<string, number>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return names;
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = line.match(/^(\d+)\s+(\S+)$/);
    if (m && Number(m[1]) < LABEL_BITS) names.set(m[2], Number(m[1]));
  }
  return names;
}

let systemNames: Map<string, number> | undefined;

/**
 * The names in the system's connlabel.conf, read once per process as conntrack reads it, not once
 * per label flag (a restore file can give --label-add on each of 100k lines).
 */
export function connlabelNames(): Map<string, number> {
  return (systemNames ??= readConnlabelConf());
}

/** Set bit n in a label bitmap (host order, little-endian machines). */
function setBit(bits: Uint8Array, n: number): void {
  if (endianness() === 'LE') bits[n >> 3] |= 1 << (n & 7);
  else bits[((n >> 5) << 2) + 3 - ((n & 31) >> 3)] |= 1 << (n & 7);
}

/** `1,5,web` -> a 16-byte bitmap. Bits 0..127, or names from connlabel.conf. */
export function parseLabels(v: string, what = 'label', names: Map<string, number> = connlabelNames()): Uint8Array {
  const items = String(v).split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw invalid(what, `${JSON.stringify(v)} names no label`);
  return labelsFromBits(items.map((item) => {
    const n = /^\d+$/.test(item) ? Number(item) : names.get(item);
    if (n === undefined) {
      throw invalid(what, `${JSON.stringify(item)} is not a label: use a bit number 0..${LABEL_BITS - 1}${names.size ? ` or a name from ${CONNLABEL_CONF}` : ` (no ${CONNLABEL_CONF} for names)`}`);
    }
    return n;
  }), what);
}

/** Label bit numbers (as `ctplug list -o json` prints them in "labels") -> a 16-byte bitmap. */
export function labelsFromBits(bits: Iterable<unknown>, what = 'label'): Uint8Array {
  const out = new Uint8Array(LABEL_BYTES);
  for (const n of bits) {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= LABEL_BITS) {
      throw invalid(what, `label bit ${JSON.stringify(n)} is out of range: use 0..${LABEL_BITS - 1}`);
    }
    setBit(out, n);
  }
  return out;
}

/** The label bits set in a bitmap, ascending. */
export function labelBits(bits: Uint8Array): number[] {
  const out: number[] = [];
  for (let n = 0; n < bits.length * 8; n++) {
    const probe = new Uint8Array(bits.length);
    setBit(probe, n);
    if (probe.some((b, i) => b & bits[i])) out.push(n);
  }
  return out;
}
