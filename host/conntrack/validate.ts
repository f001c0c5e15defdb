// Strict input validation. Every function throws CtError(kind 'usage' or 'environment') with
// a message that names the bad value and what is allowed; nothing invalid reaches the kernel.
import { existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { DCCP_STATES, EVENT_GROUPS, FAMILIES, IPPROTO, IPS, MAX_ZONE, SCTP_STATES, TCP_STATES, type EventKind, type Family, type ProtocolName } from './constants.js';
import { CtError, invalid } from './errors.js';

export type { Family };

const integer = (v: unknown): number | undefined => {
  if (typeof v === 'number') return Number.isInteger(v) ? v : undefined;
  if (typeof v === 'string' && /^(0|[1-9]\d*|0x[0-9a-f]+)$/i.test(v.trim())) return Number(v.trim());
  return undefined;
};

export function parseZone(v: unknown, what = 'zone'): number {
  const n = integer(v);
  if (n === undefined || n < 0 || n > MAX_ZONE) throw invalid(what, `${JSON.stringify(v)} is not a zone: use an integer from 0 to ${MAX_ZONE}`);
  return n;
}

export function parsePort(v: unknown, what = 'port'): number {
  const n = integer(v);
  if (n === undefined || n < 0 || n > 65535) throw invalid(what, `${JSON.stringify(v)} is not a port: use an integer from 0 to 65535`);
  return n;
}

function unsigned(v: unknown, max: number, what: string): number {
  const n = integer(v);
  if (n === undefined || n < 0 || n > max) throw invalid(what, `${JSON.stringify(v)} is out of range: use an integer from 0 to ${max}`);
  return n;
}

export const parseU8 = (v: unknown, what: string): number => unsigned(v, 0xff, what);
export const parseU16 = (v: unknown, what: string): number => unsigned(v, 0xffff, what);
export const parseU32 = (v: unknown, what: string): number => unsigned(v, 0xffffffff, what);

/** `M` or `M/MASK`, decimal or 0x-hex, 32 bits each. */
export function parseMark(v: unknown): { mark: number; mask: number } {
  const s = String(v);
  const [m, mask, extra] = s.split('/');
  if (extra !== undefined) throw invalid('mark', `${JSON.stringify(v)} is not a mark: use MARK or MARK/MASK`);
  return { mark: parseU32(m, 'mark'), mask: mask === undefined ? 0xffffffff : parseU32(mask, 'mark mask') };
}

export function parseFamily(v: unknown): Family {
  const s = String(v).toLowerCase();
  if (s === 'ipv4' || s === 'inet' || s === '4') return 'ipv4';
  if (s === 'ipv6' || s === 'inet6' || s === '6') return 'ipv6';
  throw invalid('family', `${JSON.stringify(v)} is not a family: use ipv4 or ipv6`);
}

export const familyNumber = (f: Family) => FAMILIES[f];

/**
 * A layer-4 protocol as conntrack -p takes it: an extension's name (tcp, udp, udplite, icmp, icmpv6,
 * sctp, dccp, gre) or number, any other name in /etc/protocols (esp, ah: read only then), or any
 * number 0..255. `name` is the extension's name, else the name given (lower case) or the number.
 */
export function parseProtocol(v: unknown): { name: ProtocolName | (string & {}); number: number } {
  const s = String(v).trim().toLowerCase();
  const alias = s === 'ipv6-icmp' || s === 'icmp6' ? 'icmpv6' : s;
  if (alias in IPPROTO) return { name: alias as ProtocolName, number: IPPROTO[alias as ProtocolName] };
  const n = integer(v);
  if (n !== undefined && n >= 0 && n <= 255) {
    const byNumber = Object.entries(IPPROTO).find(([, num]) => num === n);
    return byNumber ? { name: byNumber[0] as ProtocolName, number: n } : { name: String(n), number: n };
  }
  const listed = /^[a-z][a-z0-9.+_-]*$/.test(s) ? etcProtocols().get(s) : undefined;
  if (listed !== undefined) return { name: s, number: listed };
  throw invalid('protocol', `${JSON.stringify(v)} is not a protocol: use ${Object.keys(IPPROTO).join(', ')}, a name from /etc/protocols or a number 0..255`);
}

let protocolsFile: Map<string, number> | undefined;
/** /etc/protocols: every name and alias (lower case) -> number. Missing file: none. */
function etcProtocols(): Map<string, number> {
  if (protocolsFile) return protocolsFile;
  protocolsFile = new Map();
  let text = '';
  try {
    text = readFileSync('/etc/protocols', 'utf8');
  } catch { /* no names then */ }
  for (const line of text.split('\n')) {
    const [name, num, ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/);
    const n = Number(num);
    if (!name || !Number.isInteger(n) || n < 0 || n > 255) continue;
    for (const a of [name, ...aliases]) if (!protocolsFile.has(a.toLowerCase())) protocolsFile.set(a.toLowerCase(), n);
  }
  return protocolsFile;
}

/** A TCP state by name, any case; LISTEN is conntrack's other name for SYN_SENT2. */
export function parseTcpState(v: unknown): number {
  return parseState(v, 'tcp');
}

/** The protocols with states, and their names (conntrack-tools' tables, the kernel's enums). */
const STATES: Partial<Record<ProtocolName, readonly string[]>> = { tcp: TCP_STATES, sctp: SCTP_STATES, dccp: DCCP_STATES };

/** A state of `protocol` (tcp, sctp or dccp) by name, any case. */
export function parseState(v: unknown, protocol: string): number {
  const names = STATES[protocol as ProtocolName];
  if (!names) throw invalid('state', `${protocol} has no states: --state goes with -p tcp, sctp or dccp`);
  const s = String(v).toUpperCase();
  if (protocol === 'tcp' && s === 'LISTEN') return TCP_STATES.indexOf('SYN_SENT2');
  const i = names.indexOf(s);
  if (i < 0) throw invalid('state', `${JSON.stringify(v)} is not a ${protocol.toUpperCase()} state: use one of ${names.join(', ')}${protocol === 'tcp' ? ', LISTEN' : ''}`);
  return i;
}

/** conntrack -u's names, in the order its parser tries a beginning of one (`-u ASS` is ASSURED). */
const CONNTRACK_STATUS = ['ASSURED', 'SEEN_REPLY', 'UNSET', 'FIXED_TIMEOUT', 'EXPECTED', 'OFFLOAD', 'HW_OFFLOAD'];

/**
 * Status bit names (-u), comma separated: the names conntrack prints them with (IPS_*), conntrack's
 * -u names and any beginning of one, UNSET (no bit). Filters also take UNREPLIED (SEEN_REPLY clear)
 * and !NAME (that bit clear), as conntrack does. `names` are the full names (with their !), `bits`
 * the bits to set.
 */
export function parseStatus(v: string, forFilter: boolean): { names: string[]; bits: number } {
  const items = v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  if (!items.length) throw invalid('status', `${JSON.stringify(v)} names no status bit`);
  let bits = 0;
  const names: string[] = [];
  for (const item of items) {
    const negated = forFilter && item.startsWith('!') && item.length > 1;
    const n = negated ? item.slice(1) : item;
    if (n === 'UNREPLIED' && forFilter && !negated) {
      names.push(n);
      continue;
    }
    const name = n in IPS ? n : CONNTRACK_STATUS.find((c) => c.startsWith(n));
    if (name === undefined) {
      const known = [...Object.keys(IPS), 'UNSET', ...(forFilter ? ['UNREPLIED', '!NAME'] : [])].join(', ');
      throw invalid('status', `${JSON.stringify(n)} is not a status bit: use ${known}`);
    }
    if (name === 'UNSET') continue; // no bit: conntrack's way of saying "none"
    names.push(negated ? `!${name}` : name);
    if (!negated) bits |= (IPS as Record<string, number>)[name];
  }
  return { names, bits };
}

/** conntrack -e's names, in the order its parser tries a beginning of one (`-e UPDATES`, `-e upd`). */
const CONNTRACK_EVENTS = ['ALL', 'NEW', 'UPDATES', 'DESTROY'];

/** Event kinds as `conntrack -E -e` takes them: NEW,UPDATES,DESTROY (any case, any beginning, comma separated), or ALL. */
export function parseEventKinds(v: string): EventKind[] {
  const items = v.split(',').map((s) => s.trim().toUpperCase());
  const use = 'use NEW, UPDATES, DESTROY or ALL, comma separated';
  if (!items.some(Boolean)) throw invalid('events', `no event type given: ${use}`);
  const kinds = new Set<EventKind>();
  for (const item of items) {
    const name = item && (item === 'UPDATE' ? 'UPDATES' : CONNTRACK_EVENTS.find((c) => c.startsWith(item)));
    if (!name) throw invalid('events', `${JSON.stringify(item)} is not an event type: ${use}`);
    if (name === 'ALL') for (const k of Object.keys(EVENT_GROUPS) as EventKind[]) kinds.add(k);
    else kinds.add((name === 'UPDATES' ? 'UPDATE' : name) as EventKind);
  }
  return [...kinds];
}

export interface Address {
  family: Family;
  bytes: Uint8Array; // 4 or 16, network order
}

function v6Bytes(s: string): Uint8Array {
  const out = new Uint8Array(16);
  let text = s;
  let tail: number[] = [];
  const dotted = text.lastIndexOf(':');
  if (text.includes('.')) {
    tail = text.slice(dotted + 1).split('.').map(Number);
    text = text.slice(0, dotted + 1) + '0:0';
  }
  const [head, rest] = text.split('::');
  const hs = head ? head.split(':') : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? hs : [...hs, ...Array(8 - hs.length - rs.length).fill('0'), ...rs];
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  if (tail.length) out.set(tail, 12);
  return out;
}

export function parseAddress(v: unknown, family?: Family, what = 'address'): Address {
  const s = String(v).trim();
  let addr: Address | undefined;
  if (isIPv4(s)) addr = { family: 'ipv4', bytes: Uint8Array.from(s.split('.').map(Number)) };
  else if (isIPv6(s) && !s.includes('%')) addr = { family: 'ipv6', bytes: v6Bytes(s) };
  if (!addr) throw invalid(what, `${JSON.stringify(v)} is not an IPv4 or IPv6 address`);
  if (family && addr.family !== family) throw invalid(what, `${s} is an ${addr.family} address but the family is ${family}`);
  return addr;
}

export interface Cidr extends Address {
  prefix: number;
}

/**
 * `ADDR` or `ADDR/PREFIX`. Host bits are cleared, as conntrack does: `10.0.0.5/24` (how `ip addr`
 * prints an interface's address) is 10.0.0.0/24.
 */
export function parseCidr(v: unknown, family?: Family, what = 'address'): Cidr {
  const s = String(v).trim();
  const slash = s.indexOf('/');
  const addr = parseAddress(slash < 0 ? s : s.slice(0, slash), family, what);
  const max = addr.bytes.length * 8;
  const prefix = slash < 0 ? max : integer(s.slice(slash + 1));
  if (prefix === undefined || prefix < 0 || prefix > max) throw invalid(what, `${JSON.stringify(v)} has a bad prefix length: use 0..${max}`);
  for (let bit = prefix; bit < max; bit++) addr.bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { ...addr, prefix };
}

/**
 * A netmask (`255.255.255.0`, `ffff:ffff:ffff:ffff::`: conntrack's --mask-src/--mask-dst) as the
 * prefix length it stands for. Only contiguous masks: what a CIDR prefix can say.
 */
export function parseNetmask(v: unknown, family?: Family, what = 'netmask'): { family: Family; prefix: number } {
  const a = parseAddress(v, family, what);
  const max = a.bytes.length * 8;
  const set = (bit: number) => (a.bytes[bit >> 3] & (0x80 >> (bit & 7))) !== 0;
  let prefix = 0;
  while (prefix < max && set(prefix)) prefix++;
  for (let bit = prefix; bit < max; bit++) {
    if (set(bit)) throw invalid(what, `${String(v).trim()} is not a contiguous netmask: use one such as ${a.family === 'ipv4' ? '255.255.255.0' : 'ffff:ffff:ffff:ffff::'}, or ADDR/PREFIX`);
  }
  return { family: a.family, prefix };
}

/**
 * A namespace given as a name (`ip netns add NAME` → /var/run/netns/NAME) or a path such as
 * /proc/PID/ns/net. It must exist now; the kernel rechecks when the socket is opened.
 */
export function netnsPath(v: string): string {
  let path: string;
  if (v.includes('/')) {
    if (!v.startsWith('/')) throw invalid('netns', `${JSON.stringify(v)}: give a namespace name (see \`ip netns list\`) or an absolute path like /proc/PID/ns/net`);
    path = v;
  } else {
    if (!/^[A-Za-z0-9_.-]+$/.test(v) || v === '.' || v === '..') throw invalid('netns', `${JSON.stringify(v)} is not a namespace name`);
    path = `/var/run/netns/${v}`;
  }
  if (!existsSync(path)) {
    throw new CtError('netns', 'ENOENT', 'environment', `network namespace ${JSON.stringify(v)} does not exist (${path})`, {
      hint: 'create it with `ip netns add`, or check `ip netns list`',
    });
  }
  // Checked without opening it: opening a FIFO would block for ever (stat and statfs do not open).
  let nsfs = false;
  try {
    nsfs = statSync(path).isFile() && statfsSync(path).type === NSFS_MAGIC;
  } catch { /* unreadable: not usable as a namespace either */ }
  if (!nsfs) {
    throw invalid('netns', `${JSON.stringify(v)}: ${path} is not a network namespace (not an nsfs file)`, 'give a name from `ip netns list` or a path like /proc/PID/ns/net');
  }
  return path;
}

/** statfs(2) f_type of the namespace filesystem (linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

export const PROTOCOLS_WITH_PORTS = new Set(['tcp', 'udp', 'udplite', 'sctp', 'dccp']);

/** Protocols whose NAT target may carry a port (for icmp/icmpv6 it is the ICMP id, as in the kernel). */
const NAT_PORT_PROTOCOLS = new Set([...PROTOCOLS_WITH_PORTS, 'icmp', 'icmpv6']);

const NAT_USAGE = 'use IP, IP:PORT or [IPV6]:PORT';

/**
 * `IP`, `IP:PORT`, `IPV6`, `[IPV6]` or `[IPV6]:PORT`, split as conntrack's split_address_and_port
 * splits it, the address checked; the port is the text after the colon (undefined: none).
 */
function splitNatTarget(v: unknown, what: string): { addr: Address; host: string; port?: string } {
  const s = String(v).trim();
  let host = s;
  let port: string | undefined;
  const bracket = s.match(/^\[([^\]]*)\](?::(.*))?$/);
  if (bracket) {
    host = bracket[1];
    port = bracket[2];
  } else if (s.indexOf(':') >= 0 && s.indexOf(':') === s.lastIndexOf(':')) {
    [host, port] = s.split(':'); // one colon: IPv4:PORT (an IPv6 address has at least two)
  }
  if (!host) throw invalid(what, `${JSON.stringify(v)} has no address: ${NAT_USAGE}`);
  if (!isIPv4(host) && !isIPv6(host)) throw invalid(what, `${JSON.stringify(host)} is not an IPv4 or IPv6 address: ${NAT_USAGE}`);
  return { addr: parseAddress(host, undefined, what), host, port };
}

function natPort(port: string, what: string): number {
  const n = integer(port);
  if (n === undefined || n < 1 || n > 65535) throw invalid(what, `${JSON.stringify(port)} is not a port: use an integer from 1 to 65535`);
  return n;
}

/**
 * A NAT target as `conntrack -I --src-nat/--dst-nat` takes it: `IP`, `IP:PORT`, `IPV6`,
 * `[IPV6]` or `[IPV6]:PORT`. The address must be of the tuple's family; a port (1..65535) only
 * for protocols that have one.
 */
export function parseNatTarget(v: unknown, family: Family, protocol: string, what: string): { addr: Uint8Array; port?: number } {
  const { addr, host, port } = splitNatTarget(v, what);
  if (addr.family !== family) throw invalid(what, `${host} is an ${addr.family} address but the entry is ${family}: NAT keeps the family`);
  if (port === undefined) return { addr: addr.bytes };
  if (!NAT_PORT_PROTOCOLS.has(protocol)) throw invalid(what, `${protocol} has no ports: give the address alone`);
  return { addr: addr.bytes, port: natPort(port, what) };
}

/**
 * A NAT filter (-n/-g/-j ADDR[:PORT]) as the SDK reads it: the address (IPv6 in brackets when a
 * port follows) and the port, checked; `family` when the other flags set one.
 */
export function parseNatFilter(v: unknown, family: Family | undefined, what: string): { text: string; family: Family } {
  const { addr, host, port } = splitNatTarget(v, what);
  if (family && addr.family !== family) throw invalid(what, `${host} is an ${addr.family} address but the family is ${family}`);
  if (port === undefined) return { text: host, family: addr.family };
  const n = natPort(port, what);
  return { text: addr.family === 'ipv6' ? `[${host}]:${n}` : `${host}:${n}`, family: addr.family };
}
