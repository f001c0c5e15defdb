// A saved entry, as `ctplug list -o json` prints one (an NDJSON record), read back as the
// CreateSpec that recreates it: the one mapper `create --from`, direct or through the daemon, and
// embedders restoring a table use (a `conntrack -I` line is the CLI's flags: cli/tuple.ts). Values
// are passed on as given; toNewEntry, the one validator, checks them. A restore is 100k records,
// so this builds the spec field by field, with no detour through flag strings.
import { IPS } from './constants.js';
import { invalid } from './errors.js';
import type { CreateSpec } from './new-entry.js';
import { parseFamily } from './validate.js';

const OBJECT_KEYS = new Set(['orig', 'reply', 'master', 'counters', 'timestamp', 'tcp']);
const ARRAY_KEYS = new Set(['flags', 'labels']);
const scalar = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Why an NDJSON record is not shaped as `ctplug list -o json` prints one, or undefined: values
 * are strings, numbers or booleans; orig/reply (and the other sections) are objects of those;
 * flags and labels arrays of those. Anything else (`"proto":{"toString":1}`, deep nesting) is
 * refused here, before a value is turned into text.
 */
export function recordProblem(j: unknown): string | undefined {
  if (!isObject(j)) return 'a record must be a JSON object';
  for (const [k, v] of Object.entries(j)) {
    if (scalar(v)) continue;
    const name = JSON.stringify(k);
    if (OBJECT_KEYS.has(k) && isObject(v)) {
      const bad = Object.entries(v).find(([, x]) => !scalar(x));
      if (bad) return `${name}.${JSON.stringify(bad[0])} must be a string or a number`;
    } else if (ARRAY_KEYS.has(k) && Array.isArray(v)) {
      if (!v.every(scalar)) return `${name} must be a list of strings or numbers`;
    } else {
      return `${name} must be ${OBJECT_KEYS.has(k) ? 'an object' : ARRAY_KEYS.has(k) ? 'a list' : 'a string or a number'}, not ${Array.isArray(v) ? 'a list' : 'an object'}`;
    }
  }
  return undefined;
}

type Value = string | number | boolean | null | undefined;
type Tuple = Record<string, Value>;
/** A record recordProblem passed. */
export type EntryRecord = Record<string, Value | Tuple | Value[]>;

/** The status bits a saved entry keeps (the kernel sets the rest itself, NAT's by the NAT core). */
const KEPT_STATUS: Record<string, number> = { ASSURED: IPS.ASSURED, SEEN_REPLY: IPS.SEEN_REPLY };
const text = (v: Value) => (v === undefined || v === null ? undefined : String(v));
/** A number or its text as given (booleans refused by the validator as text). */
const num = (v: Value) => (v === undefined || v === null ? undefined : typeof v === 'number' ? v : String(v));

/**
 * The CreateSpec that recreates a saved entry (a record recordProblem passed). `toZone` moves it
 * to that zone, keeping the direction of a directional zone (`create --to-zone`).
 */
export function specFromRecord(j: EntryRecord, toZone?: number): CreateSpec {
  const proto = (j.proto ?? j.protonum) as Value;
  if (proto === undefined || proto === null) throw invalid('create', 'the record has no "proto" (or "protonum")');
  const orig = j.orig, reply = j.reply;
  if (!isObject(orig) || orig.src == null || orig.dst == null) throw invalid('create', 'the record has no original tuple ("orig" with "src" and "dst")');
  if (reply !== undefined && reply !== null && !isObject(reply)) throw invalid('create', '"reply" must be an object');
  const o = orig as Tuple, r = (reply ?? undefined) as Tuple | undefined;
  const spec: CreateSpec = {
    protocol: num(proto as Value)!,
    src: String(o.src),
    dst: String(o.dst),
    timeout: Math.max(1, Number(j.timeout ?? 1)),
  };
  if (j.family) spec.family = parseFamily(String(j.family));
  const ports = o.sport !== undefined;
  if (ports) {
    spec.sport = num(o.sport);
    spec.dport = num(o.dport);
  }
  if (o.type !== undefined) {
    spec.icmpType = num(o.type);
    spec.icmpCode = num(o.code);
    spec.icmpId = num(o.id);
  }
  const flags = Array.isArray(j.flags) ? j.flags.map(String) : [];
  let status: number | undefined;
  for (const f of flags) if (KEPT_STATUS[f] !== undefined) status = (status ?? 0) | KEPT_STATUS[f];
  if (status !== undefined) spec.status = status;
  if (r) replyOf(spec, flags, o, r, ports);
  if (j.zone !== undefined && j.zone !== null) spec.zone = num(j.zone as Value);
  if (o.zone !== undefined && o.zone !== null) spec.origZone = num(o.zone);
  if (r?.zone !== undefined && r.zone !== null) spec.replyZone = num(r.zone);
  if (toZone !== undefined) moveToZone(spec, toZone);
  if (j.mark !== undefined && j.mark !== null) spec.mark = num(j.mark as Value);
  if (j.state !== undefined && j.state !== null && String(proto).toLowerCase() === 'tcp') spec.tcpState = String(j.state);
  const labels = j.labels;
  if (Array.isArray(labels) ? labels.length : labels !== undefined && labels !== null) {
    spec.labels = Array.isArray(labels) ? (labels.every((b) => typeof b === 'number') ? (labels as number[]) : labels.join(',')) : String(labels);
  }
  return spec;
}

/**
 * How the reply tuple is recreated. Made by the NAT core (flags SRC_NAT / DST_NAT, and the reply
 * explains them): recreated the same way, so the kernel sets the same reply tuple and status bits
 * (and its NAT bookkeeping). Source NAT rewrote the reply's destination (and port), destination
 * NAT its source; the port is always given (the ICMP id when NAT changed it), so the kernel picks
 * exactly the saved tuple. Otherwise the reply tuple as saved (harmless when it is the inverse).
 */
function replyOf(spec: CreateSpec, flags: string[], o: Tuple, r: Tuple, ports: boolean): void {
  const snat = flags.includes('SRC_NAT'), dnat = flags.includes('DST_NAT');
  const bothPorts = ports && r.sport !== undefined;
  if ((snat || dnat) && r.src !== undefined && r.dst !== undefined) {
    const same = (a: Value, b: Value) => text(a) === text(b);
    const explained = (snat || (same(r.dst, o.src) && (!bothPorts || same(r.dport, o.sport))))
      && (dnat || (same(r.src, o.dst) && (!bothPorts || same(r.sport, o.dport))));
    if (explained) {
      const icmpId = o.id !== undefined && r.id !== undefined && !same(o.id, r.id) ? r.id : undefined;
      if (snat) spec.srcNat = natTarget(r.dst, bothPorts ? r.dport : icmpId);
      if (dnat) spec.dstNat = natTarget(r.src, bothPorts ? r.sport : snat ? undefined : icmpId);
      return;
    }
  }
  if (r.src === undefined && r.sport === undefined) return;
  spec.reply = {};
  if (r.src !== undefined) {
    spec.reply.src = text(r.src);
    spec.reply.dst = text(r.dst);
  }
  if (bothPorts) {
    spec.reply.sport = num(r.sport);
    spec.reply.dport = num(r.dport);
  }
}

/** `IP[:PORT]` as --src-nat/--dst-nat take it (an IPv6 address in brackets when a port follows). */
function natTarget(addr: Value, port: Value): string {
  return port === undefined ? String(addr) : String(addr).includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** --to-zone: the entry goes to `zone`, in the same direction when its zone is directional. */
export function moveToZone(s: { zone?: string | number; origZone?: string | number; replyZone?: string | number }, zone: number): void {
  if (s.origZone !== undefined) s.origZone = zone;
  else if (s.replyZone !== undefined) s.replyZone = zone;
  else s.zone = zone;
}
