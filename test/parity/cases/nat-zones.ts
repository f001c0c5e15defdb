// NAT (-n/--src-nat, -g/--dst-nat, -j/--any-nat; bare, with an address, with address:port) in
// list, delete, update and events, and NAT set up by create; zones: -w, --orig-zone, --reply-zone
// and how each command selects directional zones.
import { EXIT } from '../../../host/exit-codes.js';
import { differs, same, type Case } from '../case.js';

const NAT_FILTERS = [
  '-n', '-g', '-j', '--src-nat', '--dst-nat', '--any-nat', '-n -g',
  '-n 198.51.100.1', '-n 198.51.100.1:2000', '-n 198.51.100.2', '-g 192.168.1.5', '-g 192.168.1.5:8080', '-g 192.168.1.5:80',
  '-j 198.51.100.1', '-j 192.168.1.7', '--dst-nat [2001:db8:4::5]:5353', '-g -p tcp', '-n -f ipv6',
];

const NAT_CREATES = [
  '-p tcp -s 10.70.0.1 -d 203.0.113.9 --sport 1 --dport 80 --state ESTABLISHED -t 100 --src-nat 198.51.100.9',
  '-p tcp -s 10.70.0.1 -d 203.0.113.9 --sport 1 --dport 80 --state ESTABLISHED -t 100 --src-nat 198.51.100.9:7000',
  '-p udp -s 10.70.0.1 -d 203.0.113.9 --sport 1 --dport 53 -t 100 --dst-nat 192.168.9.9',
  '-p udp -s 10.70.0.1 -d 203.0.113.9 --sport 1 --dport 53 -t 100 --dst-nat 192.168.9.9:5353',
  '-p udp -s 10.70.0.1 -d 203.0.113.9 --sport 1 --dport 53 -t 100 --src-nat 198.51.100.9 --dst-nat 192.168.9.9',
  '-p udp -s 2001:db8:70::1 -d 2001:db8:70::2 --sport 1 --dport 53 -t 100 --dst-nat [2001:db8:70::9]:53',
  '-p icmp -s 10.70.0.1 -d 203.0.113.9 --icmp-type 8 --icmp-code 0 --icmp-id 1 -t 100 --src-nat 198.51.100.9',
  '-p udp -s 10.70.0.1 -d 203.0.113.9 --sport 1 --dport 53 -t 100 --any-nat 198.51.100.9',
  '-p udp -s 10.70.0.1 -d 203.0.113.9 --sport 1 --dport 53 -t 100 --src-nat 198.51.100.9:',
  '-p udp -s 10.70.0.1 -d 203.0.113.9 --sport 1 --dport 53 -t 100 --src-nat 198.51.100.9:70000',
];

/** Filters both tools read the same way; -w on directional zones is the zone rule (keep.ts). */
const DIRZONE_FILTERS = ['--orig-zone 7', '--reply-zone 7', '--orig-zone 8', '--orig-zone 0', '-f ipv4 -p udp', '-p tcp'];

export const NAT_ZONE_CASES: Case[] = [
  ...NAT_FILTERS.map((f) => same('nat', `-L ${f}`)),
  // -j is not an option of -D or -U in conntrack 1.4.7 (both exit 2)
  ...NAT_FILTERS.slice(0, 12).map((f) => same('nat', `-D ${f}`)),
  // -U -n: no address gives conntrack no family (F2: AF_UNSPEC, EOPNOTSUPP at the first entry)
  differs('fixed: conntrack -U without an address or -f sends AF_UNSPEC and fails with EOPNOTSUPP at the first entry; ctplug updates each entry in its own family',
    'nat', '-U -n -m 0x3', { code: EXIT.OK, stderr: /5 flow entries have been updated/, tableHas: /src=10\.4\.0\.1 .*mark=3$/ }, { code: 1, stderr: /Operation not supported/, table: 'unchanged' }),
  // -U -g ADDR: conntrack also sends ADDR as NAT to set, which the kernel refuses for an existing entry
  differs('fixed: conntrack -U -g/-n ADDR also sends the address as a NAT to set up, which the kernel refuses for an existing entry (EOPNOTSUPP); it then prints the entry unchanged and counts it updated. ctplug reads -n/-g as filters and updates the mark',
    'nat', '-U -g 192.168.1.5 -m 0x3', { code: EXIT.OK, stderr: /1 flow entries have been updated/, tableHas: /src=10\.4\.0\.3 .*mark=3$/ },
    { code: 0, stderr: /Operation failed: Operation not supported/, table: 'unchanged' }),
  same('nat', '-U -j -m 0x3'),
  same('nat', '-E -n', { events: ['-I -p udp -s 10.4.9.1 -d 203.0.113.1 --sport 1 --dport 53 -t 60 --src-nat 198.51.100.3', '-I -p udp -s 10.4.9.2 -d 203.0.113.1 --sport 1 --dport 53 -t 60'] }),
  // conntrack compares only an IPv4 NAT address: --src-nat 2001:db8:4::7 also lists the SNAT to ::8
  differs('fixed: conntrack compares only an IPv4 NAT address (ATTR_SNAT_IPV4), so --src-nat 2001:db8:4::7 lists every IPv6 source NAT; ctplug compares the IPv6 address',
    'nat', '-L --src-nat 2001:db8:4::7', { code: EXIT.OK, lines: 1, stdout: /dst=2001:db8:4::7 / }, { code: 0, lines: 2, stdout: /dst=2001:db8:4::8 / }),
  same('nat', '-L --src-nat [2001:db8:4::7]:1000'),
  same('nat', '-L -n -j'),
  same('nat', '-L -j -g'),
  same('nat', '-L -p tcp'),
  same('nat', '-L -r 192.168.1.5'),
  same('nat', '-D -q 198.51.100.1'),
  ...NAT_CREATES.map((c) => same('empty', `-I ${c}`)),
  // Directional zones: filters that both tools read the same way.
  ...DIRZONE_FILTERS.map((f) => same('dirzone', `-L ${f}`)),
  ...DIRZONE_FILTERS.slice(0, 4).map((f) => same('dirzone', `-D ${f}`)),
  // -w with --orig-zone/--reply-zone, the zone rule: keep.ts
  // conntrack -G has no zone: the zone-7 entry is not found (both print only the error, exit 1)
  same('dirzone', '-G -p udp -s 10.7.0.3 -d 10.7.1.1 --sport 1 --dport 2'),
];
