// Help text: one screen per command, flags generated from the option table, and examples that
// teach the common jobs. `ctplug --help` also prints the exit-code table.
import { COMMANDS, OPTIONS, type OptKey, type OptSpec } from './args.js';
import { exitTableText } from '../exit-codes.js';

const EXAMPLES: Record<string, string[]> = {
  list: [
    'ctplug list                                   # everything, as `conntrack -L` prints it',
    'ctplug list --netns blue -w 5 -o id           # zone 5 of netns "blue", with conntrack ids',
    'ctplug list -p tcp --dport 443 --state ESTABLISHED',
    'ctplug list -s 10.0.0.0/8 -m 0x10/0xff0 -o json   # NDJSON, one entry per line',
    'ctplug list -l web -o extended               # entries labelled "web" (connlabel.conf), with labels=...',
    'ctplug list -o save > table.txt              # conntrack -I lines (conntrack -L -o save); also -o xml, ktimestamp',
    'ctplug list -z                               # the counters so far, zeroed as they are listed (conntrack -L -z)',
    'ctplug list dying                            # also: list unconfirmed, list expect (conntrack -L dying|unconfirmed|expect)',
    'ctplug delete expect -s 127.0.0.1 -d 127.0.0.1 -p udp --sport 0 --dport 40069   # an expectation by its expected tuple',
  ],
  delete: [
    'ctplug delete -w 5 -p udp                     # like `conntrack -D -w 5 -p udp`',
    'ctplug delete -w 5                            # a whole zone, each deleted entry printed (conntrack -D -w 5)',
    'ctplug flush -w 5                             # the same zone in one kernel request, nothing printed (faster)',
    'ctplug delete -d 192.0.2.7 || echo "nothing to delete (exit 1)"',
  ],
  update: [
    'ctplug update -w 5 -m 0x100/0xff00                # re-stamp bits 8-15 of the mark in zone 5 (conntrack -U)',
    'ctplug update -p tcp -s 10.0.0.1 --dport 443 -t 30  # shorten the timeout of matching flows',
  ],
  events: [
    'ctplug events                                  # like conntrack -E, until Ctrl-C',
    'ctplug events -w 5 -e NEW,DESTROY -o json      # zone 5, NDJSON with an "event" field',
    'ctplug events -o timestamp,extended            # [seconds.micros] before each line, like conntrack -E -o timestamp',
    'ctplug events -p tcp --dport 443 --limit 10    # stop after 10 events',
    'ctplug events --duration 60 -o id              # one minute, then the summary line',
    'ctplug events --acct --timestamp -e DESTROY -o json   # finished flows with counters and start/stop times',
    'ctplug events -b 262144                        # a small receive buffer (like conntrack -b): overruns are reported',
  ],
  flush: ['ctplug flush                                  # the whole table (conntrack -F)', 'ctplug flush -w 7                             # only zone 7, in the kernel', 'ctplug flush -f ipv6'],
  count: ['ctplug count                                  # conntrack -C', 'ctplug count --netns blue -w 5'],
  stats: ['ctplug stats                                  # conntrack -S'],
  create: [
    'ctplug create -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 40000 --dport 443 --state ESTABLISHED -t 120 -w 5',
    'ctplug create -p udp -s 2001:db8::1 -d 2001:db8::2 --sport 5353 --dport 53 -t 30 -m 0x10',
    'ctplug create -p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 7 -t 30',
    'ctplug create -p tcp -s 10.0.0.1 -d 203.0.113.1 --sport 40000 --dport 80 --dst-nat 192.168.1.5:8080 -t 120   # DNAT, as conntrack -I',
    'ctplug create -p udp -s 2001:db8::1 -d 2001:db8::2 --sport 5353 --dport 53 --src-nat [2001:db8::7]:6000 -t 30',
    'ctplug create -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 5000 --dport 53 -t 30 --label-add 3,70   # needs connlabel room',
    'ctplug create -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 5000 --dport 53 -t 30 --orig-zone 5     # zone-orig=5',
    'ctplug list -o json > t.ndjson && ctplug create --netns standby --from t.ndjson   # NAT, labels, zones restored',
  ],
  add: ['ctplug add -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 5000 --dport 53 -t 30   # exit 0 also when it exists (conntrack -A)'],
  load: [
    'ctplug list -o save > table.txt && ctplug load table.txt --netns standby   # like conntrack -L -o save | conntrack -R -',
    'printf -- "-D -w 5 -p udp\\n-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 53 -t 30\\n" | ctplug -R -',
  ],
  get: ['ctplug get -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 40000 --dport 443 -w 5', 'ctplug get -p udp -r 10.0.0.2 -q 10.0.0.1 --reply-port-src 53 --reply-port-dst 5353'],
  'plugin inspect': ['ctplug plugin inspect dist/plugins/match.wasm', 'ctplug plugin inspect my-filter/build/my-filter.wasm -o json'],
  'plugin new': ['ctplug plugin new my-filter && cd my-filter && npm install && npm test', 'ctplug plugin new my-filter --ctplug-spec ./ctplug-0.1.0.tgz   # depend on a packed ctplug'],
  'fleet agent': [
    'ctplug fleet agent --nats nats://nats.example:4222 --nats-creds /etc/ctplug/agent.creds --policy /etc/ctplug/policy.json --metrics 127.0.0.1:9477',
    'ctplug fleet agent --nats tls://nats.example:4222 --nats-ca ca.pem --name edge-17 --netns edge1 -e NEW,DESTROY --policy policy.json',
    'ctplug fleet agent --connect /run/ctplug/ctplug.sock --nats nats://nats.example:4222 --policy /etc/ctplug/policy.json   # unprivileged: a client of ctplug daemon',
  ],
  'fleet run': [
    'ctplug fleet run --nats nats://nats.example:4222 --plugin purge-remote --config \'{"addr":"203.0.113.7"}\'',
    'ctplug fleet run --nats nats://nats.example:4222 --plugin purge-remote --config \'{"addr":"203.0.113.7","dry_run":true}\' --hosts \'edge-*\' -o json',
    'ctplug fleet run --nats nats://nats.example:4222 --plugin ./my-filter.wasm --netns edge1 --config \'{}\'   # a module pinned by sha256 in the hosts\' clients.fleet.plugins',
    'ctplug fleet run --nats nats://nats.example:4222 --plugin ./my-filter/build/my-filter.wasm --hosts edge-1,edge-2 --timeout 10',
  ],
  'fleet count': ['ctplug fleet count --nats nats://nats.example:4222 --hosts \'edge-*\''],
  'fleet stats': ['ctplug fleet stats --nats nats://nats.example:4222 -o json'],
  'fleet flows': [
    'ctplug fleet flows --nats nats://nats.example:4222                 # every host\'s finished flows, conntrack-style, until Ctrl-C',
    'ctplug fleet flows --nats nats://nats.example:4222 --hosts edge-17 -o json --count 100',
  ],
  run: [
    'ctplug --plugin dist/plugins/stale.wasm --config \'{"proto":"udp","unreplied":true,"timeout_lt":10}\' --policy policy.json',
    'ctplug --plugin ./my-filter/build/my-filter.wasm --config @cfg.json --policy policy.json --netns blue',
  ],
};

const NOTES: Record<string, string> = {
  list: 'Filters are conntrack\'s; -w, -f and -m are applied in the kernel, the rest by the list plugin,\nwhich only ever sees what the filters grant it. Prints "N flow entries have been shown." on stderr.\nAn empty list exits 0. -o labels (and any -l filter) appends labels=NAMES as conntrack does, names from\n/etc/xtables/connlabel.conf; without that file the bit numbers are printed.',
  delete: 'Runs the match plugin with action "delete", granted only the scope the filters name. Every deleted\nentry is printed (-o picks the format), as conntrack -D prints them, `delete -w Z` included; `flush -w Z`\ndeletes a zone in one kernel request and prints no entries. Nothing matched: "0 flow entries have been\ndeleted." and exit 1.',
  update: 'The filters select (the match plugin decides, granted read access to their scope); -m and -t are\nthe new values, as with conntrack -U. -m M/MASK changes only the bits in MASK. Updates go to the kernel\nmany per request, then each updated entry is printed as the kernel now has it (-o text|extended|id|json),\nas conntrack -U prints them. Nothing matched: exit 1.',
  events: 'Runs until Ctrl-C, --limit N or --duration S, then prints one summary line on stderr: events shown,\nevents delivered, overruns and resyncs. -w, -f and -m are filtered in the kernel. If the kernel drops\nevents (a burst larger than the socket buffer, -b), the overrun is reported and the subscribed scope is\nre-listed (a resync) so nothing is missed silently. Says so when the namespace\'s nf_conntrack_events is 0\n(no events at all), and, for -o json/extended, when nf_conntrack_acct / nf_conntrack_timestamp are off\n(no packet/byte counters, no start/stop times); --acct / --timestamp turn them on.',
  flush: 'Flush is done by the kernel. With -w/-f/-m only matching entries go.',
  count: 'Without filters this asks the kernel\'s counter; with -w/-f/-m it counts a filtered dump.',
  create: 'tcp/udp/sctp/dccp/udplite need --sport and --dport; a timeout (-t) is required.\ntcp defaults to --state ESTABLISHED. -r/-q give the reply tuple as is.\n'
    + '--src-nat/--dst-nat IP[:PORT] (IPv6: [ADDR]:PORT) have the kernel\'s NAT core rewrite the reply tuple, as\n'
    + 'conntrack -I does (SRC_NAT/DST_NAT set; needs nf_nat). For icmp the port is the ICMP id (conntrack ignores it).\n'
    + '--label-add sets labels; the namespace needs connlabel room (a rule using ct labels), else the entry is\n'
    + 'removed again and create fails (the kernel would keep it without labels). One zone per entry: -w, or\n'
    + 'one of --orig-zone/--reply-zone (the kernel refuses a second zone with EINVAL).\n'
    + '--from restores NAT (from the SRC_NAT/DST_NAT flags), labels and directional zones of `list -o json` records.',
  add: 'As create, but an entry with the same tuple and zone is left as it is: "0 flow entries have been added.",\nexit 0 (conntrack -A).',
  load: 'Every line is a conntrack command line of -I, -A, -U, -D or -F (quotes group words; # starts a comment).\nAll lines are read and checked first, then run in order, printing what each prints but no summary lines\n(conntrack -R). The first line that fails ends the run with its error and exit code; the lines before it\nstay done. A delete or update that matches nothing is no failure. For a bulk restore `create --from FILE`\nis faster (batched); it reads the same -I/-A lines.',
  get: 'One entry by its original tuple (-s/-d/--sport/--dport) or its reply tuple (-r/-q/--reply-port-*).\nNo such entry: exit 1.',
  'plugin inspect': 'Reads the module and its manifest (FILE.manifest.json or manifest.json next to it).',
  'plugin new': 'Creates ./NAME with the source, manifest, asconfig.json, package.json and a uvu test using the\nctplug test kit (ctplug/testkit). `npm install && npm test` there builds the plugin and passes with no edits.\nThe plugin depends on ctplug ^VERSION (this version); --ctplug-spec names anything else npm installs\n(a path is taken from the current folder).',
  'fleet agent': 'Runs in the foreground until SIGINT/SIGTERM. Publishes flowlog records to the JetStream stream CTPLUG\n'
    + '(subject ctplug.NAME.flows; -e KINDS adds ctplug.NAME.events), batched and acknowledged. While NATS is away\n'
    + 'records wait in a buffer (--nats-buffer); past it they are counted and a gap marker says how many were lost;\n'
    + 'kernel overruns become gap markers too. Answers fleet requests (ctplug.NAME.svc.run|count|stats, discoverable\n'
    + 'with `nats micro ls`) within the policy\'s clients.fleet entry: {"capabilities":{...},"netns":[...],"plugins":[...]}.\n'
    + 'A request beyond it is refused by this host. Needs what the CLI needs today (root) in direct mode.',
  'fleet run': 'Finds the hosts (NATS service discovery), asks each on its own subject, waits up to --timeout, and prints\n'
    + 'one line per host: ok (with its counts), refused (its policy said no, and why), failed, or no answer; then a\n'
    + 'total on stderr. --plugin is a first-party name, or a module file: it is sent with its sha256, which the host\'s\n'
    + 'clients.fleet.plugins must pin ("sha256:HEX"). Exit 0 when every host answered ok, 6 when some refused,\n'
    + '7 when some failed or did not answer.',
  'fleet flows': 'Reads the stream from its start and follows it (an ordered consumer: nothing is left on the server).\n'
    + 'Gap markers are printed on stderr (and as records with "gap" in -o json): records are missing there, and the\n'
    + 'marker says how many and why. -e reads the events stream instead.',
  run: 'The policy decides what the plugin may do (grant = manifest ∩ policy); asking for more is refused\nat load (exit 6). A first-party plugin (list, match, purge-remote, stale) given by name runs without\n--policy, granted what its manifest asks in the namespace.',
};

function usageLine(cmd: string): string {
  const spec = COMMANDS[cmd];
  const pos = (spec.positionals ?? []).join(' ');
  if (cmd === 'run') return 'ctplug --plugin FILE [--config JSON|@FILE] [--policy FILE] [--netns NAME]';
  return `ctplug ${cmd}${pos ? ` ${pos}` : ''}${spec.options.length ? ' [options]' : ''}`;
}

function optionLines(keys: OptKey[]): string {
  const rows = keys.map((k) => {
    const s: OptSpec = OPTIONS[k];
    const names = [s.short ? `-${s.short}` : '', ...s.long.map((l) => `--${l}`)].filter(Boolean).join(', ');
    return [`${names}${s.value ? ` ${s.value}` : ''}`, s.help];
  });
  const w = Math.min(40, Math.max(...rows.map((r) => r[0].length)) + 2);
  return rows.map(([a, b]) => `  ${a.padEnd(w)}${b}`).join('\n');
}

export function commandHelp(cmd: string): string {
  if (cmd === 'fleet') return `Usage:\n${Object.keys(COMMANDS).filter((c) => c.startsWith('fleet ')).map((c) => `  ctplug ${c} [options]    ${COMMANDS[c].summary}`).join('\n')}\n\nRun \`ctplug fleet SUBCOMMAND --help\` for each.\n`;
  if (cmd === 'plugin') return `Usage:\n  ctplug plugin inspect FILE [-o json]\n  ctplug plugin new NAME\n\n${commandHelp('plugin inspect')}\n${commandHelp('plugin new')}`;
  const spec = COMMANDS[cmd];
  const parts = [`Usage: ${usageLine(cmd)}`, '', spec.summary.charAt(0).toUpperCase() + spec.summary.slice(1) + '.'];
  if (NOTES[cmd]) parts.push('', NOTES[cmd]);
  if (spec.options.length) parts.push('', 'Options:', optionLines(spec.options));
  if (EXAMPLES[cmd]) parts.push('', 'Examples:', ...EXAMPLES[cmd].map((e) => `  ${e}`));
  parts.push('', 'Exit codes: see `ctplug --help`.');
  return parts.join('\n') + '\n';
}

export function mainHelp(version: string): string {
  const cmds = Object.entries(COMMANDS).map(([c, s]) => `  ${(c === 'run' ? '--plugin FILE' : c).padEnd(16)}${s.summary}`);
  return [
    `ctplug ${version}: Linux conntrack through a small privileged host and sandboxed WebAssembly plugins`,
    '',
    'Usage: ctplug COMMAND [options]      (conntrack\'s -L -D -U -E -F -C -S -I -G work as COMMAND too)',
    '',
    'Commands:',
    ...cmds,
    `  ${'daemon'.padEnd(16)}the privileged half: serve unprivileged clients on a Unix socket (\`ctplug daemon --help\`)`,
    '',
    'Common options: --netns NAME (run in a network namespace), -o text|extended|id|json, -h/--help,',
    '  --connect PATH (or CTPLUG_SOCKET=PATH): work through `ctplug daemon` at PATH, with no privilege of your own',
    '',
    'Examples:',
    '  sudo ctplug list -w 5 -p tcp --dport 443',
    '  sudo ctplug delete --netns blue -w 5 -p udp',
    '  sudo ctplug --plugin dist/plugins/stale.wasm --config \'{"proto":"udp","unreplied":true,"timeout_lt":10}\' --policy policy.json',
    '',
    'Exit codes:',
    exitTableText(),
    '',
    'Errors are one line on stderr: "ctplug: <what was wrong>; <what to do>".',
    'Run `ctplug COMMAND --help` for the flags and examples of each command.',
    '',
  ].join('\n');
}
