// `ctplug create`: one entry from flags, like `conntrack -I`; or many with `--from FILE|-`:
// conntrack -I argument lines (`-p tcp -s 10.0.0.1 ... -t 60`, optionally prefixed by
// `conntrack -I`, or -A as `list -o save` writes them) and/or `ctplug list -o json` NDJSON, created in batches through
// Conntrack.createSync. A bad line is reported with its number and the rest are still created.
import { readFileSync } from 'node:fs';
import { toNewEntry } from '../../conntrack/new-entry.js';
import { IPS } from '../../conntrack/constants.js';
import { entryLabels, type NewEntry } from '../../conntrack/request.js';
import { parseFamily, parseZone } from '../../conntrack/validate.js';
import { parseArgs, UsageError, type Opts, type Parsed } from '../args.js';
import { openTable, summary, type Table } from '../common.js';
import { CliError, describe } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { Progress } from '../progress.js';
import { entryFromFlags } from '../tuple.js';

const ADVICE: Record<string, string> = {
  EEXIST: 'an entry with this tuple and zone exists; delete it first (`ctplug delete ...`) or choose another tuple',
  EINVAL: 'the kernel rejected a value; check the protocol, ports and state',
  ENOMEM: 'the conntrack table is full (nf_conntrack_max), or the NAT core found no free tuple for --src-nat/--dst-nat',
  EOPNOTSUPP: '--src-nat/--dst-nat need the kernel\'s NAT core: modprobe nf_nat (CONFIG_NF_NAT)',
};

/** Why labels can go missing on create: the kernel's own behaviour, said once for both paths. */
const NO_LABEL_ROOM = 'this namespace has no connlabel room (the kernel keeps labels only where a rule uses ct labels, '
  + 'and on create ignores a CTA_LABELS it cannot store: ctnetlink_new_conntrack drops the ENOSPC of ctnetlink_attach_labels)';
const LABEL_ROOM_ADVICE = 'add a rule that uses ct labels to the namespace\'s ruleset (nft: `ct label set N`), or create without labels';

/**
 * The created entry as the kernel now holds it, and whether it carries every label asked for.
 * Looked up by its original tuple (NAT rewrites only the reply) in its zone (a directional
 * zone of the original tuple looks up like a zone; one of the reply tuple is zone 0 that way).
 */
async function checkLabels(ct: Table, e: NewEntry): Promise<{ entry: Uint8Array | null; ok: boolean }> {
  const entry = await ct.get({ tuple: e.tuple, direction: 'original', zone: e.origZone ?? e.zone });
  const got = entry && entryLabels(entry);
  return { entry, ok: !!got && e.labels!.every((b, i) => (b & (got[i] ?? 0)) === b) };
}

/** Kernel create batches: big enough to amortise, small enough for progress to move. */
const CHUNK = 4096;

export async function run(p: Parsed): Promise<ExitCode> {
  if (p.opts.from !== undefined) return bulk(p);
  for (const k of ['toZone', 'dryRun'] as const) {
    if (p.opts[k] !== undefined) throw new UsageError(`--${k === 'toZone' ? 'to-zone' : 'dry-run'} goes with --from FILE`, 'create');
  }
  const entry = entryFromFlags(p.opts);
  if (p.opts.natRange !== undefined) process.stderr.write('WARNING: ignoring -a, deprecated option.\n'); // as conntrack
  // conntrack -A: an entry that exists already is left alone, and that is no error
  const add = p.command === 'add';
  const ct = await openTable(p.opts.netns);
  try {
    const r = await ct.create([entry]);
    if (r.failed.length) {
      const f = r.failed[0];
      if (add && f.errno === 'EEXIST') {
        summary('0 flow entries have been added.');
        return EXIT.OK;
      }
      const kind = f.errno === 'EPERM' || f.errno === 'EACCES' ? EXIT.PRIVILEGE : EXIT.KERNEL;
      throw new CliError(kind, `create: the kernel refused the entry: ${f.message}`, ADVICE[f.errno] ?? (kind === EXIT.PRIVILEGE ? 'run as root (needs CAP_NET_ADMIN)' : 'check the values given'));
    }
    if (entry.labels) {
      // Not silently half-done: without its labels the entry is removed again.
      const { entry: held, ok } = await checkLabels(ct, entry);
      if (!held) {
        throw new CliError(EXIT.KERNEL, 'create: the entry was created but is gone already (expired or deleted), so its labels could not be checked', 'give a longer timeout (-t)');
      }
      if (!ok) {
        await ct.delete([held]);
        throw new CliError(EXIT.KERNEL, `create: the kernel created the entry without its labels, so it was removed again: ${NO_LABEL_ROOM}`, LABEL_ROOM_ADVICE);
      }
    }
  } finally {
    ct.close();
  }
  summary(`1 flow entries have been ${add ? 'added' : 'created'}.`);
  return EXIT.OK;
}

const SETTABLE_STATUS = new Set(['ASSURED', 'SEEN_REPLY']);

const OBJECT_KEYS = new Set(['orig', 'reply', 'master', 'counters', 'timestamp', 'tcp']);
const ARRAY_KEYS = new Set(['flags', 'labels']);
const scalar = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/**
 * Why an NDJSON record is not shaped as `ctplug list -o json` prints one, or undefined: values
 * are strings, numbers or booleans; orig/reply (and the other sections) are objects of those;
 * flags and labels arrays of those. Anything else (`"proto":{"toString":1}`, deep nesting) is
 * refused here, before a value is turned into text.
 */
export function recordProblem(j: unknown): string | undefined {
  if (j === null || typeof j !== 'object' || Array.isArray(j)) return 'a record must be a JSON object';
  for (const [k, v] of Object.entries(j)) {
    if (scalar(v)) continue;
    const name = JSON.stringify(k);
    if (OBJECT_KEYS.has(k) && typeof v === 'object' && !Array.isArray(v)) {
      const bad = Object.entries(v as object).find(([, x]) => !scalar(x));
      if (bad) return `${name}.${JSON.stringify(bad[0])} must be a string or a number`;
    } else if (ARRAY_KEYS.has(k) && Array.isArray(v)) {
      if (!v.every(scalar)) return `${name} must be a list of strings or numbers`;
    } else {
      return `${name} must be ${OBJECT_KEYS.has(k) ? 'an object' : ARRAY_KEYS.has(k) ? 'a list' : 'a string or a number'}, not ${Array.isArray(v) ? 'a list' : 'an object'}`;
    }
  }
  return undefined;
}

/** One NDJSON record as `ctplug list -o json` prints it -> create flags. */
export function optsFromJson(j: Record<string, any>): Opts {
  const o: Opts = {};
  const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  o.proto = str(j.proto ?? j.protonum);
  if (j.family) o.family = String(j.family);
  const orig = j.orig ?? {}, reply = j.reply ?? {};
  o.src = str(orig.src); o.dst = str(orig.dst);
  if (orig.sport !== undefined) { o.sport = str(orig.sport); o.dport = str(orig.dport); }
  if (orig.type !== undefined) { o.icmpType = str(orig.type); o.icmpCode = str(orig.code); o.icmpId = str(orig.id); }
  const nat = natFromJson(j, orig, reply);
  if (nat) {
    // Made by the NAT core (flags SRC_NAT / DST_NAT): recreated the same way, so the kernel sets
    // the same reply tuple and status bits (and its NAT bookkeeping) as on the saved entry.
    if (nat.srcNat !== undefined) o.srcNat = nat.srcNat;
    if (nat.dstNat !== undefined) o.dstNat = nat.dstNat;
  } else {
    // The reply tuple only matters when it is not the plain inverse; giving it always is harmless.
    if (reply.src !== undefined) { o.replySrc = str(reply.src); o.replyDst = str(reply.dst); }
    if (reply.sport !== undefined && orig.sport !== undefined) { o.replySport = str(reply.sport); o.replyDport = str(reply.dport); }
  }
  if (orig.zone !== undefined) o.origZone = str(orig.zone);
  if (reply.zone !== undefined) o.replyZone = str(reply.zone);
  const labels = jsonLabels(j.labels);
  if (labels !== undefined) o.labelAdd = String(labels);
  o.timeout = str(Math.max(1, Number(j.timeout ?? 1)));
  if (j.zone !== undefined) o.zone = str(j.zone);
  if (j.mark !== undefined) o.mark = str(j.mark);
  if (j.state !== undefined && String(o.proto).toLowerCase() === 'tcp') o.state = str(j.state);
  const flags = Array.isArray(j.flags) ? j.flags.filter((f: unknown) => SETTABLE_STATUS.has(String(f))) : [];
  if (flags.length) o.status = flags.join(',');
  return o;
}

const STATUS_BITS: Record<string, number> = { ASSURED: IPS.ASSURED, SEEN_REPLY: IPS.SEEN_REPLY };
const NAT_FLAGS = new Set(['SRC_NAT', 'DST_NAT']);
const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));

/** A record's "labels": bit numbers (as `list -o json` prints them), or a string of them; none: undefined. */
function jsonLabels(v: unknown): number[] | string | undefined {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return undefined;
  return Array.isArray(v) ? v : String(v);
}

/** `IP[:PORT]` as --src-nat/--dst-nat take it (an IPv6 address in brackets when a port follows). */
const natTarget = (addr: unknown, port: unknown) =>
  port === undefined ? String(addr) : String(addr).includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;

/**
 * The NAT of a saved entry, from its SRC_NAT / DST_NAT flags and its reply tuple: source NAT
 * rewrote the reply's destination (and port), destination NAT its source. The port is always
 * given (the ICMP id when NAT changed it), so the kernel picks exactly the saved tuple. Undefined
 * when there are no NAT flags, or they do not explain the reply (then it is given as a tuple).
 */
function natFromJson(j: Record<string, any>, orig: Record<string, any>, reply: Record<string, any>): { srcNat?: string; dstNat?: string } | undefined {
  const flags = Array.isArray(j.flags) ? j.flags.map(String) : [];
  const snat = flags.includes('SRC_NAT'), dnat = flags.includes('DST_NAT');
  if ((!snat && !dnat) || reply.src === undefined || reply.dst === undefined) return undefined;
  const ports = orig.sport !== undefined && reply.sport !== undefined;
  const icmpId = orig.id !== undefined && reply.id !== undefined && str(orig.id) !== str(reply.id) ? reply.id : undefined;
  if (!snat && (str(reply.dst) !== str(orig.src) || (ports && str(reply.dport) !== str(orig.sport)))) return undefined;
  if (!dnat && (str(reply.src) !== str(orig.dst) || (ports && str(reply.sport) !== str(orig.dport)))) return undefined;
  return {
    srcNat: snat ? natTarget(reply.dst, ports ? reply.dport : icmpId) : undefined,
    dstNat: dnat ? natTarget(reply.src, ports ? reply.sport : snat ? undefined : icmpId) : undefined,
  };
}

/** --to-zone: the entry goes to that zone, in the same direction when its zone is directional. */
function moveToZone(o: Opts, zone: number | undefined): void {
  if (zone === undefined) return;
  if (o.origZone !== undefined) o.origZone = String(zone);
  else if (o.replyZone !== undefined) o.replyZone = String(zone);
  else o.zone = String(zone);
}

/**
 * NDJSON fast path (a restore is 100k of these): the record's values go straight to toNewEntry,
 * the validator the flag path ends in, without the round trip through flag strings. It accepts
 * exactly what optsFromJson + entryFromFlags accept: records it does not handle (no original
 * tuple, a reply tuple that is not the plain inverse) return undefined and take the flag path,
 * which also produces the error messages.
 */
export function entryFromJson(j: Record<string, any>, toZone: number | undefined): NewEntry | undefined {
  const orig = j.orig, reply = j.reply;
  if (!orig || typeof orig !== 'object' || orig.src == null || orig.dst == null) return undefined;
  // Directional zones (rare) take the flag path.
  if (orig.zone !== undefined || (reply && typeof reply === 'object' && reply.zone !== undefined)) return undefined;
  const proto = j.proto ?? j.protonum;
  if (proto == null) return undefined;
  const ports = orig.sport !== undefined;
  const icmp = orig.type !== undefined;
  // The reply tuple must be the inverse of the original (as strings: the original is validated
  // below, so an equal reply is valid too); anything else (NAT) takes the flag path.
  if (reply && typeof reply === 'object') {
    if (reply.src !== undefined && (str(reply.src) !== str(orig.dst) || str(reply.dst) !== str(orig.src))) return undefined;
    if (reply.sport !== undefined && ports && (str(reply.sport) !== str(orig.dport) || str(reply.dport) !== str(orig.sport))) return undefined;
  } else if (reply !== undefined && reply !== null) {
    return undefined;
  }
  let status: number | undefined;
  if (Array.isArray(j.flags)) {
    for (const f of j.flags) {
      if (NAT_FLAGS.has(String(f))) return undefined; // NAT: the flag path recreates it with --src-nat/--dst-nat
      const b = STATUS_BITS[String(f)];
      if (b !== undefined) status = (status ?? 0) | b;
    }
  }
  return toNewEntry({
    family: j.family ? parseFamily(String(j.family)) : undefined,
    protocol: String(proto),
    src: String(orig.src),
    dst: String(orig.dst),
    sport: ports ? (str(orig.sport) as unknown as number) : undefined,
    dport: ports ? (str(orig.dport) as unknown as number) : undefined,
    icmpType: icmp ? (str(orig.type) as unknown as number) : undefined,
    icmpCode: icmp ? (str(orig.code) as unknown as number) : undefined,
    icmpId: icmp ? (str(orig.id) as unknown as number) : undefined,
    timeout: String(Math.max(1, Number(j.timeout ?? 1))) as unknown as number,
    zone: (toZone !== undefined ? String(toZone) : str(j.zone)) as unknown as number,
    mark: str(j.mark) as unknown as number,
    tcpState: j.state !== undefined && String(proto).toLowerCase() === 'tcp' ? str(j.state) : undefined,
    status,
    labels: jsonLabels(j.labels),
  });
}

/** One `conntrack -I` argument line -> create flags (through the same strict parser). */
export function optsFromLine(line: string): Opts {
  let words = line.trim().split(/\s+/);
  if (words[0] === 'conntrack') words = words.slice(1);
  // -A is how `list -o save` (and conntrack -L -o save) starts each line
  if (words[0] === '-I' || words[0] === '--create' || words[0] === '-A' || words[0] === '--add') words = words.slice(1);
  const parsed = parseArgs(['create', ...words]);
  for (const k of ['from', 'toZone', 'dryRun', 'netns'] as const) {
    if (parsed.opts[k] !== undefined) throw new UsageError(`--${k} is not allowed inside a --from file`);
  }
  return parsed.opts;
}

async function bulk(p: Parsed): Promise<ExitCode> {
  const extra = Object.keys(p.opts).filter((k) => !['from', 'toZone', 'dryRun', 'netns'].includes(k));
  if (extra.length) throw new UsageError(`with --from, entries come from the file; drop the other flags (${extra.join(', ')})`, 'create');
  const src = p.opts.from!;
  let text: string;
  try {
    text = readFileSync(src === '-' ? 0 : src).toString('utf8');
  } catch (e) {
    throw new UsageError(`--from ${src}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'create');
  }
  const toZone = p.opts.toZone === undefined ? undefined : parseZone(p.opts.toZone, 'to-zone');

  // Parsed and created a chunk at a time: memory stays flat and the kernel works while we parse.
  let valid = 0, created = 0, labelsLost = 0;
  let firstLost: number | undefined;
  const bad: string[] = [];
  const failed: string[] = [];
  let entries: NewEntry[] = [];
  let lineOf: number[] = [];
  const ct = p.opts.dryRun ? undefined : await openTable(p.opts.netns);
  const progress = new Progress('created');
  const flush = async () => {
    if (ct && entries.length) {
      const base = created + failed.length;
      const r = await ct.create(entries, (done) => progress.update(base + done));
      created += r.ok;
      for (const f of r.failed) failed.push(`line ${lineOf[f.index]}: ${f.message}${f.errno === 'EEXIST' ? ' (exists)' : ''}`);
      // Label room is the namespace's: the first created entry with labels that is still there
      // tells for the batch (one that expired or was deleted meanwhile tells nothing).
      const refused = new Set(r.failed.map((f) => f.index));
      const labelled = entries.flatMap((e, i) => (e.labels && !refused.has(i) ? [i] : []));
      for (const i of labelled) {
        const c = await checkLabels(ct, entries[i]);
        if (!c.entry) continue;
        if (!c.ok) {
          labelsLost += labelled.length;
          firstLost ??= lineOf[i];
        }
        break;
      }
    }
    entries = [];
    lineOf = [];
  };
  try {
    // Lines by index, no array of all lines: a restore file can be 100k+ lines.
    for (let i = 0, at = 0; at < text.length; i++) {
      let nl = text.indexOf('\n', at);
      if (nl < 0) nl = text.length;
      const line = text.slice(at, nl).trim();
      at = nl + 1;
      if (!line || line.charCodeAt(0) === 35 /* # */) continue;
      try {
        let entry: NewEntry | undefined;
        if (line.charCodeAt(0) === 123 /* { */) {
          let j: unknown;
          try {
            j = JSON.parse(line);
          } catch (e) {
            throw new UsageError(`not valid JSON (${(e as Error).message})`);
          }
          const why = recordProblem(j);
          if (why) throw new UsageError(why);
          entry = entryFromJson(j as Record<string, any>, toZone);
          if (!entry) {
            const opts = optsFromJson(j as Record<string, unknown>);
            moveToZone(opts, toZone);
            entry = entryFromFlags(opts);
          }
        } else {
          const opts = optsFromLine(line);
          moveToZone(opts, toZone);
          entry = entryFromFlags(opts);
        }
        entries.push(entry);
        lineOf.push(i + 1);
        valid++;
      } catch (e) {
        bad.push(`line ${i + 1}: ${describe(e).line.replace(/^ctplug: /, '').replace(/; see `ctplug[^`]*`$/, '')}`);
      }
      if (entries.length >= CHUNK) await flush();
    }
    await flush();
  } finally {
    progress.done();
    ct?.close();
  }

  const problems = [...bad, ...failed].sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  for (const line of problems.slice(0, 20)) process.stderr.write(`ctplug: ${line}\n`);
  if (problems.length > 20) process.stderr.write(`ctplug: ... and ${problems.length - 20} more\n`);
  if (p.opts.dryRun) {
    summary(`${valid} entries valid, ${bad.length} invalid (dry run: nothing created).`);
    return bad.length ? EXIT.USAGE : EXIT.OK;
  }
  if (labelsLost) process.stderr.write(`ctplug: ${labelsLost} entries were created without their labels (first: line ${firstLost}): ${NO_LABEL_ROOM}; ${LABEL_ROOM_ADVICE}\n`);
  summary(`${created} flow entries have been created${problems.length ? `, ${problems.length} failed; first: ${problems[0]}` : ''}.`);
  if (failed.length || labelsLost) return EXIT.KERNEL;
  return bad.length ? EXIT.USAGE : EXIT.OK;
}
