// The expectation table: `ctplug list|get|delete|create|flush|count|stats|events expect`, as
// conntrack's -L/-G/-D/-I/-F/-C/-S/-E expect. The plugin ABI carries no expectation records, so
// these talk to the table directly (host/conntrack/expect.ts) and print as conntrack does
// (libnetfilter_conntrack's nfexp_snprintf: text and XML). The tuple flags name the expected flow
// (get, delete) or the master flow (create: the expected one is --tuple-*, its mask --mask-*).
import { IPPROTO, type EventKind } from '../../conntrack/constants.js';
import type { Expectation, ExpectTable, NewExpectation } from '../../conntrack/expect.js';
import { toNewEntry } from '../../conntrack/new-entry.js';
import type { FlowTuple, Tuple } from '../../conntrack/tuple.js';
import { parseFamily, parseU32 } from '../../conntrack/validate.js';
import { AbortError } from '../../conntrack/errors.js';
import { UsageError, type Opts, type Parsed } from '../args.js';
import { notice, outputFormat, preflight, summary } from '../common.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { lookupFromFlags } from '../tuple.js';

const PROTO_NAMES = new Map<number, string>(Object.entries(IPPROTO).map(([name, n]) => [n, name]));
const PORTS = new Set<number>([IPPROTO.tcp, IPPROTO.udp, IPPROTO.udplite, IPPROTO.sctp, IPPROTO.dccp]);
const EVENT_TAGS: Record<EventKind, string> = { NEW: '[NEW]', UPDATE: '[UPDATE]', DESTROY: '[DESTROY]' };

/** __snprintf_address + __snprintf_proto of libnetfilter_conntrack: "src=A dst=B sport=1 dport=2 ". */
function tupleText(t: FlowTuple, protocol: number, src: string, dst: string): string {
  let s = `${src}=${t.src} ${dst}=${t.dst} `;
  if (PORTS.has(protocol)) s += `sport=${t.sport ?? 0} dport=${t.dport ?? 0} `;
  else if (protocol === IPPROTO.gre) s += `srckey=0x${(t.sport ?? 0).toString(16)} dstkey=0x${(t.dport ?? 0).toString(16)} `;
  else if (protocol === IPPROTO.icmp || protocol === IPPROTO.icmpv6) s += `type=${t.icmp?.type ?? 0} code=${t.icmp?.code ?? 0} id=${t.icmp?.id ?? 0} `;
  return s;
}

const flagNames = (f: number) => [f & 1 && 'PERMANENT', f & 2 && 'INACTIVE', f & 4 && 'USERSPACE'].filter(Boolean) as string[];

/** One expectation as conntrack -L expect prints it (nfexp_snprintf, NFCT_O_DEFAULT). */
export function expectText(e: Expectation): string {
  let s = e.event ? `${EVENT_TAGS[e.event].padStart(9)} ` : '';
  if (e.timeout !== undefined) s += `${e.timeout} `;
  s += `proto=${e.protocol} `;
  s += tupleText(e.expected, e.protocol, 'src', 'dst') + tupleText(e.mask, e.protocol, 'mask-src', 'mask-dst') + tupleText(e.master, e.protocol, 'master-src', 'master-dst');
  if (e.zone !== undefined) s += `zone=${e.zone} `;
  if (e.flags) s += `${flagNames(e.flags).join(',')} `;
  if (e.class !== undefined) s += `class=${e.class} `;
  if (e.helper !== undefined) s += `helper=${e.helper}`;
  return s.endsWith(' ') ? s.slice(0, -1) : s;
}

function l4Xml(t: FlowTuple, protocol: number): string {
  if (PORTS.has(protocol)) return `<sport>${t.sport ?? 0}</sport><dport>${t.dport ?? 0}</dport>`;
  if (protocol === IPPROTO.gre) return `<srckey>0x${(t.sport ?? 0).toString(16)}</srckey><dstkey>0x${(t.dport ?? 0).toString(16)}</dstkey>`;
  return '';
}

const xmlText = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One expectation as a <flow> element (nfexp_snprintf, NFCT_O_XML). */
export function expectXml(e: Expectation): string {
  const kind = e.event ? ` type="${e.event.toLowerCase()}"` : '';
  const l3 = (t: FlowTuple) => `<src>${t.src}</src><dst>${t.dst}</dst>`;
  const parts = [
    `<flow${kind}><layer3 protonum="${e.family === 'ipv4' ? 2 : 10}" protoname="${e.family}">`,
    `<expected>${l3(e.expected)}</expected><mask>${l3(e.mask)}</mask><master>${l3(e.master)}</master></layer3>`,
    `<layer4 protonum="${e.protocol}" protoname="${PROTO_NAMES.get(e.protocol) ?? 'unknown'}">`,
    `<expected>${l4Xml(e.expected, e.protocol)}</expected><mask>${l4Xml(e.mask, e.protocol)}</mask><master>${l4Xml(e.master, e.protocol)}</master></layer4>`,
    '<meta>',
    e.helper !== undefined ? `<helper-name>${xmlText(e.helper)}</helper-name>` : '',
    e.timeout !== undefined ? `<timeout>${e.timeout}</timeout>` : '',
    e.class !== undefined ? `<class>${e.class}</class>` : '',
    e.zone !== undefined ? `<zone>${e.zone}</zone>` : '',
    ...flagNames(e.flags ?? 0).map((f) => `<${f.toLowerCase()}/>`),
    '</meta></flow>',
  ];
  return parts.join('');
}

const XML_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<expect>\n';

/** Prints expectations in the -o format: text, xml (header before the first, footer by `end`), json, timestamp. */
class Printer {
  private shown = 0;
  constructor(private readonly format: string[]) {}
  print(e: Expectation): void {
    let line: string;
    if (this.format.includes('json')) line = JSON.stringify(e);
    else if (this.format.includes('xml')) line = (this.shown === 0 ? XML_HEADER : '') + expectXml(e);
    else line = (this.format.includes('timestamp') ? stamp() : '') + expectText(e);
    this.shown++;
    process.stdout.write(line + '\n');
  }
  end(): number {
    if (this.shown && this.format.includes('xml')) process.stdout.write('</expect>\n');
    return this.shown;
  }
}

/** conntrack's "[%-8ld.%-6ld]\t". */
function stamp(): string {
  const t = Date.now();
  return `[${Math.floor(t / 1000)}.${String((t % 1000) * 1000).padStart(6, '0')}]\t`;
}

/** The expected tuple (get, delete) from -s -d -p and the protocol's fields; conntrack defaults the family to IPv4. */
function expectedFromFlags(o: Opts): Tuple {
  if (o.src === undefined || o.dst === undefined) throw new UsageError('give the expected flow\'s -s/--src and -d/--dst', 'expect');
  return lookupFromFlags(o).tuple;
}

/** create expect: the master flow (-s -d -p --sport --dport), the expected flow (--tuple-*) and its mask (--mask-*). */
function newFromFlags(o: Opts): NewExpectation {
  for (const [k, flag] of [['src', '-s'], ['dst', '-d'], ['proto', '-p'], ['timeout', '-t'], ['tupleSrc', '--tuple-src'], ['tupleDst', '--tuple-dst'], ['maskSrc', '--mask-src'], ['maskDst', '--mask-dst']] as const) {
    if (o[k] === undefined) throw new UsageError(`create expect needs ${flag} (the master flow: -s -d -p --sport --dport; the expected one: --tuple-src/--tuple-dst and --tuple-port-*; its mask: --mask-src/--mask-dst and --mask-port-*; -t)`, 'create');
  }
  const family = o.family === undefined ? undefined : parseFamily(o.family);
  const tuple = (src: string, dst: string, sport: string | undefined, dport: string | undefined) =>
    toNewEntry({ family, protocol: o.proto!, src, dst, sport, dport, icmpType: o.icmpType, icmpCode: o.icmpCode, icmpId: o.icmpId, timeout: 0 }).tuple;
  const master = tuple(o.src!, o.dst!, o.sport, o.dport);
  return {
    master,
    expected: tuple(o.tupleSrc!, o.tupleDst!, o.tuplePortSrc ?? '0', o.tuplePortDst ?? '0'),
    mask: tuple(o.maskSrc!, o.maskDst!, o.maskPortSrc ?? '0', o.maskPortDst ?? '0'),
    timeout: parseU32(o.timeout!, 'timeout'),
  };
}

async function open(netns: string | undefined): Promise<ExpectTable> {
  await preflight(netns);
  const { ExpectTable } = await import('../../conntrack/expect.js');
  return ExpectTable.open(netns);
}

export async function run(p: Parsed): Promise<ExitCode> {
  const o = p.opts;
  const command = p.command!;
  const format = command === 'list' || command === 'events' ? outputFormat(o.output, 'expect').split(',') : ['text'];
  const family = command === 'list' && o.family !== undefined ? parseFamily(o.family) : undefined;
  const what = command === 'get' || command === 'delete' ? expectedFromFlags(o) : undefined;
  const made = command === 'create' ? newFromFlags(o) : undefined;
  const table = await open(o.netns);
  try {
    switch (command) {
      case 'list': {
        const out = new Printer(format);
        for (const e of table.listSync(family)) out.print(e);
        summary(`${out.end()} expectations have been shown.`);
        return EXIT.OK;
      }
      case 'count':
        process.stdout.write(`${table.listSync().length}\n`);
        return EXIT.OK;
      case 'stats':
        process.stdout.write(table.statsSync().map(({ cpu, ...rest }) => `cpu=${String(cpu).padEnd(4)}\t${Object.entries(rest).map(([k, v]) => `${k}=${v} `).join('')}\n`).join(''));
        return EXIT.OK;
      case 'flush':
        table.flushSync();
        notice('expectation table has been emptied.');
        return EXIT.OK;
      case 'get': {
        const e = table.getSync(what!);
        if (!e) throw new CliError(EXIT.NOTHING_MATCHED, 'no such expectation', 'list them with `ctplug list expect`');
        new Printer(format).print(e);
        return EXIT.OK;
      }
      case 'delete':
        table.deleteSync(what!);
        summary('1 expectations have been deleted.');
        return EXIT.OK;
      case 'create': // no summary line, as conntrack -I expect
        table.createSync(made!);
        return EXIT.OK;
      case 'events':
        return await events(table, format);
    }
    throw new UsageError(`${command} does not work on the expect table`, command);
  } finally {
    table.close();
  }
}

/** Until Ctrl-C (or SIGTERM): every expectation event, then "N expectation events have been shown.". */
async function events(table: ExpectTable, format: string[]): Promise<ExitCode> {
  const out = new Printer(format);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.on('SIGINT', stop).on('SIGTERM', stop);
  try {
    await table.events(['NEW', 'UPDATE', 'DESTROY'], (e) => out.print(e), ac.signal);
  } catch (e) {
    if (!(e instanceof AbortError && ac.signal.aborted)) throw e;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
  summary(`${out.end()} expectation events have been shown.`);
  return EXIT.OK;
}
