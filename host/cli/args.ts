// The command-line parser: hand-written, no dependency, strict. An unknown flag, a flag given
// twice, a flag the command does not take, or a flag without its value is a UsageError (exit 2).
// Values are only checked for presence here; their meaning is validated by host/conntrack/validate.ts
// when the command runs, so there is exactly one place that decides what a valid zone is.
//
// Accepted forms: `--zone 5`, `--zone=5`, `-w 5`, `-w5`, and any unambiguous beginning of a long
// name (`--zo 5`), read as conntrack's getopt_long reads it (getopt.ts). conntrack's commands work
// too: `ctplug -L -w 5` and `ctplug --dump -w 5` are `ctplug list -w 5`, and the table word after
// them (`-L expect`) is read as conntrack reads it (any beginning of conntrack, expect, dying or
// unconfirmed). A value that may be left out (`-n [ADDR]`, `--label-del [LABELS]`) is the next word
// unless it starts with - or !, as conntrack takes it.
// The filter flags (-w, -p, -s, --dport, ...) are rows of sdk/filters.json (filter-table.ts): their
// spellings, help and the commands that take them come from there; the other options are here.
import { FLAG_ROWS, filterFlags, type FilterOpt } from './filter-table.js';
import { resolveLong } from './getopt.js';

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
  /** The value may be left out (then it is ""): the next word is taken only if it does not start with - or !. */
  optional?: boolean;
  /** Given more than once, the values are joined with commas (conntrack merges repeated -l). */
  merge?: boolean;
  help: string;
}

/** The options that are not filter keys: new values, output, plugin and event options. */
const OTHER_OPTIONS = {
  labelAdd: { long: ['label-add'], value: 'LABELS', help: 'create/update: connection labels to set or add, comma separated bit numbers 0..127 (or names from /etc/xtables/connlabel.conf)' },
  labelDel: { long: ['label-del'], value: '[LABELS]', optional: true, help: 'update: connection labels to remove (bit numbers or names); alone, every label' },
  timeout: { short: 't', long: ['timeout'], value: 'SECONDS', help: 'timeout in seconds' },
  maskSrc: { long: ['mask-src'], value: 'NETMASK', help: 'filter: the netmask of -s (-s 10.0.0.0 --mask-src 255.255.255.0 is -s 10.0.0.0/24), as conntrack; create expect: the mask of --tuple-src' },
  maskDst: { long: ['mask-dst'], value: 'NETMASK', help: 'filter: the netmask of -d, as conntrack; create expect: the mask of --tuple-dst' },
  natRange: { short: 'a', long: ['nat-range'], value: 'RANGE', help: 'create: ignored with a warning (deprecated in conntrack; use --src-nat/--dst-nat)' },
  tupleSrc: { long: ['tuple-src'], value: 'ADDR', help: 'create expect: source address of the expected flow' },
  tupleDst: { long: ['tuple-dst'], value: 'ADDR', help: 'create expect: destination address of the expected flow' },
  tuplePortSrc: { long: ['tuple-port-src'], value: 'PORT', help: 'create expect: source port of the expected flow' },
  tuplePortDst: { long: ['tuple-port-dst'], value: 'PORT', help: 'create expect: destination port of the expected flow' },
  maskPortSrc: { long: ['mask-port-src'], value: 'PORT', help: 'create expect: mask of --tuple-port-src' },
  maskPortDst: { long: ['mask-port-dst'], value: 'PORT', help: 'create expect: mask of --tuple-port-dst' },
  zero: { short: 'z', long: ['zero'], help: 'list: zero the counters of the entries listed (they show the counts until then); no filter but -f' },
  origVtag: { long: ['orig-vtag'], value: 'TAG', help: 'create: SCTP verification tag of the original direction (u32)' },
  replyVtag: { long: ['reply-vtag'], value: 'TAG', help: 'create: SCTP verification tag of the reply direction (u32)' },
  role: { long: ['role'], value: 'ROLE', help: 'create: DCCP role, client or server (kernels without a DCCP tracker ignore it)' },
  from: { long: ['from'], value: 'FILE|-', help: 'create many: conntrack -I lines or `ctplug list -o json` NDJSON, from FILE or stdin (-)' },
  toZone: { long: ['to-zone'], value: 'ZONE', help: 'with --from: create every entry in this zone instead' },
  dryRun: { long: ['dry-run'], help: 'with --from: validate every line, create nothing' },
  eventMask: { short: 'e', long: ['event-mask'], value: 'KINDS', help: 'events to show: NEW,UPDATES,DESTROY or ALL, or any beginning of them (default all)' },
  // --count is conntrack's --counter (getopt reads it as a prefix): the events limit is --limit only
  limit: { long: ['limit'], value: 'N', help: 'stop after N events (ctplug extension; it was --count, which now means conntrack\'s --counter)' },
  duration: { long: ['duration'], value: 'SECONDS', help: 'stop after SECONDS (ctplug extension)' },
  bufferSize: { short: 'b', long: ['buffer-size'], value: 'BYTES', help: 'event socket receive buffer (default 128 MiB; like conntrack -b)' },
  acct: { long: ['acct'], help: 'turn on nf_conntrack_acct in the namespace (packet/byte counters, for flows created from now on)' },
  timestamp: { long: ['timestamp'], help: 'turn on nf_conntrack_timestamp in the namespace (flow start/stop times, for flows created from now on)' },
  output: { short: 'o', long: ['output'], value: 'FORMAT', help: 'conntrack\'s formats, comma separated (any beginning of a name): extended, id, labels, xml, save, ktimestamp, timestamp, userspace; or json (NDJSON)' },
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
  version: { short: 'V', long: ['version'], help: 'print the version' },
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

/** What create (and add) set besides the tuple. */
const CREATE_VALUES: OptKey[] = ['origZone', 'replyZone', 'timeout', 'state', 'origVtag', 'replyVtag', 'role', 'mark', 'status', 'srcNat', 'dstNat', 'labelAdd', 'natRange'];

/** Filters too, read with -s/-d (host/cli/filter.ts folds them into the address). */
const NETMASK_FLAGS: OptKey[] = ['maskSrc', 'maskDst'];

/** How ctplug reaches NATS (fleet commands). */
const NATS_AUTH: OptKey[] = ['natsCreds', 'natsNkey', 'natsCa', 'natsCert', 'natsKey'];

export interface CommandSpec {
  options: OptKey[];
  /** Positional arguments, by name, all required. */
  positionals?: string[];
  summary: string;
}

export const COMMANDS: Record<string, CommandSpec> = {
  list: { options: [...filterFlags('list'), ...NETMASK_FLAGS, 'zero', 'output', 'netns'], summary: 'list entries (conntrack -L), through the first-party list plugin' },
  delete: { options: [...filterFlags('delete'), ...NETMASK_FLAGS, 'output', 'netns'], summary: 'delete matching entries (conntrack -D), through the match plugin' },
  // -m, -u and --state are new values here, not filters (sdk/filters.json does not list update for them).
  update: { options: [...filterFlags('update'), ...NETMASK_FLAGS, 'mark', 'timeout', 'status', 'state', 'labelAdd', 'labelDel', 'output', 'netns'], summary: 'set the mark, timeout, status bits, labels or TCP state of matching entries (conntrack -U)' },
  events: { options: [...filterFlags('events'), ...NETMASK_FLAGS, 'eventMask', 'limit', 'duration', 'bufferSize', 'acct', 'timestamp', 'output', 'netns'], summary: 'show conntrack events as they happen (conntrack -E), through the events plugin' },
  flush: { options: [...filterFlags('flush'), 'netns'], summary: 'delete everything, or one zone/family/mark, in the kernel (conntrack -F)' },
  count: { options: [...filterFlags('count'), 'netns'], summary: 'count entries (conntrack -C)' },
  stats: { options: ['netns'], summary: 'per-CPU statistics (conntrack -S)' },
  create: { options: [...TUPLE, ...CREATE_VALUES, 'from', 'toZone', 'dryRun', 'netns'], summary: 'create entries (conntrack -I), one from flags or many with --from' },
  get: { options: [...TUPLE, 'state', 'output', 'netns'], summary: 'show one entry by its tuple (conntrack -G)' },
  add: { options: [...TUPLE, ...CREATE_VALUES, 'netns'], summary: 'create one entry, and leave an existing one alone (conntrack -A)' },
  load: { options: ['netns'], positionals: ['FILE'], summary: 'run the conntrack -I/-A/-D/-U/-F lines of FILE (- for stdin) in order (conntrack -R)' },
  'plugin inspect': { options: ['output'], positionals: ['FILE'], summary: 'ABI, imports, exports, capabilities, limits and sha256 of a plugin' },
  'plugin new': { options: ['ctplugSpec'], positionals: ['NAME'], summary: 'scaffold a plugin folder that builds and passes its test' },
  run: { options: ['plugin', 'config', 'policy', 'netns'], summary: 'run any plugin: ctplug --plugin FILE [--config JSON|@file] [--policy FILE]' },
  'fleet agent': { options: ['nats', 'name', 'policy', 'netns', 'metrics', 'census', 'eventMask', 'natsBuffer', ...NATS_AUTH], summary: 'the fleet agent of this host: flows (and chosen events) to JetStream, fleet requests, /metrics' },
  'fleet run': { options: ['nats', 'plugin', 'config', 'hosts', 'netns', 'timeout', 'output', ...NATS_AUTH], summary: 'run a plugin on every host of the fleet (each host\'s policy decides), one line per host' },
  'fleet count': { options: ['nats', 'hosts', 'netns', 'timeout', 'output', ...NATS_AUTH], summary: 'entries on every host, in what each host lets the fleet read' },
  'fleet stats': { options: ['nats', 'hosts', 'timeout', 'output', ...NATS_AUTH], summary: 'each host\'s agent: publishing, buffers, gaps' },
  'fleet flows': { options: ['nats', 'hosts', 'output', 'limit', 'duration', 'eventMask', ...NATS_AUTH], summary: 'tail the fleet\'s flow records (or events, with -e) from JetStream: NDJSON or conntrack-style text' },
};

/** The `fleet` subcommands. */
export const FLEET_COMMANDS = ['agent', 'run', 'count', 'stats', 'flows'];

/** The tuple of an expectation's commands (get, delete: the expected flow; create: the master flow). */
const EXPECT_TUPLE: OptKey[] = ['family', 'proto', 'src', 'dst', 'replySrc', 'replyDst', 'sport', 'dport', 'replySport', 'replyDport', 'icmpType', 'icmpCode', 'icmpId', 'netns'];

/** What each command takes on the expectation table (`list expect`, conntrack -L expect; conntrack's own table of options). */
export const EXPECT_OPTIONS: Record<string, OptKey[]> = {
  list: ['family', 'output', 'netns'],
  get: EXPECT_TUPLE,
  delete: EXPECT_TUPLE,
  create: [...EXPECT_TUPLE, 'timeout', 'tupleSrc', 'tupleDst', 'maskSrc', 'maskDst', 'tuplePortSrc', 'tuplePortDst', 'maskPortSrc', 'maskPortDst'],
  events: ['output', 'netns'],
  flush: ['netns'],
  count: ['netns'],
  stats: ['netns'],
};

/** conntrack's commands: the letter, the long name, and the ctplug command each is. */
export const COMMAND_FLAGS: readonly { short: string; long: string; command: string }[] = [
  { short: 'L', long: 'dump', command: 'list' },
  { short: 'I', long: 'create', command: 'create' },
  { short: 'A', long: 'add', command: 'add' },
  { short: 'D', long: 'delete', command: 'delete' },
  { short: 'U', long: 'update', command: 'update' },
  { short: 'G', long: 'get', command: 'get' },
  { short: 'F', long: 'flush', command: 'flush' },
  { short: 'E', long: 'event', command: 'events' },
  { short: 'C', long: 'counter', command: 'count' },
  { short: 'S', long: 'stats', command: 'stats' },
  { short: 'R', long: 'load-file', command: 'load' },
];

/** conntrack's tables; a command word may be followed by one (any beginning of its name). */
export const TABLES = ['conntrack', 'expect', 'dying', 'unconfirmed'] as const;
export type Table = (typeof TABLES)[number];
/** The commands conntrack gives a table argument. */
const TABLE_COMMANDS = new Set(['list', 'get', 'delete', 'create', 'events', 'flush', 'count', 'stats']);

/** A long name stands for an option or a command. */
type LongKey = OptKey | { command: string; short: string };
const byLong = new Map<string, LongKey>();
const byShort = new Map<string, OptKey>();
for (const [key, spec] of Object.entries(OPTIONS) as [OptKey, OptSpec][]) {
  for (const l of spec.long) byLong.set(l, key);
  if (spec.short) byShort.set(spec.short, key);
}
const LETTERS = new Map(COMMAND_FLAGS.map((c) => [c.short, c]));
for (const c of COMMAND_FLAGS) byLong.set(c.long, { command: c.command, short: c.short });

export function flagName(key: OptKey): string {
  const s: OptSpec = OPTIONS[key];
  return s.short ? `-${s.short}/--${s.long[0]}` : `--${s.long[0]}`;
}

export interface Parsed {
  /** 'list', 'plugin inspect', 'run', ...; undefined when only global flags were given. */
  command?: string;
  /** The table after the command word (conntrack's -L expect, ...); undefined: the conntrack table. */
  table?: Table;
  positionals: string[];
  opts: Opts;
  help: boolean;
  version: boolean;
}

/** Does this token look like a flag rather than a value? Negative numbers are values. */
const looksLikeFlag = (t: string) => t.length > 1 && t.startsWith('-') && !/^-\d/.test(t);
/** conntrack's get_optional_arg: an optional value is the next word unless it starts with - or !. */
const optionalValue = (t: string | undefined) => t !== undefined && !t.startsWith('-') && !t.startsWith('!');

export function parseArgs(argv: string[]): Parsed {
  const out: Parsed = { positionals: [], opts: {}, help: false, version: false };
  const words: string[] = [];
  const seen = new Map<OptKey, string>();
  /** The command given as a flag (-L, --dump), as spelled. */
  let commandFlag: string | undefined;

  const set = (key: OptKey, spelled: string, value: string | undefined) => {
    if (key === 'help') return void (out.help = true);
    if (key === 'version') return void (out.version = true);
    const spec: OptSpec = OPTIONS[key];
    if (!('value' in spec)) {
      if (seen.has(key)) throw new UsageError(`${flagName(key)} given twice`);
      seen.set(key, spelled);
      out.opts[key] = 'true';
      return;
    }
    if (value === undefined) throw new UsageError(`${spelled} needs a value (${spec.value})`);
    if (seen.has(key)) {
      if (spec.merge) return void (out.opts[key] = `${out.opts[key]},${value}`);
      throw new UsageError(`${flagName(key)} given twice (${seen.get(key)} and ${spelled})`);
    }
    seen.set(key, spelled);
    out.opts[key] = value;
  };
  const command = (c: { command: string; short: string }, spelled: string) => {
    if (commandFlag !== undefined) throw twoCommands(commandFlag, spelled);
    commandFlag = spelled;
    words.unshift(c.command);
  };

  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    const next = (): string | undefined => {
      const v = argv[i + 1];
      if (v === undefined || looksLikeFlag(v)) return undefined;
      i++;
      return v;
    };
    const maybe = (): string => (optionalValue(argv[i + 1]) ? argv[++i] : '');
    if (tok === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const word = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      const r = resolveLong(word, byLong);
      if ('ambiguous' in r) throw new UsageError(`--${word} is ambiguous: it begins ${r.ambiguous.map((n) => `--${n}`).join(', ')}`);
      if ('unknown' in r) throw new UsageError(`unknown option --${word}${suggest(word)}`);
      const { key, name } = r;
      if (typeof key === 'object') {
        if (eq >= 0) throw new UsageError(`--${name} takes no value`);
        command(key, `--${name}`);
        continue;
      }
      const spec: OptSpec = OPTIONS[key];
      const takesValue = 'value' in spec;
      if (!takesValue && eq >= 0) throw new UsageError(`--${name} takes no value`);
      set(key, `--${name}`, !takesValue ? undefined : eq >= 0 ? tok.slice(eq + 1) : spec.optional ? maybe() : next());
      continue;
    }
    if (tok.length > 1 && tok.startsWith('-') && !/^-\d/.test(tok)) {
      const letter = tok[1];
      const cmd = LETTERS.get(letter);
      if (cmd && tok.length === 2) {
        command(cmd, tok);
        continue;
      }
      const key = byShort.get(letter);
      if (!key) throw new UsageError(`unknown option -${letter}`);
      const spec: OptSpec = OPTIONS[key];
      if (!('value' in spec)) {
        if (tok.length > 2) throw new UsageError(`-${letter} takes no value (got ${tok})`);
        set(key, `-${letter}`, undefined);
      } else {
        set(key, `-${letter}`, tok.length > 2 ? tok.slice(2) : spec.optional ? maybe() : next());
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
  if (commandFlag !== undefined && words.length && (COMMANDS[words[0]] || words[0] === 'plugin')) {
    throw twoCommands(commandFlag, words[0]);
  }
  out.positionals = words;
  if (!out.command || out.help) return out;

  const spec = COMMANDS[out.command];
  if (out.command === 'run' && out.opts.plugin === undefined && words.length === 1) {
    out.opts.plugin = words.shift(); // `ctplug run FILE`
  }
  const want = spec.positionals ?? [];
  if (words.length > want.length && TABLE_COMMANDS.has(out.command)) out.table = tableOf(words.shift()!, out.command);
  const options = out.table === 'expect' ? EXPECT_OPTIONS[out.command] : spec.options;
  for (const key of seen.keys()) {
    if (!options.includes(key)) {
      throw new UsageError(`${seen.get(key)} is not an option of \`ctplug ${out.command}${out.table === 'expect' ? ' expect' : ''}\``, out.command);
    }
  }
  if (words.length < want.length) throw new UsageError(`\`ctplug ${out.command}\` needs ${want.slice(words.length).join(' ')}`, out.command);
  if (words.length > want.length) throw new UsageError(`unexpected argument ${JSON.stringify(words[want.length])} for \`ctplug ${out.command}\``, out.command);
  if (out.command === 'run' && out.opts.plugin === undefined) throw new UsageError('`ctplug run` needs --plugin FILE', 'run');
  return out;
}

function twoCommands(a: string, b: string): UsageError {
  // `ctplug events --count N` was the events limit; --count is conntrack's --counter now
  const hint = [a, b].includes('events') && [a, b].includes('--counter') ? ' (--count is conntrack\'s --counter, -C; to stop events after N use --limit N)' : '';
  return new UsageError(`two commands given (${a} and ${b}): give one${hint}`);
}

/** A table named as conntrack takes it: any beginning of its name (`-L exp`). */
function tableOf(word: string, command: string): Table {
  const t = TABLES.find((name) => word.length > 0 && name.startsWith(word));
  if (!t) throw new UsageError(`unknown table ${JSON.stringify(word)}: use conntrack, expect, dying or unconfirmed`, command);
  return t;
}

/** Up to three long names near `name`, the longest shared beginning first. */
function suggest(name: string): string {
  const shared = (l: string) => { let i = 0; while (i < l.length && l[i] === name[i]) i++; return i; };
  const near = [...byLong.keys()].filter((l) => l.startsWith(name.slice(0, 3)) || name.startsWith(l)).sort((a, b) => shared(b) - shared(a));
  return near.length ? ` (did you mean ${near.slice(0, 3).map((n) => `--${n}`).join(', ')}?)` : '';
}
