// The tables the parity cases start from. A seed is what both twin namespaces are given before a
// case: `conntrack -I` lines (loaded with `conntrack -R -`, so the entries are conntrack's own), an
// optional nft ruleset and sysctls, and optionally real packets over the namespace's loopback, so
// the kernel itself makes the entries (counters, timestamps, helpers, expectations).
// Every timeout is long enough to outlive the whole run.

export interface Seed {
  /** conntrack -I (or -A) argument lines. */
  lines: string[];
  /** An nft ruleset loaded first (e.g. a `ct label` rule gives the namespace connlabel room). */
  nft?: string;
  /** sysctls set first, e.g. net.netfilter.nf_conntrack_acct=1. */
  sysctls?: string[];
  /** A node script run inside the namespace after the lines: real traffic over lo. */
  traffic?: string;
  /** conntrack lines run after the traffic (e.g. -U to stretch a timeout). */
  after?: string[];
  /** Label names both tools see as /etc/xtables/connlabel.conf (bit -> name). */
  connlabels?: Record<number, string>;
  /** The seed makes expectations: tables are compared with `-L expect` too. */
  expect?: boolean;
}

const T = '-t 3600';
const zoneFlag = (z: number) => (z === 0 ? '' : ` -w ${z}`);

/**
 * OpenStack netlink_lib's use: per zone (0 as noise, 1-3 and 65535) ICMP, TCP and UDP, IPv4 and
 * IPv6, the same tuples in every zone.
 */
export const NEUTRON_ZONES = [0, 1, 2, 3, 65535];
const neutron = NEUTRON_ZONES.flatMap((z) => [
  `-I -p icmp -s 192.168.1.10 -d 192.168.1.20 --icmp-type 8 --icmp-code 0 --icmp-id 1111 ${T}${zoneFlag(z)}`,
  `-I -p icmp -s 192.168.1.11 -d 192.168.1.20 --icmp-type 8 --icmp-code 0 --icmp-id 2222 ${T}${zoneFlag(z)}`,
  `-I -p icmpv6 -s fd00::10 -d fd00::20 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 1111 ${T}${zoneFlag(z)}`,
  `-I -p tcp -s 192.168.1.10 -d 192.168.1.20 --sport 40000 --dport 22 --state ESTABLISHED ${T}${zoneFlag(z)}`,
  `-I -p tcp -s 192.168.1.10 -d 192.168.1.30 --sport 40001 --dport 80 --state ESTABLISHED ${T}${zoneFlag(z)}`,
  `-I -p tcp -s fd00::10 -d fd00::20 --sport 40000 --dport 22 --state ESTABLISHED ${T}${zoneFlag(z)}`,
  `-I -p udp -s 192.168.1.10 -d 192.168.1.20 --sport 5000 --dport 53 ${T}${zoneFlag(z)}`,
  `-I -p udp -s fd00::10 -d fd00::20 --sport 5000 --dport 53 ${T}${zoneFlag(z)}`,
]);

/** Filters: addresses (two /24s, IPv6), ports, marks, status bits, TCP states; zone 0 (conntrack -U cannot update other zones). */
export const TCP_STATES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];
const zone0 = [
  ...TCP_STATES.map((s, i) => `-I -p tcp -s 10.0.0.${i + 1} -d 198.51.100.1 --sport ${40000 + i} --dport ${[443, 80, 22][i % 3]} --state ${s} ${T} -m ${[0, 1, 0x100, 0x201, 0xffff00ff][i % 5]}`),
  ...[1, 2, 3, 4].map((i) => `-I -p udp -s 10.0.1.${i} -d 198.51.100.53 --sport ${50000 + i} --dport 53 ${T} -m ${0x1200 + i}`),
  '-I -p udp -s 10.0.1.5 -d 198.51.100.53 --sport 50005 --dport 53 -t 3600 -u SEEN_REPLY',
  '-I -p udp -s 10.0.1.6 -d 198.51.100.53 --sport 50006 --dport 53 -t 3600 -u SEEN_REPLY,ASSURED',
  '-I -p tcp -s 10.0.0.20 -d 198.51.100.2 --sport 41000 --dport 443 --state ESTABLISHED -t 3600 -u ASSURED,SEEN_REPLY -m 7',
  ...[1, 2, 3].map((i) => `-I -p udp -s 2001:db8::${i} -d 2001:db8:ffff::53 --sport ${50000 + i} --dport 53 ${T} -m 16`),
  '-I -p tcp -s 2001:db8::a -d 2001:db8:ffff::1 --sport 40009 --dport 22 --state TIME_WAIT -t 3600 -m 4294901999',
  '-I -p icmp -s 10.0.2.9 -d 198.51.100.1 --icmp-type 8 --icmp-code 0 --icmp-id 7 -t 3600',
  '-I -p icmp -s 10.0.2.10 -d 198.51.100.1 --icmp-type 13 --icmp-code 0 --icmp-id 8 -t 3600',
  '-I -p icmpv6 -s 2001:db8::9 -d 2001:db8:ffff::1 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9 -t 3600',
  '-I -p udp -s 10.0.3.1 -d 198.51.100.54 --sport 50100 --dport 123 -t 3600 -m 512',
];
/** The same with a second zone. */
const mix = [
  ...zone0,
  ...[1, 2].map((i) => `-I -p tcp -s 10.5.0.${i} -d 198.51.100.1 --sport ${42000 + i} --dport 443 --state ESTABLISHED ${T} -w 5 -m ${i}`),
  '-I -p udp -s 10.5.0.3 -d 198.51.100.53 --sport 42003 --dport 53 -t 3600 -w 5',
  '-I -p udp -s 2001:db8:5::1 -d 2001:db8:ffff::53 --sport 42004 --dport 53 -t 3600 -w 5',
];

/** One or more entries for every protocol conntrack-tools has an extension for, and two it has not. */
export const SCTP_STATES = ['CLOSED', 'COOKIE_WAIT', 'COOKIE_ECHOED', 'ESTABLISHED', 'SHUTDOWN_SENT', 'SHUTDOWN_RECD', 'SHUTDOWN_ACK_SENT'];
const protos = [
  '-I -p tcp -s 10.3.0.1 -d 10.3.1.1 --sport 1001 --dport 2001 --state ESTABLISHED -t 3600',
  '-I -p udp -s 10.3.0.1 -d 10.3.1.1 --sport 1002 --dport 2002 -t 3600',
  '-I -p udplite -s 10.3.0.1 -d 10.3.1.1 --sport 1003 --dport 2003 -t 3600',
  '-I -p udplite -s 2001:db8:3::1 -d 2001:db8:3::2 --sport 1003 --dport 2003 -t 3600',
  '-I -p icmp -s 10.3.0.1 -d 10.3.1.1 --icmp-type 8 --icmp-code 0 --icmp-id 1004 -t 3600',
  '-I -p icmpv6 -s 2001:db8:3::1 -d 2001:db8:3::2 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 1005 -t 3600',
  ...SCTP_STATES.map((s, i) => `-I -p sctp -s 10.3.0.${i + 2} -d 10.3.1.1 --sport ${1100 + i} --dport 2100 --state ${s} --orig-vtag ${10 + i} --reply-vtag ${20 + i} -t 3600`),
  '-I -p sctp -s 2001:db8:3::1 -d 2001:db8:3::2 --sport 1107 --dport 2100 --state ESTABLISHED --orig-vtag 30 --reply-vtag 31 -t 3600',
  '-I -p dccp -s 10.3.0.1 -d 10.3.1.1 --sport 1200 --dport 2200 --state OPEN --role client -t 3600',
  '-I -p gre -s 10.3.0.1 -d 10.3.1.1 --srckey 0x10 --dstkey 0x20 -t 3600',
  '-I -p gre -s 10.3.0.2 -d 10.3.1.1 --srckey 5 --dstkey 6 -t 3600',
  '-I -p esp -s 10.3.0.1 -d 10.3.1.1 -t 3600',
  '-I -p 99 -s 10.3.0.1 -d 10.3.1.1 -t 3600',
];

/** Source NAT, destination NAT, both, with and without ports, IPv4 and IPv6; and an entry with a plain reply tuple. */
const nat = [
  '-I -p tcp -s 10.4.0.1 -d 203.0.113.1 --sport 1000 --dport 80 --state ESTABLISHED -t 3600 --src-nat 198.51.100.1',
  '-I -p udp -s 10.4.0.2 -d 203.0.113.1 --sport 1000 --dport 53 -t 3600 --src-nat 198.51.100.1:2000',
  '-I -p tcp -s 10.4.0.3 -d 203.0.113.1 --sport 1000 --dport 80 --state ESTABLISHED -t 3600 --dst-nat 192.168.1.5:8080',
  '-I -p tcp -s 10.4.0.4 -d 203.0.113.1 --sport 1000 --dport 80 --state ESTABLISHED -t 3600 --dst-nat 192.168.1.6',
  '-I -p tcp -s 10.4.0.5 -d 203.0.113.1 --sport 1000 --dport 80 --state ESTABLISHED -t 3600 --src-nat 198.51.100.2 --dst-nat 192.168.1.7',
  '-I -p udp -s 2001:db8:4::1 -d 2001:db8:4::99 --sport 1000 --dport 53 -t 3600 --dst-nat [2001:db8:4::5]:5353',
  '-I -p udp -s 2001:db8:4::2 -d 2001:db8:4::99 --sport 1000 --dport 53 -t 3600 --src-nat 2001:db8:4::7',
  '-I -p udp -s 2001:db8:4::3 -d 2001:db8:4::99 --sport 1000 --dport 53 -t 3600 --src-nat 2001:db8:4::8',
  '-I -p udp -s 10.4.0.6 -d 203.0.113.1 --sport 1000 --dport 53 -t 3600',
  '-I -p udp -s 10.4.0.7 -d 203.0.113.1 --sport 1000 --dport 53 -r 192.168.7.7 -q 10.4.0.7 --reply-port-src 53 --reply-port-dst 1000 -t 3600',
];

/** Directional zones (CTA_TUPLE_ZONE) next to plain zones: the zone rule. */
const dirzone = [
  '-I -p udp -s 10.7.0.1 -d 10.7.1.1 --sport 1 --dport 2 -t 3600 --orig-zone 7',
  '-I -p udp -s 10.7.0.2 -d 10.7.1.1 --sport 1 --dport 2 -t 3600 --reply-zone 7',
  '-I -p udp -s 10.7.0.3 -d 10.7.1.1 --sport 1 --dport 2 -t 3600 -w 7',
  '-I -p udp -s 10.7.0.4 -d 10.7.1.1 --sport 1 --dport 2 -t 3600',
  '-I -p tcp -s 10.7.0.5 -d 10.7.1.1 --sport 1 --dport 2 --state ESTABLISHED -t 3600 --orig-zone 8',
  '-I -p udp -s 10.7.0.6 -d 10.7.1.1 --sport 1 --dport 2 -t 3600 -w 8',
];

/** A ruleset that uses ct labels gives the namespace room for labels (and tracks its own traffic). */
const LABEL_RULESET = 'table inet parity {\n chain out {\n  type filter hook output priority 0;\n  ct state new ct label set 3\n }\n}\n';
export const LABEL_NAMES: Record<number, string> = { 1: 'web', 2: 'db', 5: 'blue', 70: 'far' };
const labels = [
  '-I -p udp -s 10.6.0.1 -d 10.6.1.1 --sport 1 --dport 2 -t 3600 --label-add web',
  '-I -p udp -s 10.6.0.2 -d 10.6.1.1 --sport 1 --dport 2 -t 3600 --label-add web,db',
  '-I -p udp -s 10.6.0.3 -d 10.6.1.1 --sport 1 --dport 2 -t 3600 --label-add blue,far',
  '-I -p udp -s 10.6.0.4 -d 10.6.1.1 --sport 1 --dport 2 -t 3600',
  '-I -p tcp -s 10.6.0.5 -d 10.6.1.1 --sport 1 --dport 2 --state ESTABLISHED -t 3600 --label-add db -m 9',
];

/** Real UDP over lo with fixed ports (3 exchanges on one flow, 1 on another), counters and timestamps on: what -z and ktimestamp need. */
const TRAFFIC = `
const dgram = require('dgram');
const echo = dgram.createSocket('udp4').on('message', (m, r) => echo.send(m, r.port, r.address));
const flow = (port, rounds) => new Promise((done) => {
  const u = dgram.createSocket('udp4'); let n = 0;
  u.on('message', () => (++n < rounds ? u.send('ping', 7000, '127.0.0.1') : (u.close(), done())));
  u.bind(port, '127.0.0.1', () => u.send('ping', 7000, '127.0.0.1'));
});
echo.bind(7000, '127.0.0.1', async () => { await flow(40700, 3); await flow(40701, 1); echo.close(); });
setTimeout(() => process.exit(1), 5000).unref();
`;

/** A TFTP read request over lo with the tftp helper attached: the kernel's helper makes an expectation. */
const TFTP_RULESET = 'table inet parity {\n ct helper tftp-std { type "tftp" protocol udp; }\n chain out {\n  type filter hook output priority 0;\n  udp dport 69 ct helper set "tftp-std"\n }\n}\n';
const TFTP = `
const s = require('dgram').createSocket('udp4');
s.bind(40069, '127.0.0.1', () => s.send(Buffer.from('\\x00\\x01file\\x00octet\\x00', 'latin1'), 69, '127.0.0.1', () => s.close()));
`;

export const SEEDS = {
  empty: { lines: [] },
  neutron: { lines: neutron },
  mix: { lines: mix },
  zone0: { lines: zone0 },
  protos: { lines: protos },
  nat: { lines: nat },
  dirzone: { lines: dirzone },
  labels: { lines: labels, nft: LABEL_RULESET, connlabels: LABEL_NAMES },
  traffic: {
    lines: ['-I -p udp -s 10.8.0.1 -d 10.8.1.1 --sport 1 --dport 2 -t 3600'],
    sysctls: ['net.netfilter.nf_conntrack_acct=1', 'net.netfilter.nf_conntrack_timestamp=1'],
    nft: LABEL_RULESET, traffic: TRAFFIC,
    // the UDP stream timeout (120 s) could end inside a long run
    after: ['-U -s 127.0.0.1 -t 3600'],
  },
  expect: {
    lines: ['-I -p udp -s 10.9.0.1 -d 10.9.1.1 --sport 1 --dport 2 -t 3600'],
    nft: TFTP_RULESET, traffic: TFTP, after: ['-U -s 127.0.0.1 -t 3600'], expect: true,
  },
} satisfies Record<string, Seed>;

export type SeedName = keyof typeof SEEDS;
