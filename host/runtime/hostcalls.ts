// The `ctplug` imports a plugin calls (sdk/abi.json): each takes (ptr, len) pairs in the
// plugin's memory, bounds-checks them (E_BOUNDS) and hands the bytes to whoever owns the concept:
// conntrack requests to the capability gate (scoped/gate.ts), emit to the run's output, log to
// the log sink, config from the run's config. Each answers the plugin with an ABI status; a refusal
// is counted and explained once per (hostcall, status) in the plugin's log.
import { abi, EXPORT, STATUS } from '../policy/abi.js';
import { type Admitted, Refusal, type Request, type ScopedConntrack } from '../scoped/gate.js';
import { type CallContext, statusName } from './call-context.js';
import { type LogSink, MAX_LINE_BYTES } from './log-sink.js';
import type { Output } from './output.js';
import type { LogLevel, RunStats } from './protocol.js';

const { OK, E_INVAL, E_BOUNDS, E_LIMIT, E_STATE } = STATUS;
const levelName = new Map(Object.entries(abi.logLevels).map(([k, v]) => [v, k.toLowerCase() as LogLevel]));
const GATE_REQUESTS = new Set<string>(['dump', 'delete', 'update', 'create', 'flush', 'subscribe'] satisfies Request[]);

export interface HostcallParts {
  ctx: CallContext;
  gate: ScopedConntrack;
  output: Output;
  logs: LogSink;
  stats: RunStats;
  /** What the `config` hostcall answers (UTF-8 JSON). */
  config: Uint8Array;
}

/** The import object's `ctplug` module: one function per abi.json import, refused outright when the grant lacks its operation. */
export function ctplugImports(p: HostcallParts): Record<string, (...a: number[]) => number> {
  const { ctx, gate, output, logs, stats } = p;
  const refuse = (call: string, r: Refusal): number => {
    stats.refused++;
    logs.note(`${call}:${r.status}`, 'warn', `${call} refused (${statusName.get(r.status)}): ${r.why}`);
    return r.status;
  };
  const outcome = (call: string, r: Admitted) => (r instanceof Refusal ? refuse(call, r) : r);
  const outOfBounds = (call: string, what = 'buffer') => refuse(call, new Refusal(E_BOUNDS, `${what} out of bounds`));
  /** A conntrack request: the bytes it names, handed to the gate. */
  const request = (call: Exclude<Request, 'subscribe'>, what: string) => (ptr: number, len: number) =>
    ctx.span(ptr, len) ? outcome(call, gate[call](ctx.bytes(ptr, len))) : outOfBounds(call, what);

  const impls: Record<string, (...a: number[]) => number> = {
    dump: request('dump', 'request'),
    delete: request('delete', 'buffer'),
    update: request('update', 'buffer'),
    create: request('create', 'buffer'),
    flush: request('flush', 'request'),
    subscribe(ptr, len) {
      if (!ctx.span(ptr, len)) return outOfBounds('subscribe', 'request');
      if (!ctx.exports(EXPORT.onEvents)) return refuse('subscribe', new Refusal(E_STATE, `the plugin does not export ${EXPORT.onEvents}`));
      return outcome('subscribe', gate.subscribe(ctx.bytes(ptr, len)));
    },
    emit: (ptr, len) => (ctx.span(ptr, len) ? output.emit(ctx.bytes(ptr, len)) : outOfBounds('emit')),
    log(level, ptr, len) {
      if (!ctx.span(ptr, len)) return outOfBounds('log');
      const name = levelName.get(level);
      if (!name) return refuse('log', new Refusal(E_INVAL, `unknown log level ${level}`));
      const text = new TextDecoder().decode(ctx.bytes(ptr, Math.min(len, MAX_LINE_BYTES + 4)));
      return logs.line(name, 'log', text.replace(/\n$/, '')) ? OK : E_LIMIT;
    },
    config(ptr, cap) {
      if (!ctx.span(ptr, cap)) return outOfBounds('config');
      if (p.config.length <= cap) ctx.u8().set(p.config, ptr);
      return p.config.length;
    },
    clock: () => (performance.timeOrigin + performance.now()) / 1000,
  };
  const ctplug: Record<string, (...a: number[]) => number> = {};
  for (const name of Object.keys(abi.imports)) {
    const impl = impls[name];
    if (!impl) throw new Error(`host bug: sdk/abi.json import ctplug.${name} has no implementation`);
    const denied = GATE_REQUESTS.has(name) ? gate.denied(name as Request) : undefined;
    ctplug[name] = ctx.guarded(`${abi.importModule}.${name}`, denied ? () => refuse(name, denied) : impl);
  }
  return ctplug;
}
