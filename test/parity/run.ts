// The parity runner: each case on twin namespaces (conntrack in one, ctplug with the same argv in
// the other), compared as normalize.ts allows; cases grouped by seed and spread over a few pairs
// of namespaces working at once.
//
// Report mode (root): every case, todo included, with a diff for each that is not as it should be:
//   node --import ./scripts/ts-register.mjs test/parity/run.ts --report [--filter TEXT] [--lanes N] [--todo-diffs]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ITEMS, type Case, type Expect } from './case.js';
import { mappedCode, normalizeOutput, summaryLines } from './normalize.js';
import { SEEDS } from './seeds.js';
import { Twins, type Outcome } from './twins.js';

export interface Result {
  case: Case;
  conntrack: Outcome;
  ctplug: Outcome;
  /** Empty when identical (same/todo) or as documented (differs). */
  diffs: string[];
  /** A same/differs case that failed once and passed when run again: the first attempt's diffs. */
  flaky?: string[];
  ms: number;
}

const NONE: Outcome = { code: -1, stdout: '', stderr: '' };

/** How long both event listeners keep listening after the last trigger. */
const EVENT_SETTLE_MS = 500;
/** Cases per namespace pair before a fresh pair is made (bounds the work a slow lane holds). */
const CHUNK = 16;

/** Runs the cases over `lanes` namespace pairs at once; results come back in the cases' order. */
export async function runCases(cases: Case[], cli: string, opts: { lanes?: number; onResult?: (r: Result) => void } = {}): Promise<Result[]> {
  const order = new Map(cases.map((c, i) => [c, i]));
  const chunks: Case[][] = [];
  for (const seed of Object.keys(SEEDS)) {
    const group = cases.filter((c) => c.seed === seed);
    for (let i = 0; i < group.length; i += CHUNK) chunks.push(group.slice(i, i + CHUNK));
  }
  chunks.sort((x, y) => weight(y) - weight(x)); // slow chunks first, so no lane is left with one at the end
  const results: Result[] = [];
  const lane = async () => {
    for (let chunk = chunks.shift(); chunk; chunk = chunks.shift()) {
      const twins = new Twins(SEEDS[chunk[0].seed], cli);
      const done = (r: Result) => { results.push(r); opts.onResult?.(r); };
      const broken = (c: Case, e: unknown): Result => ({ case: c, conntrack: NONE, ctplug: NONE, diffs: [`harness: ${e instanceof Error ? e.message : e}`], ms: 0 });
      try {
        await twins.setup();
        for (const c of chunk) done(await runTwice(twins, c).catch((e) => broken(c, e)));
      } catch (e) {
        for (const c of chunk.filter((x) => !results.some((r) => r.case === x))) done(broken(c, e)); // seeding failed: every case of the chunk says so
      } finally {
        twins.close();
      }
    }
  };
  await Promise.all(Array.from({ length: opts.lanes ?? 3 }, lane));
  return results.sort((x, y) => order.get(x.case)! - order.get(y.case)!);
}

const weight = (chunk: Case[]) => chunk.reduce((n, c) => n + (c.events ? 3 : 1), 0) + ('traffic' in SEEDS[chunk[0].seed] ? 2 : 0);

/**
 * A same/differs case that fails is run once more on a fresh seed (the machine is shared: a loaded
 * CPU can push a plugin call past its deadline). Passing the second time is reported as flaky, with
 * the first attempt's diffs; failing twice fails.
 */
async function runTwice(twins: Twins, c: Case): Promise<Result> {
  const first = await runCase(twins, c);
  if (c.status === 'todo' || first.diffs.length === 0) return first;
  await twins.reseed();
  const second = await runCase(twins, c);
  return second.diffs.length ? second : { ...second, flaky: first.diffs, ms: first.ms + second.ms };
}

async function runCase(twins: Twins, c: Case): Promise<Result> {
  const t0 = Date.now();
  let dir: string | undefined;
  let args = c.args;
  if (c.file !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'ctplug-parity-'));
    writeFileSync(join(dir, 'input'), c.file);
    args = args.map((a) => (a === '{file}' ? join(dir!, 'input') : a));
  }
  try {
    const [conntrack, ctplug] = c.events ? await runEvents(twins, c, args) : await Promise.all([
      twins.conntrack(twins.a, args),
      twins.ctplug(twins.b, args).done,
    ]);
    const [ta, tb] = await tablesAfter(twins, c);
    const diffs = c.status === 'differs' ? checkDocumented(c, conntrack, ctplug, ta, tb, twins.pristine) : compare(c, conntrack, ctplug, ta, tb);
    if (!equal(ta, twins.pristine.a) || !equal(tb, twins.pristine.b)) await twins.reseed();
    return { case: c, conntrack, ctplug, diffs, ms: Date.now() - t0 };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Commands that can change a table: -D -U -I -F -E -R -A and getopt prefixes of their long names; -z. */
const WRITES = [/^-[DUIFERAz]$/, /^--(del|dele|delet|delete|up|upd|upda|updat|update|cr|cre|crea|creat|create|fl|flu|flus|flush|ev|eve|even|event|lo|loa|load|load-|load-f|load-fi|load-fil|load-file|ad|add|ze|zer|zero)$/];
/** Commands that cannot change a table (in conntrack's reading of the command line): list, get, count, stats, help, version. */
const readOnly = (c: Case) => !c.events && !c.args.some((a) => WRITES.some((w) => w.test(a)));

/**
 * The tables after the case. Listing a namespace walks the kernel's whole conntrack hash (all
 * namespaces' entries), which is slow on a machine whose other namespaces hold a million entries:
 * after a read-only command the kernel's counters are compared instead, and the tables are listed
 * only when a count moved.
 */
async function tablesAfter(twins: Twins, c: Case): Promise<[string[], string[]]> {
  if (readOnly(c)) {
    const [na, nb] = await Promise.all([twins.count(twins.a), twins.count(twins.b)]);
    const ct = (t: string[]) => t.filter((l) => !l.startsWith('expect: ')).length;
    if (na === ct(twins.pristine.a) && nb === ct(twins.pristine.b)) return [twins.pristine.a, twins.pristine.b];
  }
  return Promise.all([twins.table(twins.a), twins.table(twins.b)]);
}

/** -E: both listen, the triggers run in both namespaces, then both get SIGINT (conntrack's way to stop). */
async function runEvents(twins: Twins, c: Case, args: string[]): Promise<[Outcome, Outcome]> {
  const pa = twins.start(twins.a, ['conntrack', ...args]);
  const pb = twins.ctplug(twins.b, args);
  try {
    await Promise.all([twins.listening(twins.a, pa), twins.listening(twins.b, pb)]);
    for (const line of c.events!) {
      const argv = line.split(/\s+/);
      await Promise.all([twins.conntrack(twins.a, argv), twins.conntrack(twins.b, argv)]);
    }
    await new Promise((r) => setTimeout(r, EVENT_SETTLE_MS));
  } finally {
    pa.kill('SIGINT');
    pb.kill('SIGINT');
  }
  return Promise.all([pa.done, pb.done]);
}

const equal = (x: string[], y: string[]) => x.length === y.length && x.every((l, i) => l === y[i]);

/** Lines only in `x` ("-", conntrack's side) and only in `y` ("+", ctplug's). */
function lineDiff(what: string, x: string[], y: string[]): string[] {
  if (equal(x, y)) return [];
  const only = (p: string[], q: string[]) => { const rest = [...q]; return p.filter((l) => { const i = rest.indexOf(l); if (i < 0) return true; rest.splice(i, 1); return false; }); };
  const cut = (l: string[], sign: string) => l.slice(0, 8).map((s) => `    ${sign} ${s}`).concat(l.length > 8 ? [`    ${sign} ... ${l.length - 8} more`] : []);
  return [`${what} differs (- conntrack, + ctplug):`, ...cut(only(x, y), '-'), ...cut(only(y, x), '+')];
}

/**
 * conntrack 1.4.7 -U prints only some of the entries it updates: it reads one reply per request,
 * but its GET is answered with the entry and an ack, so the replies drift out of step and about
 * every other entry is not printed (the count is right). ctplug prints each updated entry: for -U,
 * every line conntrack prints must be among ctplug's (the table and the count are compared in full).
 */
function isUpdate(args: string[]): boolean {
  return args.includes('-U') || args.some((a) => a.length > 3 && '--update'.startsWith(a));
}

function compare(c: Case, conntrack: Outcome, ctplug: Outcome, ta: string[], tb: string[]): string[] {
  const diffs: string[] = [];
  if (ctplug.timedOut || conntrack.timedOut) diffs.push(`timed out: ${conntrack.timedOut ? 'conntrack' : 'ctplug'}`);
  if (mappedCode(ctplug.code) !== conntrack.code) {
    diffs.push(`exit: conntrack ${conntrack.code}, ctplug ${ctplug.code} (maps to ${mappedCode(ctplug.code)}); ctplug said: ${firstLine(ctplug.stderr)}${conntrack.code ? `; conntrack said: ${firstLine(conntrack.stderr)}` : ''}`);
  }
  const [ours, theirs] = [normalizeOutput(conntrack.stdout), normalizeOutput(ctplug.stdout)];
  if (isUpdate(c.args)) diffs.push(...lineDiff('stdout (conntrack -U lines missing from ctplug)', ours.filter((l) => !theirs.includes(l)), []));
  else diffs.push(...lineDiff('stdout', ours, theirs));
  diffs.push(...lineDiff('summary', summaryLines(conntrack.stderr), summaryLines(ctplug.stderr)));
  diffs.push(...lineDiff('table after', ta, tb));
  return diffs;
}

function checkDocumented(c: Case, conntrack: Outcome, ctplug: Outcome, ta: string[], tb: string[], pristine: { a: string[]; b: string[] }): string[] {
  const e = c.expect!;
  const diffs = expectations('ctplug', e, ctplug, pristine.b, tb);
  if (ctplug.code !== e.code) diffs.unshift(`ctplug exit ${ctplug.code}, documented ${e.code}: ${firstLine(ctplug.stderr)}`);
  if (e.stdout === 'empty' && normalizeOutput(ctplug.stdout).length) diffs.push(`ctplug printed ${normalizeOutput(ctplug.stdout).length} lines, documented: nothing`);
  if (e.stdout === 'same') diffs.push(...lineDiff('stdout', normalizeOutput(conntrack.stdout), normalizeOutput(ctplug.stdout)));
  if (e.stdout instanceof RegExp && !e.stdout.test(ctplug.stdout)) diffs.push(`ctplug stdout does not match ${e.stdout}: ${firstLine(ctplug.stdout)}`);
  if (e.table === 'unchanged') diffs.push(...lineDiff('ctplug table vs seed', pristine.b, tb));
  if (e.table === 'same') diffs.push(...lineDiff('table after', ta, tb));
  const o = c.oracle;
  if (o) {
    diffs.push(...expectations('conntrack (the spec)', o, conntrack, pristine.a, ta));
    if (o.code !== undefined && conntrack.code !== o.code) diffs.push(`conntrack exit ${conntrack.code}, the spec says ${o.code}: ${firstLine(conntrack.stderr)}`);
    if (o.stdout && !o.stdout.test(conntrack.stdout)) diffs.push(`conntrack stdout does not match ${o.stdout}: ${firstLine(conntrack.stdout)}`);
    if (o.table === 'unchanged') diffs.push(...lineDiff('conntrack table vs seed', pristine.a, ta));
    if (o.table === 'changed' && equal(pristine.a, ta)) diffs.push('conntrack left the table unchanged; the spec says it changes it');
  }
  return diffs;
}

/** The checks Expect and Oracle share: stderr, line count, entries kept, dropped, present. */
function expectations(who: string, e: Omit<Expect, 'code' | 'stdout' | 'table'>, r: Outcome, before: string[], after: string[]): string[] {
  const diffs: string[] = [];
  if (e.stderr && !e.stderr.test(r.stderr)) diffs.push(`${who} stderr ${JSON.stringify(r.stderr.trim())} does not match ${e.stderr}`);
  const lines = normalizeOutput(r.stdout).length;
  if (e.lines !== undefined && lines !== e.lines) diffs.push(`${who} printed ${lines} lines, expected ${e.lines}`);
  const gone = before.filter((l) => !after.includes(l));
  if (e.keeps) for (const l of before.filter((x) => e.keeps!.test(x) && gone.includes(x))) diffs.push(`${who} removed or changed an entry it must keep: ${l}`);
  if (e.drops) for (const l of before.filter((x) => e.drops!.test(x) && !gone.includes(x))) diffs.push(`${who} kept an entry it must remove: ${l}`);
  if (e.tableHas && !after.some((l) => e.tableHas!.test(l))) diffs.push(`${who}: no entry afterwards matches ${e.tableHas}`);
  return diffs;
}

const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';

/** The case and its diffs (or, for a flaky pass, the first attempt's), for the report and the test. */
export function describeResult(r: Result): string {
  const c = r.case;
  const tag = c.status === 'todo' ? `todo #${c.item}` : c.status;
  const diffs = r.diffs.length ? r.diffs : (r.flaky ?? []).map((d) => `first attempt: ${d}`);
  return [`[${tag}] ${c.name}  (${r.ms} ms)`, ...diffs.map((d) => `  ${d}`)].join('\n');
}

export interface Tally { run: number; identical: number; documented: number; todo: number; failed: Result[]; flaky: Result[]; todoNowIdentical: Result[]; perItem: Record<string, { todo: number; identical: number }> }

export function tally(results: Result[]): Tally {
  const t: Tally = { run: results.length, identical: 0, documented: 0, todo: 0, failed: [], flaky: [], todoNowIdentical: [], perItem: {} };
  for (const r of results) {
    const c = r.case;
    if (r.flaky) t.flaky.push(r);
    if (c.status === 'todo') {
      t.todo++;
      const k = String(c.item);
      t.perItem[k] ??= { todo: 0, identical: 0 };
      t.perItem[k].todo++;
      if (r.diffs.length === 0) t.todoNowIdentical.push(r);
    } else if (r.diffs.length) t.failed.push(r);
    else if (c.status === 'same') t.identical++;
    else t.documented++;
  }
  return t;
}

async function report(argv: string[]): Promise<number> {
  const { bundledCli } = await import('../helpers/cli.js');
  const { kernelSkipReason } = await import('../helpers/netns.js');
  const { CASES } = await import('./cases/index.js');
  const skip = kernelSkipReason();
  if (skip) { process.stderr.write(`parity report: ${skip}\n`); return 4; }
  const arg = (k: string) => { const i = argv.indexOf(k); return i < 0 ? undefined : argv[i + 1]; };
  const filter = arg('--filter');
  const cases = CASES.filter((c) => !filter || c.name.includes(filter));
  const cli = bundledCli('parity-report');
  await cli.build();
  const t0 = Date.now();
  try {
    let n = 0;
    const results = await runCases(cases, cli.entry, { lanes: Number(arg('--lanes') ?? 3), onResult: () => { if (++n % 25 === 0) process.stderr.write(`  ${n}/${cases.length}\n`); } });
    const t = tally(results);
    const out: string[] = [];
    const showTodo = argv.includes('--todo-diffs');
    for (const r of results) {
      if (r.case.status === 'todo' ? showTodo && r.diffs.length : r.diffs.length || r.flaky) out.push(describeResult(r));
    }
    out.push('', `parity: ${t.run} cases run in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${t.identical} identical, ${t.documented} deliberately different (as documented), ${t.todo} todo, ${t.failed.length} FAILED, ${t.flaky.length} passed only when run again`);
    for (const [k, v] of Object.entries(t.perItem).sort()) out.push(`  todo #${k} ${ITEMS[Number(k) as keyof typeof ITEMS]}: ${v.todo}`);
    for (const r of t.todoNowIdentical) out.push(r.case.why ? `  identical today, but the target is: ${r.case.why}: ${r.case.name}` : `  now identical, flip to same: ${r.case.name}`);
    process.stdout.write(out.join('\n') + '\n');
    return t.failed.length ? 1 : 0;
  } finally {
    cli.remove();
  }
}

if (process.argv[1]?.endsWith('run.ts') && process.argv.includes('--report')) {
  report(process.argv.slice(2)).then((code) => (process.exitCode = code), (e) => { process.stderr.write(`${e.stack ?? e}\n`); process.exitCode = 1; });
}
