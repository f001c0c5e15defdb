// `ctplug load FILE` / `ctplug -R FILE`: conntrack -R (--load-file). Each line of FILE (- for stdin)
// is a conntrack command line of -I, -A, -U, -D or -F, read as conntrack reads it: blanks split
// words, "double quotes" group them (\" inside), a line starting with # is a comment. Every line is
// parsed before any runs (a bad line runs nothing); then they run in order, printing what each
// command prints but no summary lines, as conntrack -R. The first line that fails ends the run with
// its error; the lines before it stay done. A delete or update that matched nothing is no failure.
import { readFileSync } from 'node:fs';
import { parseArgs, UsageError, type Parsed } from '../args.js';
import { quietSummaries } from '../common.js';
import { CliError, describe } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';

/** The commands a load file may hold, and the conntrack letter each is. */
const ALLOWED: Record<string, string> = { create: '-I', add: '-A', update: '-U', delete: '-D', flush: '-F' };
const LETTER: Record<string, string> = { list: '-L', get: '-G', events: '-E', count: '-C', stats: '-S', load: '-R' };

/** One line's words, split as conntrack's add_param_to_argv splits them. */
export function splitLine(line: string): string[] {
  const words: string[] = [];
  let cur = '', quoted = false, inQuote = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === '\\' && i + 1 < line.length) cur += line[++i];
      else if (c === '"') inQuote = false;
      else cur += c;
    } else if (c === '"') {
      inQuote = quoted = true;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (cur || quoted) words.push(cur);
      cur = '';
      quoted = false;
    } else cur += c;
  }
  if (cur || quoted) words.push(cur);
  return words;
}

/** The file's command lines, each parsed; throws a UsageError naming the first bad line. */
export function parseLoadFile(text: string, netns: string | undefined): Parsed[] {
  const out: Parsed[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/^[ \t]+/, '');
    if (!line.trim() || line.startsWith('#')) continue;
    let p: Parsed;
    try {
      p = parseArgs(splitLine(line));
    } catch (e) {
      throw new UsageError(`line ${i + 1}: ${e instanceof Error ? e.message : e}`, 'load');
    }
    const cmd = p.command ?? '';
    if (!ALLOWED[cmd] || (p.table && p.table !== 'conntrack') || p.help || p.version) {
      const what = p.help ? '-h' : p.version ? '-V' : `${LETTER[cmd] ?? ALLOWED[cmd] ?? cmd}${p.table && p.table !== 'conntrack' ? ` ${p.table}` : ''}`;
      throw new UsageError(`line ${i + 1}: cannot use command \`${what}\` in a load file (only -I, -A, -U, -D and -F)`, 'load');
    }
    if (netns !== undefined) {
      if (p.opts.netns !== undefined && p.opts.netns !== netns) throw new UsageError(`line ${i + 1}: --netns differs from the one given to load`, 'load');
      p.opts.netns = netns;
    }
    out.push(p);
  }
  return out;
}

/** Runs one parsed command line (main.ts runParsed: passed in, so this module does not import main). */
export type RunParsed = (p: Parsed) => Promise<ExitCode>;

export async function run(p: Parsed, runParsed: RunParsed): Promise<ExitCode> {
  const file = p.positionals[0];
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'load');
  }
  const commands = parseLoadFile(text, p.opts.netns);
  quietSummaries(true);
  try {
    for (const c of commands) {
      const code = await runOne(runParsed, c);
      if (code !== EXIT.OK && code !== EXIT.NOTHING_MATCHED) return code;
    }
  } finally {
    quietSummaries(false);
  }
  return EXIT.OK;
}

/** One parsed line through the command's own module; its error line is printed here. */
async function runOne(runParsed: RunParsed, c: Parsed): Promise<ExitCode> {
  try {
    return await runParsed(c);
  } catch (e) {
    if (e instanceof CliError && e.exit === EXIT.NOTHING_MATCHED) return EXIT.NOTHING_MATCHED;
    const r = describe(e, c.command);
    process.stderr.write(r.line + '\n');
    return r.exit;
  }
}
