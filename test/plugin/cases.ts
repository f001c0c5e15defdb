// Entries paired with the exact lines `conntrack -L` (1.4.7) printed for the same flows on a
// real kernel (created with `conntrack -I` in a netns). The renderer tests compare against
// these; once recorded fixtures exist (test/fixtures/, scripts/record-fixtures.ts), load them
// with the same {messages, text} shape and run the same assertions.
import { IPS, TCP, type EntrySpec } from '../helpers/ctmsg.js';

export interface RenderCase {
  name: string;
  spec: EntrySpec;
  /** conntrack -L */
  text: string;
  /** family prefix conntrack -L -o extended adds */
  l3: string;
}

const C = IPS.CONFIRMED;
export const renderCases: RenderCase[] = [
  {
    // conntrack -I -p tcp ... --state ESTABLISHED --orig-zone 4 -u ASSURED,SEEN_REPLY, nf_conntrack_acct=1
    name: 'directional zone of the original tuple, with counters',
    spec: {
      proto: 'tcp', src: '10.1.1.1', dst: '10.2.2.2', sport: 40000, dport: 21, timeout: 6, tcpState: TCP.ESTABLISHED, origZone: 4,
      status: C | IPS.SEEN_REPLY | IPS.ASSURED, counters: { orig: [0, 0], reply: [0, 0] }, id: 3305111711,
    },
    text: 'tcp      6 6 ESTABLISHED src=10.1.1.1 dst=10.2.2.2 sport=40000 dport=21 zone-orig=4 packets=0 bytes=0 src=10.2.2.2 dst=10.1.1.1 sport=21 dport=40000 packets=0 bytes=0 [ASSURED] mark=0 use=1',
    l3: 'ipv4     2 ',
  },
  {
    name: 'udp unreplied',
    spec: { proto: 'udp', src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2, timeout: 99, status: C, id: 1305115388 },
    text: 'udp      17 99 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 use=1',
    l3: 'ipv4     2 ',
  },
  {
    name: 'unknown protocol',
    spec: { proto: 99, src: '10.0.0.1', dst: '10.0.0.2', timeout: 99, status: C, id: 1540641147 },
    text: 'unknown  99 99 src=10.0.0.1 dst=10.0.0.2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 mark=0 use=1',
    l3: 'ipv4     2 ',
  },
  {
    name: 'icmp echo',
    spec: { proto: 'icmp', src: '1.1.1.1', dst: '2.2.2.2', icmpType: 8, icmpCode: 0, icmpId: 77, timeout: 29, status: C, id: 1374327744 },
    text: 'icmp     1 29 src=1.1.1.1 dst=2.2.2.2 type=8 code=0 id=77 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 type=0 code=0 id=77 mark=0 use=1',
    l3: 'ipv4     2 ',
  },
  {
    name: 'icmpv6 echo',
    spec: { proto: 'icmpv6', src: '::1', dst: 'fe80::1', icmpType: 128, icmpCode: 0, icmpId: 5, timeout: 29, status: C, id: 1006897130 },
    text: 'icmpv6   58 29 src=::1 dst=fe80::1 type=128 code=0 id=5 [UNREPLIED] src=fe80::1 dst=::1 type=129 code=0 id=5 mark=0 use=1',
    l3: 'ipv6     10 ',
  },
  {
    name: 'udp seen reply',
    spec: { proto: 'udp', src: '1.1.1.3', dst: '2.2.2.2', sport: 1, dport: 2, timeout: 99, status: C | IPS.SEEN_REPLY, id: 1196303362 },
    text: 'udp      17 99 src=1.1.1.3 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.3 sport=2 dport=1 mark=0 use=1',
    l3: 'ipv4     2 ',
  },
  {
    name: 'tcp established assured, mark and zone',
    spec: { proto: 'tcp', src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2, timeout: 99, status: C | IPS.ASSURED, tcpState: TCP.ESTABLISHED, mark: 3, zone: 5, id: 4052203036 },
    text: 'tcp      6 99 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED] mark=3 zone=5 use=1',
    l3: 'ipv4     2 ',
  },
  {
    name: 'tcp ipv6 zone 65535',
    spec: { proto: 'tcp', src: '2001:db8::1', dst: '2001:db8:0:0:1::2', sport: 1000, dport: 22, timeout: 99, status: C, tcpState: TCP.SYN_SENT, zone: 65535, id: 1883492439 },
    text: 'tcp      6 99 SYN_SENT src=2001:db8::1 dst=2001:db8::1:0:0:2 sport=1000 dport=22 [UNREPLIED] src=2001:db8::1:0:0:2 dst=2001:db8::1 sport=22 dport=1000 mark=0 zone=65535 use=1',
    l3: 'ipv6     10 ',
  },
  // nf_conntrack_acct=1 (counters). nf_conntrack_timestamp was on too; delta-time needs the
  // host's clock (config "now"), see the delta-time test.
  {
    name: 'tcp time_wait assured with counters',
    spec: { proto: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 5, dport: 6, timeout: 99, status: C | IPS.ASSURED | IPS.SEEN_REPLY, tcpState: TCP.TIME_WAIT, counters: { orig: [0, 0], reply: [0, 0] }, id: 624187898 },
    text: 'tcp      6 99 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=5 dport=6 packets=0 bytes=0 src=10.0.0.2 dst=10.0.0.1 sport=6 dport=5 packets=0 bytes=0 [ASSURED] mark=0 use=1',
    l3: 'ipv4     2 ',
  },
  {
    name: 'udp ipv4-mapped ipv6',
    spec: { proto: 'udp', src: '::ffff:1.2.3.4', dst: '2001:db8:0:1:1:1:1:1', sport: 5, dport: 6, timeout: 99, status: C, counters: { orig: [0, 0], reply: [0, 0] }, id: 2819578049 },
    text: 'udp      17 99 src=::ffff:1.2.3.4 dst=2001:db8:0:1:1:1:1:1 sport=5 dport=6 packets=0 bytes=0 [UNREPLIED] src=2001:db8:0:1:1:1:1:1 dst=::ffff:1.2.3.4 sport=6 dport=5 packets=0 bytes=0 mark=0 use=1',
    l3: 'ipv6     10 ',
  },
  {
    name: 'gre keys',
    spec: { proto: 'gre', src: '10.0.0.1', dst: '10.0.0.2', sport: 0x10, dport: 0x20, timeout: 99, status: C, counters: { orig: [0, 0], reply: [0, 0] }, id: 3771603449 },
    text: 'gre      47 99 src=10.0.0.1 dst=10.0.0.2 srckey=0x10 dstkey=0x20 packets=0 bytes=0 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 srckey=0x20 dstkey=0x10 packets=0 bytes=0 mark=0 use=1',
    l3: 'ipv4     2 ',
  },
  {
    name: 'ipv4-compatible ipv6 and trailing ::',
    spec: { proto: 'udp', src: '::1.2.3.4', dst: '1:0:0:1::', sport: 5, dport: 6, timeout: 99, status: C, counters: { orig: [0, 0], reply: [0, 0] }, id: 256222886 },
    text: 'udp      17 99 src=::1.2.3.4 dst=1:0:0:1:: sport=5 dport=6 packets=0 bytes=0 [UNREPLIED] src=1:0:0:1:: dst=::1.2.3.4 sport=6 dport=5 packets=0 bytes=0 mark=0 use=1',
    l3: 'ipv6     10 ',
  },
  {
    name: 'sctp established',
    spec: { proto: 'sctp', src: '10.0.0.1', dst: '10.0.0.2', sport: 5, dport: 6, timeout: 99, status: C, sctpState: 4, counters: { orig: [0, 0], reply: [0, 0] }, id: 768824726 },
    text: 'sctp     132 99 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=5 dport=6 packets=0 bytes=0 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=6 dport=5 packets=0 bytes=0 mark=0 use=1',
    l3: 'ipv4     2 ',
  },
];
