// The command-line parser: hand-written, no dependency, strict. An unknown flag, a flag given
// twice, a flag the command does not take, or a flag without its value is a UsageError (exit 2).
// Values are only checked for presence here; their meaning is validated by host/conntrack/validate.ts
// when the command runs, so there is exactly one place that decides what a valid zone is.
//
// Accepted forms: `--zone 5`, `--zone=5`, `-w 5`, `-w5`. conntrack's command letters work too:
// `ctplug -L -w 5` is `ctplug list -w 5`.
// The filter flags (-w, -p, -s, --dport, ...) are rows of sdk/filters.json (filter-table.ts): their
// spellings, help and the commands that take them come from there; the other options are here.
import { FLAG_ROWS, filterFlags, type FilterOpt } from './filter-table.js';

export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptSpec {
  short?: string;
  long: string[];
  /** Placeholder for the value in help; absent for boolean flags. */
  value?: string;
  help: string;
}

/** The options that are not filter keys: new values, output, plugin and event options. */
const OTHER_OPTIONS = {
  labelAdd: { long: ['label-add'], value: 'LABELS', help: 'create/update: connection labels to set or add, comma separated bit numbers 0..127 (or names from /etc/xtables/connlabel.conf)' },
  labelDel: { long: ['label-del'], value: 'LABELS', help: 'update: connection labels to remove (bit numbers or names)' },
  timeout: { short: 't', long: ['timeout'], value: 'SECONDS', help: 'timeout in seconds' },
  srcNat: { short: 'n', long: ['src-nat'], value: 'IP[:PORT]', help: 'create: source NAT by the kernel\'s NAT core, IP, IP:PORT or [IPV6]:PORT (the reply destination)' },
  dstNat: { short: 'g', long: ['dst-nat'], value: 'IP[:PORT]', help: 'create: destination NAT, IP, IP:PORT or [IPV6]:PORT (the reply source)' },
  from: { long: ['from'], value: 'FILE|-', help: 'create many: conntrack -I lines or `ctplug list -o json` NDJSON, from FILE or stdin (-)' },
  toZone: { long: ['to-zone'], value: 'ZONE', help: 'with --from: create every entry in this zone instead' },
  dryRun: { long: ['dry-run'], help: 'with --from: validate every line, create nothing' },
  eventMask: { short: 'e', long: ['event-mask'], value: 'KINDS', help: 'events to show: NEW,UPDATE,DESTROY (default all)' },
  limit: { long: ['count', 'limit'], value: 'N', help: 'stop after N events (ctplug extension)' },
  duration: { long: ['duration'], value: 'SECONDS', help: 'stop after SECONDS (ctplug extension)' },
  bufferSize: { short: 'b', long: ['buffer-size'], value: 'BYTES', help: 'event socket receive buffer (default 128 MiB; like conntrack -b)' },
  acct: { long: ['acct'], help: 'turn on nf_conntrack_acct in the namespace (packet/byte counters, for flows created from now on)' },
  timestamp: { long: ['timestamp'], help: 'turn on nf_conntrack_timestamp in the namespace (flow start/stop times, for flows created from now on)' },
  output: { short: 'o', long: ['output'], value: 'FORMAT', help: 'text (default), extended, id or json (NDJSON); list also labels, events also timestamp' },
  plugin: { long: ['plugin'], value: 'FILE', help: 'plugin: a .wasm, its manifest, or a first-party name (list, match, ...)' },
  config: { long: ['config'], value: 'JSON|@FILE', help: 'plugin config as JSON text, or @file to read it from a file' },
  policy: { long: ['policy'], value: 'FILE', help: 'operator policy (JSON) that grants the plugin its capabilities' },
  ctplugSpec: { long: ['ctplug-spec'], value: 'SPEC', help: 'plugin new: the ctplug the plugin depends on (default ^VERSION of this ctplug; or a version, or a path such as ./ctplug-0.1.0.tgz)' },
  nats: { long: ['nats'], value: 'URL', help: 'fleet: NATS server URL(s), comma separated (nats://HOST:4222, tls://HOST:4222)' },
  natsCreds: { long: ['nats-creds'], value: 'FILE', help: 'fleet: NATS credentials file (.creds: user JWT + nkey seed, from nsc)' },
  natsNkey: { long: ['nats-nkey'], value: 'FILE', help: 'fleet: file holding an nkey seed (SU...) the server knows by its public key' },
  natsCa: { long: ['nats-ca'], value: 'FILE', help: 'fleet: CA bundle that signed the NATS server\'s TLS certificate' },
  natsCert: { long: ['nats-cert'], value: 'FILE', help: 'fleet: TLS client certificate (mutual TLS; with --nats-key)' },
  natsKey: { long: ['nats-key'], value: 'FILE', help: 'fleet: TLS client key (with --nats-cert)' },
  name: { long: ['name'], value: 'NAME', help: 'fleet agent: this host\'s fleet name (default: the hostname; letters, digits, _ and -)' },
  hosts: { long: ['hosts'], value: 'PATTERN', help: 'fleet: which hosts: names separated by commas, * and ? as wildcards (default all); a name without wildcards must answer' },
  metrics: { long: ['metrics'], value: 'ADDR:PORT', help: 'fleet agent: serve Prometheus /metrics here (e.g. 127.0.0.1:9477, :9477)' },
  census: { long: ['census'], value: 'SECONDS', help: 'fleet agent: how often /metrics\' table census (entries by zone, protocol, TCP state) is taken (default 15)' },
  natsBuffer: { long: ['nats-buffer'], value: 'BYTES', help: 'fleet agent: records kept per stream while NATS is away (default 64 MiB); past it, losses are counted in gap markers' },
  help: { short: 'h', long: ['help'], help: 'show help for the command' },
  version: { long: ['version'], help: 'print the version' },
} satisfies Record<string, OptSpec>;

export type OptKey = 'netns' | FilterOpt | keyof typeof OTHER_OPTIONS;
export type Opts = Partial<Record<OptKey, string>>;

const FILTER_OPTIONS = Object.fromEntries(FLAG_ROWS.map((r) => [r.opt, r.cli])) as Record<FilterOpt, OptSpec>;

export const OPTIONS: Record<OptKey, OptSpec> = {
  netns: { long: ['netns'], value: 'NAME', help: 'network namespace (`ip netns` name or /proc/PID/ns/net path)' },
  ...FILTER_OPTIONS,
  ...OTHER_OPTIONS,
};

/** create and get take these as the tuple's values, not as filters. */
const TUPLE: OptKey[] = ['family', 'proto', 'src', 'dst', 'replySrc', 'replyDst', 'sport', 'dport', 'replySport', 'replyDport', 'icmpType', 'icmpCode', 'icmpId', 'zone'];

const NATS_AUTH: OptKey[] = ['natsCreds', 'natsNkey', 'natsCa', 'natsCert', 'natsKey'];

export interface CommandSpec {
  options: OptKey[];
  /** Positional arguments, by name, all required. */
  positionals?: string[];
  summary: string;
}

export const COMMANDS: Record<string, CommandSpec> = {
  list: { options: [...filterFlags('list'), 'output', 'netns'], summary: 'list entries (conntrack -L), through the first-party list plugin' },
  delete: { options: [...filterFlags('delete'), 'output', 'netns'], summary: 'delete matching entries (conntrack -D), through the match plugin' },
  // -m, -u and --state are new values here, not filters (sdk/filters.json does not list update for them).
  update: { options: [...filterFlags('update'), 'mark', 'timeout', 'status', 'state', 'labelAdd', 'labelDel', 'output', 'netns'], summary: 'set the mark, timeout, status bits, labels or TCP state of matching entries (conntrack -U)' },
  events: { options: [...filterFlags('events'), 'eventMask', 'limit', 'duration', 'bufferSize', 'acct', 'timestamp', 'output', 'netns'], summary: 'show conntrack events as they happen (conntrack -E), through the events plugin' },
  flush: { options: [...filterFlags('flush'), 'netns'], summary: 'delete everything, or one zone/family/mark, in the kernel (conntrack -F)' },
  count: { options: [...filterFlags('count'), 'netns'], summary: 'count entries (conntrack -C)' },
  stats: { options: ['netns'], summary: 'per-CPU statistics (conntrack -S)' },
  create: { options: [...TUPLE, 'origZone', 'replyZone', 'timeout', 'state', 'mark', 'status', 'srcNat', 'dstNat', 'labelAdd', 'from', 'toZone', 'dryRun', 'netns'], summary: 'create entries (conntrack -I), one from flags or many with --from' },
  get: { options: [...TUPLE, 'output', 'netns'], summary: 'show one entry by its tuple (conntrack -G)' },
  'plugin inspect': { options: ['output'], positionals: ['FILE'], summary: 'ABI, imports, exports, capabilities, limits and sha256 of a plugin' },
  'plugin new': { options: ['ctplugSpec'], positionals: ['NAME'], summary: 'scaffold a plugin folder that builds and passes its test' },
  run: { options: ['plugin', 'config', 'policy', 'netns'], summary: 'run any plugin: ctplug --plugin FILE [--config JSON|@file] [--policy FILE]' },
  'fleet agent': { options: ['nats', 'name', 'policy', 'netns', 'metrics', 'census', 'eventMask', 'natsBuffer', ...NATS_AUTH], summary: 'the fleet agent of this host: flows (and chosen events) to JetStream, fleet requests, /metrics' },
  'fleet run': { options: ['nats', 'plugin', 'config', 'hosts', 'timeout', 'output', ...NATS_AUTH], summary: 'run a plugin on every host of the fleet (each host\'s policy decides), one line per host' },
  'fleet count': { options: ['nats', 'hosts', 'timeout', 'output', ...NATS_AUTH], summary: 'entries on every host, in what each host lets the fleet read' },
  'fleet stats': { options: ['nats', 'hosts', 'timeout', 'output', ...NATS_AUTH], summary: 'each host\'s agent: publishing, buffers, gaps' },
  'fleet flows': { options: ['nats', 'hosts', 'output', 'limit', 'duration', 'eventMask', ...NATS_AUTH], summary: 'tail the fleet\'s flow records (or events, with -e) from JetStream: NDJSON or conntrack-style text' },
};

/** The `fleet` subcommands. */
export const FLEET_COMMANDS = ['agent', 'run', 'count', 'stats', 'flows'];

/** conntrack's command letters. */
const LETTERS: Record<string, string> = { L: 'list', D: 'delete', U: 'update', E: 'events', F: 'flush', C: 'count', S: 'stats', I: 'create', G: 'get' };

const byLong = new Map<string, OptKey>();
const byShort = new Map<string, OptKey>();
for (const [key, spec] of Object.entries(OPTIONS) as [OptKey, OptSpec][]) {
  for (const l of spec.long) byLong.set(l, key);
  if (spec.short) byShort.set(spec.short, key);
}

export function flagName(key: OptKey): string {
  const s: OptSpec = OPTIONS[key];
  return s.short ? `-${s.short}/--${s.long[0]}` : `--${s.long[0]}`;
}

export interface Parsed {
  /** 'list', 'plugin inspect', 'run', ...; undefined when only global flags were given. */
  command?: string;
  positionals: string[];
  opts: Opts;
  help: boolean;
  version: boolean;
}

/** Does this token look like a flag rather than a value? Negative numbers are values. */
const looksLikeFlag = (t: string) => t.length > 1 && t.startsWith('-') && !/^-\d/.test(t);

export function parseArgs(argv: string[]): Parsed {
  const out: Parsed = { positionals: [], opts: {}, help: false, version: false };
  const words: string[] = [];
  const seen = new Map<OptKey, string>();

  const set = (key: OptKey, spelled: string, value: string | undefined) => {
    if (key === 'help') return void (out.help = true);
    if (key === 'version') return void (out.version = true);
    if (!('value' in OPTIONS[key])) {
      if (seen.has(key)) throw new UsageError(`${flagName(key)} given twice`);
      seen.set(key, spelled);
      out.opts[key] = 'true';
      return;
    }
    if (value === undefined) throw new UsageError(`${spelled} needs a value (${OPTIONS[key].value})`);
    if (seen.has(key)) throw new UsageError(`${flagName(key)} given twice (${seen.get(key)} and ${spelled})`);
    seen.set(key, spelled);
    out.opts[key] = value;
  };

  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    const next = (): string | undefined => {
      const v = argv[i + 1];
      if (v === undefined || looksLikeFlag(v)) return undefined;
      i++;
      return v;
    };
    if (tok === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      const key = byLong.get(name);
      if (!key) throw new UsageError(`unknown option --${name}${suggest(name)}`);
      const takesValue = 'value' in OPTIONS[key];
      if (!takesValue && eq >= 0) throw new UsageError(`--${name} takes no value`);
      set(key, `--${name}`, takesValue ? (eq >= 0 ? tok.slice(eq + 1) : next()) : undefined);
      continue;
    }
    if (tok.length > 1 && tok.startsWith('-') && !/^-\d/.test(tok)) {
      const letter = tok[1];
      if (LETTERS[letter] && tok.length === 2) {
        words.unshift(LETTERS[letter]);
        continue;
      }
      const key = byShort.get(letter);
      if (!key) throw new UsageError(`unknown option -${letter}`);
      const takesValue = 'value' in OPTIONS[key];
      if (!takesValue) {
        if (tok.length > 2) throw new UsageError(`-${letter} takes no value (got ${tok})`);
        set(key, `-${letter}`, undefined);
      } else {
        set(key, `-${letter}`, tok.length > 2 ? tok.slice(2) : next());
      }
      continue;
    }
    words.push(tok);
  }

  // The command: one word, or "plugin inspect|new"; `--plugin FILE` alone means `run`.
  if (words.length) {
    const first = words.shift()!;
    if (first === 'plugin') {
      const sub = words.shift();
      if (sub === undefined) {
        if (!out.help) throw new UsageError('`ctplug plugin` needs a subcommand: inspect FILE or new NAME', 'plugin');
        out.command = 'plugin';
        return out;
      }
      if (sub !== 'inspect' && sub !== 'new') throw new UsageError(`unknown subcommand \`plugin ${sub}\`: use \`plugin inspect FILE\` or \`plugin new NAME\``, 'plugin');
      out.command = `plugin ${sub}`;
    } else if (first === 'fleet') {
      const sub = words.shift();
      if (sub === undefined) {
        if (!out.help) throw new UsageError(`\`ctplug fleet\` needs a subcommand: ${FLEET_COMMANDS.join(', ')}`, 'fleet');
        out.command = 'fleet';
        return out;
      }
      if (!FLEET_COMMANDS.includes(sub)) throw new UsageError(`unknown subcommand \`fleet ${sub}\`: use ${FLEET_COMMANDS.map((c) => `fleet ${c}`).join(', ')}`, 'fleet');
      out.command = `fleet ${sub}`;
    } else if (COMMANDS[first]) {
      out.command = first;
    } else {
      throw new UsageError(`unknown command ${JSON.stringify(first)}: use one of ${Object.keys(COMMANDS).filter((c) => !c.includes(' ')).join(', ')}, plugin, fleet`);
    }
  } else if (out.opts.plugin !== undefined) {
    out.command = 'run';
  }
  out.positionals = words;
  if (!out.command || out.help) return out;

  const spec = COMMANDS[out.command];
  if (out.command === 'run' && out.opts.plugin === undefined && words.length === 1) {
    out.opts.plugin = words.shift(); // `ctplug run FILE`
  }
  for (const key of seen.keys()) {
    if (!spec.options.includes(key)) {
      throw new UsageError(`${seen.get(key)} is not an option of \`ctplug ${out.command}\``, out.command);
    }
  }
  const want = spec.positionals ?? [];
  if (words.length < want.length) throw new UsageError(`\`ctplug ${out.command}\` needs ${want.slice(words.length).join(' ')}`, out.command);
  if (words.length > want.length) throw new UsageError(`unexpected argument ${JSON.stringify(words[want.length])} for \`ctplug ${out.command}\``, out.command);
  if (out.command === 'run' && out.opts.plugin === undefined) throw new UsageError('`ctplug run` needs --plugin FILE', 'run');
  return out;
}

/** Up to three long names near `name`, the longest shared beginning first. */
function suggest(name: string): string {
  const shared = (l: string) => { let i = 0; while (i < l.length && l[i] === name[i]) i++; return i; };
  const near = [...byLong.keys()].filter((l) => l.startsWith(name.slice(0, 3)) || name.startsWith(l)).sort((a, b) => shared(b) - shared(a));
  return near.length ? ` (did you mean ${near.slice(0, 3).map((n) => `--${n}`).join(', ')}?)` : '';
}
