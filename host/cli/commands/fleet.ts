// `ctplug fleet agent|run|count|stats|flows`: the fleet over NATS. Everything a host or the network
// says (host names, reasons, records) is escaped before it reaches the terminal.
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { BUILTIN } from '../../builtin.js';
import { parseEventKinds } from '../../conntrack/validate.js';
import { Agent, daemonAccess } from '../../fleet/agent.js';
import { daemonSocket } from '../connect.js';
import { openNats, type NatsAuth } from '../../fleet/connection.js';
import { fanOut, tail, type HostResult } from '../../fleet/operator.js';
import { loadManifest } from '../../policy/manifest.js';
import { escapeText, terminalSafeJson } from '../../policy/untrusted-text.js';
import { sha256 } from '../../runtime/module-check.js';
import { parseListen } from '../../metrics/server.js';
import { readConfig } from './run.js';
import { resolvePluginFile } from '../plugins.js';

function auth(p: Parsed): NatsAuth {
  const o = p.opts;
  return { creds: o.natsCreds, nkey: o.natsNkey, tlsCa: o.natsCa, tlsCert: o.natsCert, tlsKey: o.natsKey };
}

function servers(p: Parsed): string[] {
  const v = p.opts.nats;
  if (!v) throw new UsageError('--nats URL is required (e.g. --nats nats://127.0.0.1:4222)', p.command);
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const u of list) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s/]+$|^[^\s:/]+:\d+$/.test(u)) throw new UsageError(`--nats ${JSON.stringify(u)}: not a NATS URL; use nats://HOST:PORT or tls://HOST:PORT`, p.command);
  }
  return list;
}

function seconds(v: string | undefined, flag: string, command: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new UsageError(`${flag} ${JSON.stringify(v)}: give seconds, more than 0 and at most 3600`, command);
  return n;
}

async function connect(p: Parsed): Promise<NatsConnection> {
  return openNats({ ...auth(p), servers: servers(p), name: `ctplug-${p.command?.replace(' ', '-')}` });
}

export async function agent(p: Parsed): Promise<ExitCode> {
  if (!p.opts.policy) throw new UsageError('--policy FILE is required: its clients.fleet entry says what the fleet may do here', p.command);
  const metrics = p.opts.metrics === undefined ? undefined : parseListen(p.opts.metrics);
  if (p.opts.metrics !== undefined && !metrics) throw new UsageError(`--metrics ${JSON.stringify(p.opts.metrics)}: use ADDR:PORT, [V6]:PORT or :PORT`, p.command);
  let bufferBytes: number | undefined;
  if (p.opts.natsBuffer !== undefined) {
    bufferBytes = Number(p.opts.natsBuffer);
    if (!Number.isInteger(bufferBytes) || bufferBytes < 4096 || bufferBytes > 2 ** 32) throw new UsageError(`--nats-buffer ${JSON.stringify(p.opts.natsBuffer)}: give bytes, 4096 to 4 GiB`, p.command);
  }
  // A client of `ctplug daemon` (--connect PATH, CTPLUG_SOCKET, or the default socket for a non-root
  // user), as every ctplug command: then the agent holds no privilege at all.
  const socket = daemonSocket();
  const a = new Agent({
    ...auth(p), access: socket === undefined ? undefined : daemonAccess(socket), nats: servers(p), name: p.opts.name, policy: p.opts.policy, netns: p.opts.netns, metrics, bufferBytes,
    censusMs: seconds(p.opts.census, '--census', p.command, 15) * 1000,
    events: p.opts.eventMask === undefined ? undefined : parseEventKinds(p.opts.eventMask),
  });
  await a.start();
  const m = a.metricsAddress;
  process.stderr.write(`ctplug agent ${a.name}: publishing to ctplug.${a.name}.* and answering ctplug.${a.name}.svc.*${m ? `; /metrics on ${m.address}:${m.port}` : ''}${socket === undefined ? '' : `; through the daemon at ${escapeText(socket)}`}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
  await a.close();
  return EXIT.OK;
}

/** The plugin a run names: a first-party name, or a module file sent with its sha256 as the pin. */
function pluginRequest(v: string | undefined, command: string | undefined): Record<string, unknown> {
  if (!v) throw new UsageError('--plugin is required: a first-party name (purge-remote, ...) or a .wasm / manifest file', command);
  if ((BUILTIN as readonly string[]).includes(v)) return { plugin: v };
  const { manifestPath } = resolvePluginFile(v);
  const { modulePath } = loadManifest(manifestPath);
  const wasm = readFileSync(modulePath);
  // The manifest travels as written, minus its own sha256: the pin in the request is the module's.
  const { sha256: _pin, ...rest } = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  void _pin;
  return { plugin: `sha256:${sha256(wasm)}`, module: { manifest: rest, wasm: wasm.toString('base64') } };
}

const COUNT_KEYS = ['deleted', 'gone', 'failed', 'entries', 'created', 'updated'];

function line(r: HostResult, op: string): string {
  const host = escapeText(r.host).padEnd(16);
  if (r.status === 'ok') {
    if (op === 'run') {
      const parts = COUNT_KEYS.filter((k) => typeof r[k] === 'number' && (r[k] as number) > 0 || k === 'deleted').map((k) => `${k} ${r[k] as number}`);
      return `${host} ok       ${parts.join(', ')}`;
    }
    if (op === 'count') return `${host} ok       ${Number(r.entries)} entries`;
    return `${host} ok       ${terminalSafeJson(r.agent)}`;
  }
  return `${host} ${r.status.padEnd(8)} ${escapeText(String(r.reason ?? ''))}`;
}

/** fleet run / count / stats: fan out, one line per host (or NDJSON with -o json), a total. */
export function fanOutCommand(op: 'run' | 'count' | 'stats') {
  return async (p: Parsed): Promise<ExitCode> => {
    const body: Record<string, unknown> = op === 'run' ? { ...pluginRequest(p.opts.plugin, p.command), config: readConfig(p.opts.config) } : {};
    // Fewer namespaces than each host's clients.fleet.netns (names, comma separated): a host lacking one refuses.
    if (p.opts.netns !== undefined && op !== 'stats') {
      const names = p.opts.netns.split(',').map((n) => n.trim());
      if (names.some((n) => !/^[A-Za-z0-9_.-]+$/.test(n) || n === '..')) throw new UsageError(`--netns ${JSON.stringify(p.opts.netns)}: give \`ip netns\` names separated by commas ("." is each agent's own)`, p.command);
      body.netns = names;
    }
    const json = p.opts.output === 'json';
    if (p.opts.output !== undefined && !json && p.opts.output !== 'text') throw new UsageError(`-o ${JSON.stringify(p.opts.output)}: use text or json`, p.command);
    const timeoutS = seconds(p.opts.timeout, '--timeout', p.command, 30);
    if (op === 'run') body.timeout_ms = Math.round(timeoutS * 1000);
    const nc = await connect(p);
    const tty = Boolean(process.stderr.isTTY) && !process.env.CI;
    let results: HostResult[];
    try {
      results = await fanOut(nc, op, body, {
        hosts: p.opts.hosts, timeoutMs: timeoutS * 1000 + 2000,
        onResult: (_r, done, of) => { if (tty) process.stderr.write(`\r${op}: ${done}/${of} hosts answered...`); },
      });
    } finally {
      if (tty) process.stderr.write('\r\x1b[K');
      await nc.close();
    }
    if (!results.length) throw new CliError(EXIT.ENVIRONMENT, `no host answered on NATS (${p.opts.hosts ? `--hosts ${escapeText(p.opts.hosts)}` : 'no agent is running'})`, 'start `ctplug fleet agent` on the hosts, or check --nats and --hosts');
    const tally: Record<string, number> = {};
    let total = 0;
    for (const r of results) {
      tally[r.status] = (tally[r.status] ?? 0) + 1;
      if (r.status === 'ok') total += Number(op === 'run' ? r.deleted : r.entries) || 0;
      process.stdout.write((json ? terminalSafeJson(r) : line(r, op)) + '\n');
    }
    const what = op === 'run' ? `${total} entries deleted` : op === 'count' ? `${total} entries` : '';
    const counts = Object.entries(tally).map(([k, v]) => `${v} ${k}`).join(', ');
    process.stderr.write(`ctplug fleet ${op}: ${results.length} hosts (${counts})${what ? `; total ${what}` : ''}\n`);
    // Exit: 0 every host ok; 7 any host failed or did not answer; else 6 (some host refused).
    if (results.every((r) => r.status === 'ok')) return EXIT.OK;
    return results.some((r) => r.status === 'failed' || r.status === 'no answer') ? EXIT.PLUGIN_FAILED : EXIT.PLUGIN_REFUSED;
  };
}

/** One flowlog record in conntrack's text form (what `conntrack -E -e DESTROY` would print). */
function flowText(host: string, r: Record<string, unknown>): string {
  const t = (x: unknown) => {
    const o = (x ?? {}) as Record<string, unknown>;
    const ports = o.sport !== undefined ? ` sport=${o.sport} dport=${o.dport}` : o.type !== undefined ? ` type=${o.type} code=${o.code} id=${o.id}` : '';
    return `src=${o.src} dst=${o.dst}${ports}`;
  };
  const counters = (dir: string) => (r[`packets_${dir}`] !== undefined ? ` packets=${r[`packets_${dir}`]} bytes=${r[`bytes_${dir}`]}` : '');
  const parts = [`[${host}]`, '[DESTROY]', String(r.proto ?? '?').padEnd(8), String(r.protonum ?? '').padEnd(2)];
  if (r.state) parts.push(String(r.state));
  parts.push(t(r.orig) + counters('orig'), t(r.reply) + counters('reply'));
  if (r.mark) parts.push(`mark=${r.mark}`);
  if (r.zone) parts.push(`zone=${r.zone}`);
  if (r.duration_ms !== undefined) parts.push(`duration=${r.duration_ms}ms`);
  return parts.join(' ');
}

export async function flows(p: Parsed): Promise<ExitCode> {
  const kind = p.opts.eventMask !== undefined ? 'events' : 'flows';
  if (kind === 'events') parseEventKinds(p.opts.eventMask!); // validated; the stream holds what the agents chose
  const json = p.opts.output === 'json';
  if (p.opts.output !== undefined && !json && p.opts.output !== 'text') throw new UsageError(`-o ${JSON.stringify(p.opts.output)}: use text or json`, p.command);
  const limit = p.opts.limit === undefined ? Infinity : Number(p.opts.limit);
  if (!(limit > 0) || (limit !== Infinity && !Number.isInteger(limit))) throw new UsageError(`--count ${JSON.stringify(p.opts.limit)}: give a positive number`, p.command);
  const ac = new AbortController();
  if (p.opts.duration !== undefined) setTimeout(() => ac.abort(), seconds(p.opts.duration, '--duration', p.command, 1) * 1000).unref();
  process.once('SIGINT', () => ac.abort()).once('SIGTERM', () => ac.abort());
  const nc = await connect(p);
  let shown = 0, gaps = 0;
  try {
    for await (const it of tail(nc, { kind, hosts: p.opts.hosts, signal: ac.signal })) {
      if (it.gap) {
        gaps++;
        // A gap is shown in both formats: the reader must see that records are missing here.
        process.stderr.write(`ctplug fleet flows: GAP on ${escapeText(it.host)}: ${terminalSafeJson(it.gap)}\n`);
        if (json) process.stdout.write(terminalSafeJson({ host: it.host, ...it.gap }) + '\n');
        continue;
      }
      for (const l of it.lines) {
        if (shown >= limit) break;
        let rec: Record<string, unknown>;
        try { rec = JSON.parse(l) as Record<string, unknown>; } catch { continue; }
        process.stdout.write((json ? terminalSafeJson({ host: it.host, ...rec }) : escapeText(kind === 'flows' ? flowText(it.host, rec) : `[${it.host}] ${l}`)) + '\n');
        shown++;
      }
      if (shown >= limit) break;
    }
  } finally {
    await nc.close();
  }
  process.stderr.write(`ctplug fleet flows: ${shown} records shown${gaps ? `, ${gaps} gap markers` : ''}\n`);
  return EXIT.OK;
}
