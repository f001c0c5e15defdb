// Deliberate differences: what conntrack 1.4.7 does (the oracle, checked too, so this file stays a
// true description of it) and what ctplug does instead, and why. Three kinds:
//   refused    conntrack mangles the value or does something destructive; ctplug refuses (exit 2)
//   fixed      conntrack's behaviour is a bug; ctplug does what the command says
//   extension  conntrack refuses the command line; ctplug has a use for it
// README "Differences from conntrack" is to list each of these.
import { EXIT } from '../../../host/exit-codes.js';
import { differs, type Case } from '../case.js';

const REFUSED = 'refused: conntrack reads the value with strtoul/atoi and uses whatever comes out';
const ZONE_RULE = 'zone rule: the zone of an entry is its one zone id, for both directions (CTA_ZONE) or for one tuple (CTA_TUPLE_ZONE); conntrack reads CTA_ZONE only';
const TWICE = 'refused: a flag given twice is a mistake; conntrack silently keeps the last value';
const OWN = 'ctplug prints its own help and version';
const usage = (what: RegExp) => ({ code: EXIT.USAGE, stderr: what, stdout: 'empty' as const, table: 'unchanged' as const });
const Z0 = /mark=\d+(?! zone=)( id=|$| delta)/; // a zone-0 entry (no zone= after its mark)

export const KEEP_CASES: Case[] = [
  // Values conntrack mangles: zone 65536/"abc"/-1, mark "abc", port 70000/"abc", family "ipv4x", timeout "abc".
  differs(REFUSED, 'neutron', '-L -w 65536', usage(/zone: "65536" is not a zone/), { code: 0, lines: 8, stderr: /8 flow entries have been shown/ }),
  differs(REFUSED, 'neutron', '-D -w 65536', usage(/zone: "65536" is not a zone/), { code: 0, drops: Z0, keeps: /zone=/ }),
  differs(REFUSED, 'neutron', '-L -w abc', usage(/zone: "abc" is not a zone/), { code: 0, lines: 8 }),
  differs(REFUSED, 'neutron', '-L -w -1', usage(/zone: "-1" is not a zone/), { code: 0, stdout: /zone=65535/, lines: 8 }),
  differs(REFUSED, 'mix', '-D -m abc', usage(/mark: "abc"/), { code: 0, drops: / mark=0\b/, keeps: / mark=[1-9]/ }),
  differs(REFUSED, 'mix', '-L -m abc', usage(/mark: "abc"/), { code: 0, stdout: / mark=0\b/ }),
  differs(REFUSED, 'mix', '-L -p tcp --dport 70000', usage(/destination port: "70000" is not a port/), { code: 0, lines: 0 }),
  differs(REFUSED, 'mix', '-D -p tcp --dport 70000', usage(/destination port: "70000" is not a port/), { code: 1, stderr: /0 flow entries have been deleted/ }),
  differs(REFUSED, 'mix', '-L -p tcp --dport abc', usage(/destination port: "abc" is not a port/), { code: 0 }),
  differs(REFUSED, 'mix', '-L -f ipv4x', usage(/family: "ipv4x" is not a family/), { code: 0, stdout: /src=10\.0\.0\.1 / }),
  differs(REFUSED, 'empty', '-I -p udp -s 10.80.0.1 -d 10.80.1.1 --sport 1 --dport 2 -t 100 -w 65536', usage(/zone: "65536"/), { code: 0, tableHas: /src=10\.80\.0\.1 .*mark=0$/ }),
  differs(REFUSED, 'empty', '-I -p udp -s 10.80.0.1 -d 10.80.1.1 --sport 70000 --dport 2 -t 100', usage(/source port: "70000"/), { code: 0, tableHas: /sport=4464 / }),
  differs(REFUSED, 'empty', '-I -p udp -s 10.80.0.1 -d 10.80.1.1 --sport 1 --dport 2 -t abc', usage(/timeout: "abc"/), { code: 0 }),
  differs('refused: an update with no new value is a mistake (conntrack -U finds every entry unchanged and exits 1)', 'zone0', '-U -s 10.0.0.2',
    usage(/update needs the new value/), { code: 1, stderr: /0 flow entries have been updated/, table: 'unchanged' }),
  differs('extension: --label-add and --label-del in one update (conntrack: "cannot use --label-add and --label-del at the same time")', 'labels', '-U -s 10.6.0.2 --label-add web --label-del db',
    { code: EXIT.OK, tableHas: /src=10\.6\.0\.2 .*labels=web$/ }, { code: 1, table: 'unchanged' }),
  differs('fixed: conntrack -U without an address or -f fails with EOPNOTSUPP (AF_UNSPEC); ctplug updates', 'labels', '-U -l web --label-del web',
    { code: EXIT.OK, stderr: /2 flow entries have been updated/, tableHas: /src=10\.6\.0\.2 .*labels=db$/ }, { code: 1, stderr: /Operation not supported/, table: 'unchanged' }),
  differs(REFUSED, 'empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 -w 3 --orig-zone 4', usage(/-w 3 cannot be combined with --orig-zone/), { code: 1, stderr: /invalid parameters/ }),
  // Destructive: delete with no filter, -D -u UNREPLIED, -F -f (the whole table on this kernel).
  differs('refused: `delete` with no filter would empty the table; that is `flush`', 'mix', '-D', usage(/delete needs a filter/), { code: 0, drops: /./ }),
  differs('fixed: conntrack -D -u UNREPLIED deletes every entry (its status filter is empty); ctplug deletes the unreplied ones', 'mix', '-D -u UNREPLIED',
    { code: EXIT.OK, stderr: /26 flow entries have been deleted/, drops: /\[UNREPLIED\]/, keeps: /dport=\d+ src=.*(SEEN|ASSURED|mark)/ }, { code: 0, stderr: /29 flow entries have been deleted/, drops: /./ }),
  differs('fixed: conntrack -F -f ipv6 empties the whole table (the family is not honoured with nfgenmsg version 0); ctplug flushes that family', 'mix', '-F -f ipv6',
    { code: EXIT.OK, stderr: /emptied \(ipv6\)/, drops: /src=[0-9a-f]*:/, keeps: /src=\d+\.\d+\.\d+\.\d+ / }, { code: 0, drops: /./ }),
  differs('fixed: conntrack -F -f ipv4 empties the whole table; ctplug flushes that family', 'mix', '-F -f ipv4',
    { code: EXIT.OK, stderr: /emptied \(ipv4\)/, drops: /src=\d+\.\d+\.\d+\.\d+ /, keeps: /src=[0-9a-f]*:/ }, { code: 0, drops: /./ }),
  // conntrack -U: -u overwrites the new mark with the status bits; zoned entries are updated in zone 0.
  differs('fixed: conntrack -U -m M -u BITS sets the mark to BITS (its -u reuses the mark template); ctplug sets both', 'zone0', '-U -s 10.0.0.1 -m 1 -u ASSURED',
    { code: EXIT.OK, tableHas: /src=10\.0\.0\.1 .*\[ASSURED\] mark=1$/ }, { code: 0, tableHas: /src=10\.0\.0\.1 .*\[ASSURED\] mark=4$/ }),
  differs('fixed: conntrack -U sends the update without the zone, so each zoned match re-updates the zone-0 entry; ctplug updates every match in its zone', 'neutron', '-U -d 192.168.1.30 -m 5',
    { code: EXIT.OK, stderr: /5 flow entries have been updated/, tableHas: /dport=80 .*mark=5 zone=65535/ }, { code: 0, tableHas: /dport=80 .*mark=0 zone=65535/ }),
  differs('fixed: as above, with -p', 'neutron', '-U -p tcp -d 192.168.1.30 -m 5',
    { code: EXIT.OK, stderr: /5 flow entries have been updated/, tableHas: /dport=80 .*mark=5 zone=2/ }, { tableHas: /dport=80 .*mark=0 zone=2/ }),
  // Extensions: conntrack refuses these command lines.
  differs('extension: get by the reply tuple (conntrack: "invalid parameters")', 'mix', '-G -p tcp -r 198.51.100.1 -q 10.0.0.4 --reply-port-src 443 --reply-port-dst 40003',
    { code: EXIT.OK, stdout: /src=10\.0\.0\.4 /, lines: 1 }, { code: 1 }),
  differs('extension: get in a zone (conntrack -G takes no -w)', 'neutron', '-G -p udp -s 192.168.1.10 -d 192.168.1.20 --sport 5000 --dport 53 -w 2',
    { code: EXIT.OK, stdout: /zone=2/, lines: 1 }, { code: 2, stderr: /Illegal option `--zone'/ }),
  differs('extension: count one zone (conntrack -C takes no filter)', 'mix', '-C -w 5', { code: EXIT.OK, stdout: /^4\n$/ }, { code: 2 }),
  differs('extension: flush one zone (conntrack -F takes no -w)', 'mix', '-F -w 5', { code: EXIT.OK, drops: /zone=5/, keeps: Z0 }, { code: 2, table: 'unchanged' }),
  differs('extension: flush by mark (conntrack -F takes no -m)', 'mix', '-F -m 1', { code: EXIT.OK, drops: / mark=1$/, keeps: / mark=(0|[2-9]|\d\d+)$/ }, { code: 2, table: 'unchanged' }),
  differs('extension: update one zone (conntrack -U takes no -w)', 'mix', '-U -w 5 -m 3', { code: EXIT.OK, stderr: /4 flow entries have been updated/, tableHas: /mark=3 zone=5/ }, { code: 2, table: 'unchanged' }),
  differs('extension: -o json (NDJSON, one entry per line)', 'mix', '-L -o json', { code: EXIT.OK, stdout: /^\{"/, lines: 29 }, { code: 2, stderr: /Bad parameter `json'/ }),
  differs('extension: CIDR on reply addresses (conntrack: "CIDR notation unavailable")', 'mix', '-L -r 198.51.100.0/24', { code: EXIT.OK, lines: 23 }, { code: 2, stderr: /CIDR notation unavailable/ }),
  differs('extension: CIDR on reply addresses', 'mix', '-D -q 10.0.1.0/24', { code: EXIT.OK, stderr: /6 flow entries have been deleted/ }, { code: 2 }),
  differs('extension: label bit numbers besides connlabel.conf names', 'labels', '-L -l 1', { code: EXIT.OK, lines: 2 }, { code: 2, stderr: /unknown label '1'/ }),
  differs('extension: label bit numbers', 'labels', '-I -p udp -s 10.6.0.8 -d 10.6.1.1 --sport 1 --dport 2 -t 100 --label-add 5', { code: EXIT.OK, tableHas: /src=10\.6\.0\.8 .*labels=blue/ }, { code: 2 }),
  differs('extension: create defaults a TCP state (ESTABLISHED); conntrack requires --state', 'empty', '-I -p tcp -s 10.30.0.1 -d 10.30.1.1 --sport 1 --dport 2 -t 100',
    { code: EXIT.OK, tableHas: /ESTABLISHED src=10\.30\.0\.1 / }, { code: 2, stderr: /--state/ }),
  differs('extension: create defaults an ICMP echo request; conntrack requires --icmp-type', 'empty', '-I -p icmp -s 10.30.0.1 -d 10.30.1.1 --icmp-code 0 -t 100',
    { code: EXIT.OK, tableHas: /type=8 code=0 id=0/ }, { code: 2, stderr: /--icmp-type/ }),
  differs('extension: protocol fields before -p (conntrack knows --sport only once -p tcp loaded its extension)', 'mix', '--sport 40001 -p tcp -L',
    { code: EXIT.OK, lines: 1 }, { code: 2, stderr: /unknown option `--sport'/ }),
  differs(TWICE, 'mix', '-L -s 10.0.0.1 -s 10.0.0.2', usage(/-s\/--src given twice/), { code: 0, lines: 1, stdout: /src=10\.0\.0\.2 / }),
  differs(TWICE, 'mix', '-L -p tcp --sport 443 --dport 443 -p udp', usage(/-p\/--proto given twice/), { code: 0 }),
  differs('refused: -t in a delete is no filter a script means (conntrack compares it with the ticking timeout, so nothing matches)', 'mix', '-D -s 10.0.0.1 -t 5',
    usage(/-t is not an option of `ctplug delete`/), { code: 1, table: 'unchanged' }),
  differs(OWN, 'mix', '-h', { code: EXIT.OK, stdout: /Usage|usage/ }, { code: 0, stdout: /Usage: conntrack/ }),
  differs(OWN, 'mix', '--help', { code: EXIT.OK, stdout: /Usage|usage/ }, { code: 0, stdout: /Usage: conntrack/ }),
  differs(`${OWN}; with no command it is a usage error (help on stderr, exit 2), where conntrack prints its help and exits 0`, 'mix', '',
    { code: EXIT.USAGE, stderr: /ctplug/, stdout: 'empty' }, { code: 0, stdout: /Usage: conntrack/ }),
  differs(OWN, 'mix', '-h -p sctp', { code: EXIT.OK, stdout: /Usage|usage/ }, { code: 0, stdout: /Proto `sctp' help:/ }),
  differs(OWN, 'mix', '--version', { code: EXIT.OK, stdout: /^ctplug v\d/ }, { code: 0, stdout: /^conntrack v1\.4\.7 \(conntrack-tools\)$/m }),
  // The zone rule (decided: every verb agrees on it).
  differs(ZONE_RULE, 'dirzone', '-L -w 0', { code: EXIT.OK, lines: 1, stdout: /src=10\.7\.0\.4 / }, { code: 0, lines: 4 }),
  differs(ZONE_RULE, 'dirzone', '-D -w 0 -p udp', { code: EXIT.OK, stderr: /1 flow entries have been deleted/, drops: /src=10\.7\.0\.4 /, keeps: /zone-/ }, { code: 0, stderr: /3 flow entries have been deleted/ }),
  differs(ZONE_RULE, 'dirzone', '-L -w 7', { code: EXIT.OK, lines: 3, stdout: /zone-orig=7 / }, { code: 0, lines: 1, stdout: / zone=7 / }),
  differs(ZONE_RULE, 'dirzone', '-L -w 8', { code: EXIT.OK, lines: 2, stdout: /src=10\.7\.0\.5 / }, { code: 0, lines: 1 }),
  differs(ZONE_RULE, 'dirzone', '-L -w 8 -p tcp', { code: EXIT.OK, lines: 1, stdout: /src=10\.7\.0\.5 .*zone-orig=8 / }, { code: 0, lines: 0 }),
  // conntrack reads --orig-zone 7 into the tuple zone and -w 7 into CTA_ZONE: no entry has both
  differs(ZONE_RULE, 'dirzone', '-L -w 7 --orig-zone 7', { code: EXIT.OK, lines: 1, stdout: /src=10\.7\.0\.1 / }, { code: 0, lines: 0 }),
  differs(ZONE_RULE, 'dirzone', '-D -w 8 -p tcp', { code: EXIT.OK, lines: 1, stderr: /1 flow entries have been deleted/, drops: /src=10\.7\.0\.5 /, keeps: /src=10\.7\.0\.[12346] / },
    { code: 1, stderr: /0 flow entries have been deleted/, table: 'unchanged' }),
  differs(`${ZONE_RULE} (and -U -w is an extension: conntrack -U takes no zone)`, 'dirzone', '-U -w 7 -m 1',
    { code: EXIT.OK, stderr: /3 flow entries have been updated/, tableHas: /zone-orig=7 .*mark=1$/ }, { code: 2, stderr: /Illegal option `--zone'/, table: 'unchanged' }),
  differs(ZONE_RULE, 'dirzone', '-E -w 7', { code: EXIT.OK, lines: 2, stderr: /2 flow events have been shown/ }, { code: 0, lines: 1, stderr: /1 flow events have been shown/ },
    { events: ['-I -p udp -s 10.7.9.1 -d 10.7.1.1 --sport 1 --dport 2 -t 60 --orig-zone 7', '-I -p udp -s 10.7.9.2 -d 10.7.1.1 --sport 1 --dport 2 -t 60 -w 7'] }),
  differs(ZONE_RULE, 'dirzone', '-D -w 7', { code: EXIT.OK, lines: 3, stderr: /3 flow entries have been deleted/, drops: /src=10\.7\.0\.[123] /, keeps: /src=10\.7\.0\.[456] / },
    { code: 0, lines: 1, stderr: /1 flow entries have been deleted/, drops: /src=10\.7\.0\.3 /, keeps: /src=10\.7\.0\.[12456] / }),
  differs(ZONE_RULE, 'dirzone', '-D -w 8', { code: EXIT.OK, lines: 2, stderr: /2 flow entries have been deleted/, drops: /src=10\.7\.0\.[56] /, keeps: /src=10\.7\.0\.[1234] / },
    { code: 0, lines: 1, drops: /src=10\.7\.0\.6 /, keeps: /src=10\.7\.0\.[12345] / }),
  differs(ZONE_RULE, 'dirzone', '-D -w 0', { code: EXIT.OK, lines: 1, stdout: /src=10\.7\.0\.4 /, drops: /src=10\.7\.0\.4 /, keeps: /src=10\.7\.0\.[12356] / },
    { code: 0, lines: 4, drops: /src=10\.7\.0\.[1245] /, keeps: /src=10\.7\.0\.[36] / }),
];
