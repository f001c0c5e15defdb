// -U: new marks (conntrack's rule: mark = (old & ~MASK) ^ VALUE), timeouts, status bits, TCP state,
// labels; entries that would not change are skipped and not counted, none changed exits 1. Also the
// other writers' details: -I/-A with marks, statuses, zones, NAT; labels on update.
import { same, todo, type Case } from '../case.js';

export const UPDATE_CASES: Case[] = [
  // -m VALUE/MASK: old 0x201 (10.0.0.4), 0x200 (the example); VALUE bits outside MASK are XORed in by conntrack.
  same('zone0', '-U -s 10.0.0.4 -m 0x301/0xff00'),
  same('zone0', '-U -d 198.51.100.54 -m 0x301/0xff00'),
  same('zone0', '-U -s 10.0.0.4 -m 0x300/0xff00'),
  same('zone0', '-U -s 10.0.0.0/24 -m 0x1/0x0'),
  same('zone0', '-U -f ipv4 -m 0xff/0xf'),
  same('zone0', '-U -f ipv6 -m 0xa0000000/0xf0000000'),
  same('zone0', '-U -d 198.51.100.53 -m 0x0/0xf'),
  // Unchanged entries are not updated, not printed, not counted; none changed: exit 1.
  same('zone0', '-U -s 10.0.0.2 -m 1'),
  same('zone0', '-U -f ipv4 -p tcp -m 1'),
  same('zone0', '-U -d 198.51.100.53 -u SEEN_REPLY'),
  same('zone0', '-U -s 10.0.0.20 -u ASSURED'),
  same('zone0', '-U -s 10.0.0.1 -m 0x10'),
  same('zone0', '-U -s 10.0.0.1 -t 100'),
  same('zone0', '-U -f ipv6 -t 50'),
  same('zone0', '-U -s 10.0.0.1 -u ASSURED'),
  same('zone0', '-U -f ipv6 -u SEEN_REPLY,ASSURED'),
  same('zone0', '-U -s 10.99.0.1 -m 1'),
  same('zone0', '-U -p tcp -s 10.0.0.1 -m 0x42'),
  same('zone0', '-U -s 10.0.0.1 -m 5 -t 200'),
  // --state on update is the new TCP state, not a filter.
  same('zone0', '-U -p tcp -s 10.0.0.4 --state TIME_WAIT'),
  same('zone0', '-U -s 10.0.0.4 --state CLOSE'),
  same('zone0', '-U -p tcp -s 10.0.0.4 --state SYN_RECV -m 3'),
  // Labels on update (connlabel room from the seed's ruleset).
  // (conntrack prints the updated entries with their labels=NAMES: #6)
  todo(6, 'labels', '-U -s 10.6.0.4 --label-add web'),
  todo(6, 'labels', '-U -s 10.6.0.2 --label-add blue'),
  todo(6, 'labels', '-U -s 10.6.0.2 --label-del db'),
  todo(6, 'labels', '-U -s 10.6.0.1 --label-add web'),
  todo(8, 'labels', '-U -s 10.6.0.2 --label-del'),
  todo(8, 'labels', '-U -f ipv4 -l web --label-del'),
  // Creating: marks (a mask is ignored), status bits, zones, timeouts.
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 -m 0x10'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 -m 0x10/0xf0'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 -u ASSURED'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 -u SEEN_REPLY,ASSURED'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 -w 65535'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 --orig-zone 3'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 --reply-zone 3'),
  same('empty', '-I -p udp -r 10.60.1.1 -q 10.60.0.1 --reply-port-src 2 --reply-port-dst 1 -t 100'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -r 10.60.1.2 -q 10.60.0.1 --reply-port-src 2 --reply-port-dst 1 -t 100'),
  same('empty', '-I -p udp -s 2001:db8:60::1 -d 2001:db8:60::2 --sport 1 --dport 2 -t 100 -m 4294967295'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 0'),
  todo(9, 'empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 -u UNSET'),
  same('empty', '-I -p udp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 -t 100 -u FIXED_TIMEOUT'),
  same('empty', '-I -p tcp -s 10.60.0.1 -d 10.60.1.1 --sport 1 --dport 2 --state TIME_WAIT -t 100 -u ASSURED'),
];
