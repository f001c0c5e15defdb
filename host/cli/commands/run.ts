// `ctplug --plugin FILE [--config JSON|@FILE] [--policy FILE] [--netns NAME]`: run any plugin.
// The policy decides what it may do; its output goes to stdout, its logs to stderr tagged with its name.
import { readFileSync } from 'node:fs';
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { summary } from '../common.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { runPluginFile } from '../plugins.js';
import { configDepthProblem } from '../../policy/config-depth.js';

export function readConfig(v: string | undefined): unknown {
  if (v === undefined) return {};
  let text = v;
  let where = '--config';
  if (v.startsWith('@')) {
    where = v.slice(1);
    try {
      text = readFileSync(v.slice(1), 'utf8');
    } catch (e) {
      throw new UsageError(`--config ${v}: cannot read ${v.slice(1)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'run');
    }
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${where}: not valid JSON (${(e as Error).message})`, 'run');
  }
  const deep = configDepthProblem(config);
  if (deep) throw new UsageError(`${where}: the config ${deep}`, 'run');
  return config;
}

/** How long a run may take to end after Ctrl-C before the command exits anyway. */
const INTERRUPT_GRACE_MS = 2000;

export async function run(p: Parsed): Promise<ExitCode> {
  const config = readConfig(p.opts.config);
  if (p.opts.netns !== undefined) {
    const { netnsPath } = await import('../../conntrack/validate.js');
    netnsPath(p.opts.netns); // a missing namespace is exit 4 before any plugin code is loaded
  }
  // Ctrl-C: an event listener finishes after the batch in progress, its summary included. A run
  // that has not ended two seconds later (a dump, or a plugin busy in its code, even in its start
  // section) is ended there and then; so does a second Ctrl-C.
  const ac = new AbortController();
  let interrupts = 0;
  const quit = () => {
    process.stderr.write('ctplug: interrupted\n');
    process.exit(130);
  };
  const stop = () => {
    if (++interrupts > 1) quit();
    ac.abort();
    setTimeout(quit, INTERRUPT_GRACE_MS).unref();
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  let r;
  try {
    r = await runPluginFile(p.opts.plugin!, config, p.opts.policy, p.opts.netns, {
      onLog: (l) => process.stderr.write(`[${l.plugin}] ${l.level === 'info' ? '' : `${l.level}: `}${l.text}\n`),
      progress: 'processed',
      signal: ac.signal,
    });
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
  const s = r.stats;
  const parts = [`${s.entries} entries seen`, s.events && `${s.events} events`, s.overruns && `${s.overruns} overruns (events lost), ${s.resyncs} resyncs`, s.deleted && `${s.deleted} deleted`, s.gone && `${s.gone} already gone`, s.created && `${s.created} created`,
    s.updated && `${s.updated} updated`, s.failed && `${s.failed} failed`, s.refused && `${s.refused} requests refused`].filter(Boolean);
  summary(`plugin run finished: ${parts.join(', ')}.`);
  if (s.refused > 0) {
    throw new CliError(EXIT.PLUGIN_FAILED, `plugin ${r.plugin} made ${s.refused} request${s.refused > 1 ? 's' : ''} the host refused (outside its grant or malformed; see its log above)`,
      'give it a config within the policy\'s scope, or widen the policy if that is intended');
  }
  if (s.failed > 0) throw new CliError(EXIT.KERNEL, `${s.failed} operations failed in the kernel`, 'run again; if it persists check `ctplug stats` and dmesg');
  return EXIT.OK;
}
