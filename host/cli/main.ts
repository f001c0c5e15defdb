// The `ctplug` command. Startup is kept lean: this file loads only the parser and the help; each
// command's module (and with it netlink, the runtime, Wasm) is imported when that command runs.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { COMMANDS, parseArgs, UsageError, type Parsed } from './args.js';
import { describe } from './errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { BUILTIN } from '../builtin.js';
import { takeConnect } from './connect.js';

import { VERSION } from './version.js';

export { VERSION };

type Runner = (p: Parsed) => Promise<ExitCode> | ExitCode;

const COMMAND_MODULES: Record<string, () => Promise<{ run: Runner }>> = {
  list: () => import('./commands/list.js'),
  delete: () => import('./commands/delete.js'),
  update: () => import('./commands/update.js'),
  events: () => import('./commands/events.js'),
  flush: () => import('./commands/table.js').then((m) => ({ run: m.flush })),
  count: () => import('./commands/table.js').then((m) => ({ run: m.count })),
  stats: () => import('./commands/table.js').then((m) => ({ run: m.stats })),
  create: () => import('./commands/create.js'),
  add: () => import('./commands/create.js'),
  load: () => import('./commands/load.js').then((m) => ({ run: (p: Parsed) => m.run(p, runParsed) })),
  get: () => import('./commands/get.js'),
  'plugin inspect': () => import('./commands/inspect.js'),
  'plugin new': () => import('./commands/scaffold.js'),
  run: () => import('./commands/run.js'),
  'fleet agent': () => import('./commands/fleet.js').then((m) => ({ run: m.agent })),
  'fleet run': () => import('./commands/fleet.js').then((m) => ({ run: m.fanOutCommand('run') })),
  'fleet count': () => import('./commands/fleet.js').then((m) => ({ run: m.fanOutCommand('count') })),
  'fleet stats': () => import('./commands/fleet.js').then((m) => ({ run: m.fanOutCommand('stats') })),
  'fleet flows': () => import('./commands/fleet.js').then((m) => ({ run: m.flows })),
};

/**
 * Whether the command runs a plugin in a worker: a third-party one (`--plugin FILE`). First-party
 * plugins (list, delete, update, events, get, `--plugin NAME`) run on this thread (cli/plugins.ts).
 */
const needsWorker = (p: Parsed) => p.command === 'run' && !(BUILTIN as readonly string[]).includes(p.opts.plugin ?? '');

/** Runs one command line; returns the exit code. Never throws: errors become the one-line report. */
export async function main(argv: string[], io = { out: process.stdout, err: process.stderr }): Promise<ExitCode> {
  let parsed: Parsed | undefined;
  try {
    // --connect PATH is global (every command that touches conntrack): it picks the daemon.
    parsed = parseArgs(takeConnect(argv));
    if (parsed.version) {
      io.out.write(`ctplug v${VERSION}\n`);
      return EXIT.OK;
    }
    if (!parsed.command || parsed.help) {
      const { mainHelp, commandHelp } = await import('./help.js');
      const text = parsed.command ? commandHelp(parsed.command) : mainHelp(VERSION);
      // `ctplug` alone is a usage error (a script that forgot its command): help on stderr, exit 2.
      if (parsed.help) io.out.write(text);
      else io.err.write(text);
      return parsed.help ? EXIT.OK : EXIT.USAGE;
    }
    return await runParsed(parsed);
  } catch (e) {
    const r = describe(e, parsed?.command ?? guessCommand(argv));
    io.err.write(r.line + '\n');
    if (process.env.CTPLUG_DEBUG && e instanceof Error && e.stack) io.err.write(e.stack + '\n');
    return r.exit;
  }
}

/** One parsed command line, through its command's module (load files run each of their lines here). */
export async function runParsed(parsed: Parsed): Promise<ExitCode> {
  const command = parsed.command!;
  if (parsed.table === 'dying' || parsed.table === 'unconfirmed') {
    if (command !== 'list') throw new UsageError(`${command} cannot work on the ${parsed.table} table (only list can)`, command);
  }
  if (parsed.table === 'expect') return (await import('./commands/expect.js')).run(parsed);
  // The plugin's worker boots while the command loads and checks things (runtime/prespawn.ts).
  if (needsWorker(parsed)) (await import('../runtime/prespawn.js')).prespawnWorker();
  const mod = await COMMAND_MODULES[command]();
  return await mod.run(parsed);
}

/** bin/ctplug.js calls this; so does running this file (or dist/cli.js) directly. */
export async function runCli(argv = process.argv.slice(2)): Promise<void> {
  // `ctplug list | head`: the reader went away; stop quietly (the plugin worker dies with us).
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT.OK);
    throw e;
  });
  process.exitCode = await main(argv);
}

// Run when executed directly: `node --import ./scripts/ts-register.mjs host/cli/main.ts ...` or `node dist/cli.js ...`.
if (isEntry()) {
  runCli().catch(
    (e) => {
      process.stderr.write(`ctplug: internal error: ${e}\n`);
      process.exitCode = EXIT.KERNEL;
    },
  );
}

function isEntry(): boolean {
  const self = process.argv[1];
  if (!self) return false;
  try {
    return realpathSync(self) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** The command word of a line that failed to parse, for the `see ctplug CMD --help` advice. */
function guessCommand(argv: string[]): string | undefined {
  const i = argv.findIndex((a) => !a.startsWith('-'));
  if (i < 0) return undefined;
  if (argv[i] === 'plugin' && (argv[i + 1] === 'inspect' || argv[i + 1] === 'new')) return `plugin ${argv[i + 1]}`;
  if (argv[i] === 'fleet' && COMMANDS[`fleet ${argv[i + 1]}`]) return `fleet ${argv[i + 1]}`;
  return COMMANDS[argv[i]] ? argv[i] : undefined;
}
