// Every filter flag of conntrack 1.4.7 (addresses and CIDR, protocol and family, ports, marks and
// masks, status bits, TCP states, zones, ICMP fields, masks of addresses), crossed with the
// commands that filter: list, delete, update (with a new mark) and events.
import { differs, sameOrTodo, type Case, type Item } from '../case.js';
import { EXIT } from '../../../host/exit-codes.js';
import { TCP_STATES } from '../seeds.js';

/** [filter, the issue-16 item it belongs to while it is not at parity]. */
export const FILTERS: [string, Item?][] = [
  ['-s 10.0.0.1'], ['-s 10.0.0.0/24'], ['-s 10.0.0.5/24'], ['-s 10.0.0.0/30'], ['-d 198.51.100.53'], ['-d 198.51.100.0/24'],
  ['-r 198.51.100.1'], ['-q 10.0.1.2'], ['-s 10.0.0.1 -d 198.51.100.1'], ['-r 198.51.100.53 -q 10.0.1.3'],
  ['-s 2001:db8::1'], ['-s 2001:db8::/64'], ['-s 2001:db8::7/64'], ['-d 2001:db8:ffff::53'], ['-r 2001:db8:ffff::53'], ['-q 2001:db8::2'],
  ['--src 10.0.0.2'], ['--orig-src 10.0.0.2'], ['--dst 198.51.100.1'], ['--orig-dst 198.51.100.1'], ['--reply-src 198.51.100.1'], ['--reply-dst 10.0.0.3'],
  ['-p tcp'], ['-p udp'], ['-p icmp'], ['-p icmpv6'], ['-p 6'], ['-p 17'], ['-p TCP'], ['--protonum udp'],
  ['-f ipv4'], ['-f ipv6'], ['-f ipv6 -p udp'], ['-f ipv4 -p tcp'],
  ['-p tcp --dport 443'], ['-p tcp --sport 40001'], ['-p udp --dport 53'], ['-p tcp --reply-port-src 80'], ['-p udp --reply-port-dst 50002'],
  ['-p tcp --orig-port-dst 22'], ['-p tcp --orig-port-src 40000'], ['-p tcp -s 10.0.0.1 -d 198.51.100.1 --sport 40000 --dport 443'],
  ['-m 1'], ['-m 0x100'], ['-m 0x200/0xf00'], ['-m 16'], ['-m 0'], ['-m 4294901999'], ['-m 0x7/0x7'], ['-m 0/0xffff0000'], ['--mark 1'],
  ['-u ASSURED'], ['-u SEEN_REPLY'], ['-u UNREPLIED'], ['-u ASSURED,SEEN_REPLY'], ['-u SEEN_REPLY -p udp'], ['--status ASSURED'],
  ...TCP_STATES.map((s): [string] => [`-p tcp --state ${s}`]),
  ['-p tcp --state LISTEN'],
  ['-w 5'], ['-w 0'], ['-w 5 -p tcp'], ['-f ipv6 -w 5'], ['-w 5 -m 2'], ['--zone 5'],
  ['-p icmp --icmp-type 8'], ['-p icmp --icmp-id 7'], ['-p icmp --icmp-type 13 --icmp-code 0'], ['-p icmp --icmp-code 0'],
  ['-p icmpv6 --icmpv6-type 128'], ['-p icmpv6 --icmpv6-id 9'],
  ['-s 10.0.0.0 --mask-src 255.255.255.0'], ['-d 198.51.100.0 --mask-dst 255.255.255.0'], ['-s 2001:db8:: --mask-src ffff:ffff:ffff:ffff::'],
];

/** Spellings of one filter: listed with -L only (conntrack reads them into the same option). */
const SYNONYMS = new Set(['--src 10.0.0.2', '--orig-src 10.0.0.2', '--dst 198.51.100.1', '--orig-dst 198.51.100.1', '--reply-src 198.51.100.1', '--reply-dst 10.0.0.3',
  '-p 17', '-p TCP', '--protonum udp', '--mark 1', '--status ASSURED', '--zone 5', '-p tcp --orig-port-dst 22', '-p tcp --orig-port-src 40000',
  ...['SYN_RECV', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSE'].map((s) => `-p tcp --state ${s}`)]);
/** Update: one filter of each kind (every update re-seeds the table; the full matrix is -L's and -D's). */
const UPDATE_SET = ['-s 10.0.0.1', '-s 10.0.0.0/24', '-s 10.0.0.5/24', '-d 198.51.100.0/24', '-r 198.51.100.1', '-q 10.0.1.2', '-s 2001:db8::/64', '-q 2001:db8::2',
  '-p tcp', '-p icmp', '-f ipv4', '-f ipv6', '-f ipv6 -p udp', '-p tcp --dport 443', '-p tcp -s 10.0.0.1 -d 198.51.100.1 --sport 40000 --dport 443',
  '-p tcp --state ESTABLISHED', '-p tcp --state LISTEN', '-w 5', '-w 0', '-p icmp --icmp-type 8', '-s 10.0.0.0 --mask-src 255.255.255.0'];

/** Filters for update: -m and -u are the new values there, not filters. */
const UPDATE_FILTERS = FILTERS.filter(([f]) => UPDATE_SET.includes(f));

/** A few for events (each run costs two listeners): addresses, protocol, ports, zone, mark, state, ICMP. */
const EVENT_FILTERS: [string, Item?][] = [
  ['-s 10.20.0.1'], ['-p udp'], ['-p tcp --dport 443'], ['-w 5'], ['-m 3'], ['-f ipv6'], ['-p tcp --state ESTABLISHED'],
  ['-p icmp --icmp-type 8'], ['-d 10.21.0.0/16'],
];
const TRIGGERS = [
  '-I -p udp -s 10.20.0.1 -d 10.21.0.1 --sport 1 --dport 53 -t 60 -w 5 -m 3',
  '-I -p tcp -s 10.20.0.2 -d 10.21.0.2 --sport 2 --dport 443 --state ESTABLISHED -t 60',
  '-I -p icmp -s 10.20.0.3 -d 10.21.0.3 --icmp-type 8 --icmp-code 0 --icmp-id 9 -t 60',
  '-I -p udp -s 2001:db8:20::1 -d 2001:db8:21::1 --sport 1 --dport 53 -t 60',
  '-D -s 10.20.0.1 -w 5',
  '-D -s 10.20.0.3',
];

/**
 * conntrack 1.4.7 -U sends each update with the family of its command line (nfgen_family): with
 * no address and no -f that is AF_UNSPEC, and the kernel answers EOPNOTSUPP for the first entry,
 * so nothing is updated and conntrack exits 1. ctplug updates each entry in its own family.
 */
const UPDATE_UNSPEC = 'conntrack -U without an address or -f sends AF_UNSPEC and fails with EOPNOTSUPP at the first entry; ctplug updates each entry in its own family';
const hasFamily = (f: string) => /(^|\s)(-[sdrqf]|--(orig-)?(src|dst)|--reply-(src|dst)|--family)\s/.test(` ${f} `);
/** conntrack -U takes no -w (commands_v_options): an extension. */
const UPDATE_ZONE = 'conntrack 1.4.7 refuses -w with -U (exit 2); ctplug updates the zone';

function updateCase(f: string, gap: Item | undefined): Case {
  const args = `-U ${f} -m 0x77`;
  if (gap) return sameOrTodo(gap, 'zone0', args);
  if (/(^|\s)(-w|--zone)\s/.test(` ${f} `)) return differs(UPDATE_ZONE, 'zone0', args, { code: f.includes('-w 5') || f.includes('--zone 5') ? EXIT.NOTHING_MATCHED : EXIT.OK }, { code: 2, stderr: /Illegal option `--zone'/, table: 'unchanged' });
  if (!hasFamily(f)) return differs(UPDATE_UNSPEC, 'zone0', args, { code: EXIT.OK, stderr: /\d+ flow entries have been updated\./ }, { code: 1, stderr: /Operation not supported/, table: 'unchanged' });
  return sameOrTodo(undefined, 'zone0', args);
}

export const FILTER_CASES: Case[] = [
  ...FILTERS.map(([f, gap]) => sameOrTodo(gap, 'mix', `-L ${f}`)),
  // conntrack -D -u UNREPLIED deletes everything: a deliberate difference (keep.ts)
  ...FILTERS.filter(([f]) => f !== '-u UNREPLIED' && !SYNONYMS.has(f)).map(([f, gap]) => sameOrTodo(gap, 'mix', `-D ${f}`)),
  ...UPDATE_FILTERS.map(([f, gap]) => updateCase(f, gap)),
  ...EVENT_FILTERS.map(([f, gap]) => sameOrTodo(gap, 'mix', `-E ${f}`, { events: TRIGGERS })),
  // Netmasks: the mask replaces a prefix given with the address; no mask without its address (both exit 2).
  sameOrTodo(undefined, 'mix', '-L -s 10.0.0.0/30 --mask-src 255.255.255.0'),
  sameOrTodo(undefined, 'mix', '-L --mask-src 255.255.255.0'),
  sameOrTodo(undefined, 'mix', '-D --mask-dst 255.255.255.0 -p tcp'),
  sameOrTodo(undefined, 'mix', '-E -d 10.21.0.0 --mask-dst 255.255.0.0', { events: TRIGGERS }),
  differs('refused: a netmask that is no prefix (ctplug filters by prefix; conntrack compares under any mask)', 'mix', '-L -s 10.0.0.0 --mask-src 255.0.255.0',
    { code: EXIT.USAGE, stderr: /not a contiguous netmask/, stdout: 'empty' }, { code: 0 }),
];
