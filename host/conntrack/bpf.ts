// A classic BPF socket filter for the event socket, so the kernel drops events outside a
// plugin's scope before they take room in the receive buffer (as conntrack-tools does). It
// checks family, zone and mark/mask. The zone is the scanner's zone rule (scope.ts entryZone)
// as BPF can read it: CTA_ZONE, else the CTA_TUPLE_ZONE inside CTA_TUPLE_ORIG, else the one
// inside CTA_TUPLE_REPLY, else 0. The host still re-checks every event with the scanner: this
// is about not losing in-scope events to unrelated churn.
import { NLMSG_HDRLEN } from '../netlink/constants.js';
import { NFGENMSG_LEN } from '../netlink/message.js';
import { CTA, CTA_TUPLE } from './constants.js';

const LD = 0x00, LDX = 0x01, ALU = 0x04, JMP = 0x05, RET = 0x06, MISC = 0x07;
const W = 0x00, H = 0x08, B = 0x10;
const IMM = 0x00, ABS = 0x20, IND = 0x40;
const JA = 0x00, JEQ = 0x10, AND = 0x50, TAX = 0x00;
/** SKF_AD_OFF + SKF_AD_NLATTR: A = offset of the attribute of type X at or after offset A, or 0. */
const AD_NLATTR = (-0x1000 + 12) >>> 0;
/** SKF_AD_OFF + SKF_AD_NLATTR_NEST: A = offset of the attribute of type X inside the nest at offset A, or 0. */
const AD_NLATTR_NEST = (-0x1000 + 16) >>> 0;
/** Beyond this many zones the jump table gets long; the host scanner filters instead. */
export const MAX_BPF_ZONES = 128;

export interface EventFilter {
  families?: number[];
  zones?: number[];
  mark?: { value: number; mask: number };
}

type Target = string | number; // a label, or "the next instruction" as 0
interface Insn {
  code: number;
  k: number;
  jt?: Target;
  jf?: Target;
  /** JA: the label jumped to (becomes k). */
  to?: string;
  label?: string;
}

/** Returns the program as sock_filter records, or undefined when nothing can be filtered. */
export function eventFilterProgram(f: EventFilter): Uint8Array | undefined {
  const p: Insn[] = [];
  const zones = f.zones && f.zones.length <= MAX_BPF_ZONES ? [...new Set(f.zones)] : undefined;
  if (!f.families?.length && !zones && !f.mark) return undefined;
  let step = 0;
  const next = () => `step${++step}`;

  if (f.families?.length) {
    const ok = next();
    p.push({ code: LD | B | ABS, k: NLMSG_HDRLEN }); // nfgenmsg.nfgen_family
    f.families.forEach((fam, i) => p.push({ code: JMP | JEQ, k: fam, jt: ok, jf: i === f.families!.length - 1 ? 'reject' : 0 }));
    p.push({ code: LD | W | IMM, k: 0, label: ok });
  }
  // Finds a top-level attribute: afterwards A is its offset (0 when absent).
  const find = (type: number, label?: string) => {
    p.push({ code: LD | W | IMM, k: NLMSG_HDRLEN + NFGENMSG_LEN, label });
    p.push({ code: LDX | W | IMM, k: type });
    p.push({ code: LD | W | ABS, k: AD_NLATTR });
  };
  if (zones) {
    const ok = next(), cmp = next(), orig = next(), reply = next(), zero = next();
    // A = the u16 zone at attribute offset A (big-endian, as ctnetlink sends it), then compare.
    const loadZone = () => {
      p.push({ code: MISC | TAX, k: 0 });
      p.push({ code: LD | H | IND, k: 4 });
      p.push({ code: JMP | JA, k: 0, to: cmp });
    };
    find(CTA.ZONE);
    p.push({ code: JMP | JEQ, k: 0, jt: orig, jf: 0 });
    loadZone();
    for (const [tuple, label, fallback] of [[CTA.TUPLE_ORIG, orig, reply], [CTA.TUPLE_REPLY, reply, zero]] as const) {
      find(tuple, label);
      p.push({ code: JMP | JEQ, k: 0, jt: fallback, jf: 0 });
      p.push({ code: LDX | W | IMM, k: CTA_TUPLE.ZONE });
      p.push({ code: LD | W | ABS, k: AD_NLATTR_NEST });
      p.push({ code: JMP | JEQ, k: 0, jt: fallback, jf: 0 });
      loadZone();
    }
    p.push({ code: LD | W | IMM, k: 0, label: zero });
    if (!zones.length) p.push({ code: JMP | JA, k: 0, to: 'reject', label: cmp });
    zones.forEach((z, i) => p.push({ code: JMP | JEQ, k: z, jt: ok, jf: i === zones.length - 1 ? 'reject' : 0, label: i === 0 ? cmp : undefined }));
    p.push({ code: LD | W | IMM, k: 0, label: ok });
  }
  if (f.mark) {
    const mask = f.mark.mask >>> 0, want = (f.mark.value & mask) >>> 0;
    const absent = next();
    find(CTA.MARK);
    p.push({ code: JMP | JEQ, k: 0, jt: absent, jf: 0 });
    p.push({ code: MISC | TAX, k: 0 });
    p.push({ code: LD | W | IND, k: 4 });
    p.push({ code: ALU | AND, k: mask });
    p.push({ code: JMP | JEQ, k: want, jt: 'accept', jf: 'reject' });
    p.push({ code: LD | W | IMM, k: 0, label: absent });
    p.push({ code: JMP | JEQ, k: want, jt: 'accept', jf: 'reject' });
  }
  p.push({ code: RET, k: 0xffffffff, label: 'accept' });
  p.push({ code: RET, k: 0, label: 'reject' });

  const at = new Map(p.flatMap((insn, i) => (insn.label ? [[insn.label, i] as const] : [])));
  const out = new Uint8Array(p.length * 8);
  const v = new DataView(out.buffer);
  p.forEach((insn, i) => {
    const jump = (t: Target | undefined) => {
      if (t === undefined || t === 0) return 0;
      const d = at.get(t as string)! - (i + 1);
      if (d < 0 || d > 255) throw new Error(`bpf: jump to ${t} out of range (${d})`);
      return d;
    };
    v.setUint16(i * 8, insn.code, true);
    out[i * 8 + 2] = jump(insn.jt);
    out[i * 8 + 3] = jump(insn.jf);
    v.setUint32(i * 8 + 4, (insn.to === undefined ? insn.k : at.get(insn.to)! - (i + 1)) >>> 0, true);
  });
  return out;
}
