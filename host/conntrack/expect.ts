// The expectation table (ctnetlink's expect subsystem, NFNL_SUBSYS_CTNETLINK_EXP): what a helper
// (tftp, ftp, sip, ...) tells the kernel to expect for a related flow. conntrack -L/-G/-D/-I/-F/
// -C/-S/-E expect. Requests are built here and nowhere else; a reply is decoded into a typed
// Expectation (its tuples read by tuple.ts's decoder). The plugin ABI has no expectation records,
// so the CLI prints these itself (host/cli/commands/expect.ts), as conntrack does.
import { AttrDecoder, type Encoder } from '../netlink/attr.js';
import { NETLINK_ADD_MEMBERSHIP, NETLINK_NETFILTER, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_HDRLEN, SOL_NETLINK } from '../netlink/constants.js';
import { NetlinkConnection, RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { beginMessage, endMessage, NFGENMSG_LEN, splitMessages } from '../netlink/message.js';
import { Receiver } from '../netlink/receive.js';
import { openNetlinkSocket, type NetlinkSocketLike } from '../netlink/socket.js';
import { AF_INET, AF_INET6, type EventKind } from './constants.js';
import { CtError, fromNetlink } from './errors.js';
import { decodeTuple, encodeTuple, type FlowTuple, type Tuple } from './tuple.js';
import { familyNumber, netnsPath, type Family } from './validate.js';

const NFNL_SUBSYS_CTNETLINK_EXP = 2;
/** IPCTNL_MSG_EXP_*. */
const MSG = { NEW: 0, GET: 1, DELETE: 2, GET_STATS_CPU: 3 } as const;
const expType = (m: number) => (NFNL_SUBSYS_CTNETLINK_EXP << 8) | m;
/** CTA_EXPECT_*. */
const CTA_EXPECT = { MASTER: 1, TUPLE: 2, MASK: 3, TIMEOUT: 4, ID: 5, HELP_NAME: 6, ZONE: 7, FLAGS: 8, CLASS: 9 } as const;
/** CTA_STATS_EXP_*, as conntrack -S expect names them. */
const STATS_NAMES: Record<number, string> = { 1: 'expect_new', 2: 'expect_create', 3: 'expect_delete' };
/** NFNLGRP_CONNTRACK_EXP_NEW, _UPDATE, _DESTROY. */
const EVENT_GROUPS: Record<EventKind, number> = { NEW: 4, UPDATE: 5, DESTROY: 6 };
/** NF_CT_EXPECT_* flags. */
export const EXPECT_FLAGS = { PERMANENT: 1, INACTIVE: 2, USERSPACE: 4 } as const;

export interface Expectation {
  family: Family;
  /** The layer-4 protocol of the expected flow. */
  protocol: number;
  /** The flow expected, the mask it is compared under, and the flow that expects it. */
  expected: FlowTuple;
  mask: FlowTuple;
  master: FlowTuple;
  timeout?: number;
  id?: number;
  helper?: string;
  zone?: number;
  flags?: number;
  class?: number;
  /** Events: which; undefined in a listing. */
  event?: EventKind;
}

/** An expectation to create (conntrack -I expect): the master flow, the expected tuple and its mask. */
export interface NewExpectation {
  master: Tuple;
  expected: Tuple;
  mask: Tuple;
  timeout: number;
  /** NF_CT_EXPECT_* flags (EXPECT_FLAGS). */
  flags?: number;
}

/** One expectation message from the kernel (`event`: from an event socket); undefined when it is not one (or is malformed). */
export function decodeExpectation(msg: Uint8Array, event = false): Expectation | undefined {
  if (msg.length < NLMSG_HDRLEN + NFGENMSG_LEN) return undefined;
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const type = view.getUint16(4, true);
  if (type >> 8 !== NFNL_SUBSYS_CTNETLINK_EXP) return undefined;
  const af = msg[NLMSG_HDRLEN];
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  const e: Partial<Expectation> = { family: af === AF_INET ? 'ipv4' : 'ipv6' };
  if (event && (type & 0xff) === MSG.NEW) e.event = view.getUint16(6, true) & (NLM_F_CREATE | NLM_F_EXCL) ? 'NEW' : 'UPDATE';
  else if (event && (type & 0xff) === MSG.DELETE) e.event = 'DESTROY';
  const d = new AttrDecoder(msg, NLMSG_HDRLEN + NFGENMSG_LEN, msg.length);
  while (d.next()) {
    switch (d.type) {
      case CTA_EXPECT.TUPLE: { const t = decodeTuple(d.children()); e.expected = t.tuple; e.protocol = t.protocol; break; }
      case CTA_EXPECT.MASK: e.mask = decodeTuple(d.children()).tuple; break;
      case CTA_EXPECT.MASTER: e.master = decodeTuple(d.children()).tuple; break;
      case CTA_EXPECT.TIMEOUT: e.timeout = d.u32be(); break;
      case CTA_EXPECT.ID: e.id = d.u32be(); break;
      case CTA_EXPECT.HELP_NAME: e.helper = d.string(); break;
      case CTA_EXPECT.ZONE: e.zone = d.u16be(); break;
      case CTA_EXPECT.FLAGS: e.flags = d.u32be(); break;
      case CTA_EXPECT.CLASS: e.class = d.u32be(); break;
    }
  }
  if (d.malformed || !e.expected || !e.mask || !e.master || e.protocol === undefined || e.protocol < 0) return undefined;
  return e as Expectation;
}

function request(enc: Encoder, seq: number, msg: number, flags: number, family: number, attrs?: (enc: Encoder) => void): void {
  const at = beginMessage(enc, expType(msg), NLM_F_REQUEST | flags, seq, family);
  attrs?.(enc);
  endMessage(enc, at);
}

/** The expectation table of one network namespace, over a socket of its own. */
export class ExpectTable {
  private constructor(private readonly conn: NetlinkConnection, private readonly netns: string | undefined) {}

  static open(netns?: string): ExpectTable {
    const path = netns === undefined ? undefined : netnsPath(netns);
    let sock: NetlinkSocketLike | undefined;
    try {
      sock = openNetlinkSocket(NETLINK_NETFILTER, path);
      return new ExpectTable(new NetlinkConnection(sock), netns);
    } catch (e) {
      sock?.close();
      throw fromNetlink('open', e);
    }
  }

  /** Every expectation (of one family when given: the kernel filters by the request's family). */
  listSync(family?: Family): Expectation[] {
    const out: Expectation[] = [];
    this.run('dump expect', () =>
      this.conn.dumpSync((enc, seq) => request(enc, seq, MSG.GET, NLM_F_DUMP, family ? familyNumber(family) : 0), new Uint8Array(RECV_BUFFER_BYTES), (b) => {
        for (const m of splitMessages(b)) {
          const e = decodeExpectation(m);
          if (e) out.push(e);
        }
      }, () => void (out.length = 0)),
    );
    return out;
  }

  /** The expectation whose expected tuple `t` is (under its mask); undefined when there is none. */
  getSync(t: Tuple): Expectation | undefined {
    let found: Expectation | undefined;
    try {
      this.run('get expect', () =>
        this.conn.requestSync((enc, seq) => request(enc, seq, MSG.GET, NLM_F_ACK, familyNumber(t.family), (e) => encodeTuple(e, CTA_EXPECT.TUPLE, t)), (m) => void (found ??= decodeExpectation(m))),
      );
    } catch (e) {
      if (e instanceof CtError && e.code === 'ENOENT') return undefined;
      throw e;
    }
    return found;
  }

  /** Deletes the expectation whose expected tuple `t` is; a 'notfound' CtError when there is none. */
  deleteSync(t: Tuple): void {
    try {
      this.run('delete expect', () => this.conn.requestSync((enc, seq) => request(enc, seq, MSG.DELETE, NLM_F_ACK, familyNumber(t.family), (e) => encodeTuple(e, CTA_EXPECT.TUPLE, t))));
    } catch (e) {
      if (e instanceof CtError && e.code === 'ENOENT') throw new CtError('delete expect', 'ENOENT', 'notfound', 'no such expectation', { hint: 'list them with `ctplug list expect`' });
      throw e;
    }
  }

  /** Deletes every expectation (the kernel's expectation flush: no tuple, no helper name). */
  flushSync(): void {
    this.run('flush expect', () => this.conn.requestSync((enc, seq) => request(enc, seq, MSG.DELETE, NLM_F_ACK, AF_INET)));
  }

  /** Creates one; the master flow must exist and have a helper (the kernel: ENOENT, EOPNOTSUPP). */
  createSync(n: NewExpectation): void {
    this.run('create expect', () =>
      this.conn.requestSync((enc, seq) => request(enc, seq, MSG.NEW, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, familyNumber(n.expected.family), (e) => {
        encodeTuple(e, CTA_EXPECT.MASTER, n.master);
        encodeTuple(e, CTA_EXPECT.TUPLE, n.expected);
        encodeTuple(e, CTA_EXPECT.MASK, n.mask);
        e.u32be(CTA_EXPECT.TIMEOUT, n.timeout);
        if (n.flags !== undefined) e.u32be(CTA_EXPECT.FLAGS, n.flags);
      })),
    );
  }

  /** Per-CPU expectation counters, as conntrack -S expect prints them (cpu first). */
  statsSync(): Record<string, number>[] {
    const cpus: Record<string, number>[] = [];
    this.run('stats expect', () =>
      this.conn.dumpSync((enc, seq) => request(enc, seq, MSG.GET_STATS_CPU, NLM_F_DUMP, 0), new Uint8Array(RECV_BUFFER_BYTES), (b) => {
        for (const msg of splitMessages(b)) {
          const cpu: Record<string, number> = { cpu: new DataView(msg.buffer, msg.byteOffset).getUint16(NLMSG_HDRLEN + 2, false) };
          for (const d = new AttrDecoder(msg, NLMSG_HDRLEN + NFGENMSG_LEN, msg.length); d.next(); ) {
            if (STATS_NAMES[d.type] && d.length === 4) cpu[STATS_NAMES[d.type]] = d.u32be()!;
          }
          cpus.push(cpu);
        }
      }),
    );
    return cpus;
  }

  /**
   * Expectation events (conntrack -E expect) until `signal` aborts: each is decoded and handed to
   * `onEvent`. A socket of its own, joined to the expectation groups.
   */
  async events(kinds: EventKind[], onEvent: (e: Expectation) => void, signal: AbortSignal): Promise<void> {
    const sock = openNetlinkSocket(NETLINK_NETFILTER, this.netns === undefined ? undefined : netnsPath(this.netns));
    try {
      for (const k of kinds) sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, EVENT_GROUPS[k]);
      const rx = new Receiver(sock);
      const buf = new Uint8Array(RECV_BUFFER_BYTES);
      for (;;) {
        const n = await rx.next(buf, signal, 'expectation events');
        for (const m of splitMessages(buf, n)) {
          const e = decodeExpectation(m, true);
          if (e?.event) onEvent(e);
        }
      }
    } finally {
      sock.close();
    }
  }

  close(): void {
    this.conn.close();
  }

  private run<T>(op: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw fromNetlink(op, e);
    }
  }
}
