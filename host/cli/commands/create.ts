// `ctplug create`: one entry from flags, like `conntrack -I`; or many with `--from FILE|-`:
// conntrack -I argument lines (`-p tcp -s 10.0.0.1 ... -t 60`, optionally prefixed by
// `conntrack -I`, or -A as `list -o save` writes them) and/or `ctplug list -o json` NDJSON, created in batches through
// Conntrack.createSync. A bad line is reported with its number and the rest are still created.
import { readFileSync } from 'node:fs';
import { toNewEntry } from '../../conntrack/new-entry.js';
import { type EntryRecord, moveToZone, recordProblem, specFromRecord } from '../../conntrack/entry-record.js';
import { entryLabels, type NewEntry } from '../../conntrack/request.js';
import { parseZone } from '../../conntrack/validate.js';
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
        let entry: NewEntry;
        if (line.charCodeAt(0) === 123 /* { */) {
          let j: unknown;
          try {
            j = JSON.parse(line);
          } catch (e) {
            throw new UsageError(`not valid JSON (${(e as Error).message})`);
          }
          const why = recordProblem(j);
          if (why) throw new UsageError(why);
          entry = toNewEntry(specFromRecord(j as EntryRecord, toZone));
        } else {
          const opts = optsFromLine(line);
          if (toZone !== undefined) moveToZone(opts, toZone);
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
