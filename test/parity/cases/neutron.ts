// OpenStack netlink_lib's use of conntrack, the seed's ancestor: list, delete and flush ICMP, TCP and
// UDP entries (IPv4 and IPv6) per zone, zones 1-3 and 65535, with zone 0 as the noise around them.
import { same, type Case } from '../case.js';
import { NEUTRON_ZONES } from '../seeds.js';

const ZONES = NEUTRON_ZONES.filter((z) => z !== 0);

/** What the agent lists: a zone, narrowed by family, protocol or address. */
const LISTS = ['', '-f ipv4', '-f ipv6', '-p tcp', '-p udp', '-p icmp', '-p icmpv6', '-o extended', '-s 192.168.1.10', '-d fd00::20'];

/** What the agent deletes: one entry by its full tuple (per protocol), or every entry of a remote address. */
const DELETES = [
  '-f ipv4 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1111 -s 192.168.1.10 -d 192.168.1.20',
  '-f ipv4 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 2222',
  '-f ipv6 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 1111 -s fd00::10 -d fd00::20',
  '-f ipv4 -p tcp --sport 40000 --dport 22 -s 192.168.1.10 -d 192.168.1.20',
  '-f ipv6 -p tcp --sport 40000 --dport 22 -s fd00::10 -d fd00::20',
  '-f ipv4 -p udp --sport 5000 --dport 53 -s 192.168.1.10 -d 192.168.1.20',
  '-f ipv6 -p udp --sport 5000 --dport 53 -s fd00::10 -d fd00::20',
  '-f ipv4 -d 192.168.1.20',
  '-f ipv6 -s fd00::10',
  '-p icmp',
];

/** Every list and delete in zones 1 and 65535; the main ones in the others. */
const full = (z: number) => z === 1 || z === 65535;

export const NEUTRON: Case[] = [
  ...NEUTRON_ZONES.flatMap((z) => LISTS.filter((l, i) => full(z) || i < 3 || l === '-o extended').map((l) => same('neutron', `-L -w ${z} ${l}`))),
  ...ZONES.flatMap((z) => DELETES.filter((_, i) => full(z) || [0, 3, 6, 7].includes(i)).map((d) => same('neutron', `-D ${d} -w ${z}`))),
  // A whole zone (the agent's zone flush): every entry deleted is printed, by both.
  ...ZONES.map((z) => same('neutron', `-D -w ${z}`)),
  same('neutron', '-D -w 0 -p udp'),
  same('neutron', '-D -f ipv6 -w 0'),
  // Nothing there: exit 1 and "0 flow entries have been deleted.".
  same('neutron', '-D -f ipv4 -p tcp --sport 40000 --dport 22 -s 192.168.1.99 -d 192.168.1.20 -w 1'),
  same('neutron', '-D -f ipv4 -p udp -d 192.168.1.20 -w 4'),
  // The agent's flush, and its count.
  same('neutron', '-F'),
  same('neutron', '-C'),
  same('neutron', '-L -o extended'),
];
