// `ctplug create`: one entry from flags, like `conntrack -I`; or many with `--from FILE|-`:
// conntrack -I argument lines (`-p tcp -s 10.0.0.1 ... -t 60`, optionally prefixed by
// `conntrack -I`) and/or `ctplug list -o json` NDJSON, created in batches through
// Conntrack.createSync. A bad line is reported with its number and the rest are still created.
import { readFileSync } from 'node:fs';
import type { NewEntry } from '../../conntrack/request.js';
import { parseZone } from '../../conntrack/validate.js';
import { parseArgs, UsageError, type Opts, type Parsed } from '../args.js';
import { openConntrack, summary } from '../common.js';
import { CliError, describe } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { Progress } from '../progress.js';
import { entryFromFlags } from '../tuple.js';

const ADVICE: Record<string, string> = {
  EEXIST: 'an entry with this tuple and zone exists; delete it first (`ctplug delete ...`) or choose another tuple',
  EINVAL: 'the kernel rejected a value; check the protocol, ports and state',
  ENOMEM: 'the conntrack table is full (nf_conntrack_max)',
};

/** Kernel create batches: big enough to amortise, small enough for progress to move. */
const CHUNK = 4096;

export async function run(p: Parsed): Promise<ExitCode> {
  if (p.opts.from !== undefined) return bulk(p);
  for (const k of ['toZone', 'dryRun'] as const) {
    if (p.opts[k] !== undefined) throw new UsageError(`--${k === 'toZone' ? 'to-zone' : 'dry-run'} goes with --from FILE`, 'create');
  }
  const entry = entryFromFlags(p.opts);
  const ct = await openConntrack(p.opts.netns);
  try {
    const r = ct.createSync([entry]);
    if (r.failed.length) {
      const f = r.failed[0];
      const kind = f.errno === 'EPERM' || f.errno === 'EACCES' ? EXIT.PRIVILEGE : EXIT.KERNEL;
      throw new CliError(kind, `create: the kernel refused the entry: ${f.message}`, ADVICE[f.errno] ?? (kind === EXIT.PRIVILEGE ? 'run as root (needs CAP_NET_ADMIN)' : 'check the values given'));
    }
  } finally {
    ct.close();
  }
  summary('1 flow entries have been created.');
  return EXIT.OK;
}

const SETTABLE_STATUS = new Set(['ASSURED', 'SEEN_REPLY']);

/** One NDJSON record as `ctplug list -o json` prints it -> create flags. */
function optsFromJson(j: Record<string, any>): Opts {
  const o: Opts = {};
  const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  o.proto = str(j.proto ?? j.protonum);
  if (j.family) o.family = String(j.family);
  const orig = j.orig ?? {}, reply = j.reply ?? {};
  o.src = str(orig.src); o.dst = str(orig.dst);
  if (orig.sport !== undefined) { o.sport = str(orig.sport); o.dport = str(orig.dport); }
  if (orig.type !== undefined) { o.icmpType = str(orig.type); o.icmpCode = str(orig.code); o.icmpId = str(orig.id); }
  // The reply tuple only matters when it is not the plain inverse (NAT); giving it always is harmless.
  if (reply.src !== undefined) { o.replySrc = str(reply.src); o.replyDst = str(reply.dst); }
  if (reply.sport !== undefined && orig.sport !== undefined) { o.replySport = str(reply.sport); o.replyDport = str(reply.dport); }
  o.timeout = str(Math.max(1, Number(j.timeout ?? 1)));
  if (j.zone !== undefined) o.zone = str(j.zone);
  if (j.mark !== undefined) o.mark = str(j.mark);
  if (j.state !== undefined && String(o.proto).toLowerCase() === 'tcp') o.state = str(j.state);
  const flags = Array.isArray(j.flags) ? j.flags.filter((f: unknown) => SETTABLE_STATUS.has(String(f))) : [];
  if (flags.length) o.status = flags.join(',');
  return o;
}

/** One `conntrack -I` argument line -> create flags (through the same strict parser). */
function optsFromLine(line: string): Opts {
  let words = line.trim().split(/\s+/);
  if (words[0] === 'conntrack') words = words.slice(1);
  if (words[0] === '-I' || words[0] === '--create') words = words.slice(1);
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
    text = readFileSync(src === '-' ? 0 : src, 'utf8');
  } catch (e) {
    throw new UsageError(`--from ${src}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'create');
  }
  const toZone = p.opts.toZone === undefined ? undefined : parseZone(p.opts.toZone, 'to-zone');

  // Parsed and created a chunk at a time: memory stays flat and the kernel works while we parse.
  let valid = 0, created = 0;
  const bad: string[] = [];
  const failed: string[] = [];
  let entries: NewEntry[] = [];
  let lineOf: number[] = [];
  const ct = p.opts.dryRun ? undefined : await openConntrack(p.opts.netns);
  const progress = new Progress('created');
  const flush = () => {
    if (ct && entries.length) {
      const base = created + failed.length;
      const r = ct.createSync(entries, (done) => progress.update(base + done));
      created += r.ok;
      for (const f of r.failed) failed.push(`line ${lineOf[f.index]}: ${f.message}${f.errno === 'EEXIST' ? ' (exists)' : ''}`);
    }
    entries = [];
    lineOf = [];
  };
  try {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (!line || line.startsWith('#')) continue;
      try {
        let opts: Opts;
        if (line.startsWith('{')) {
          let j: unknown;
          try {
            j = JSON.parse(line);
          } catch (e) {
            throw new UsageError(`not valid JSON (${(e as Error).message})`);
          }
          opts = optsFromJson(j as Record<string, unknown>);
        } else {
          opts = optsFromLine(line);
        }
        if (toZone !== undefined) opts.zone = String(toZone);
        entries.push(entryFromFlags(opts));
        lineOf.push(i + 1);
        valid++;
      } catch (e) {
        bad.push(`line ${i + 1}: ${describe(e).line.replace(/^ctplug: /, '').replace(/; see `ctplug[^`]*`$/, '')}`);
      }
      if (entries.length >= CHUNK) flush();
    }
    flush();
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
  summary(`${created} flow entries have been created${problems.length ? `, ${problems.length} failed; first: ${problems[0]}` : ''}.`);
  if (failed.length) return EXIT.KERNEL;
  return bad.length ? EXIT.USAGE : EXIT.OK;
}
