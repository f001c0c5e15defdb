// A fake ctnetlink kernel behind the same socket seam as the native addon: an in-memory
// conntrack table that answers dumps (with zone/mark/family filters), get, create, delete
// (by tuple+zone+id, or filtered flush), stats and NOOP acks the way Linux does. It lets the
// whole host stack, the plugin runtime and plugin authors' tests run with no root.
// Past ~400 lines on purpose: one message dispatcher for every ctnetlink request the host sends, kept
// together so a reader sees the whole fake; the table (fake-table.ts) and CTA_FILTER (fake-filter.ts) live apart.
import { AttrDecoder, Encoder } from '../../host/netlink/attr.js';
import {
  NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP, NLM_F_ACK, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_MULTI,
} from '../../host/netlink/constants.js';
import { MessageReader, NFGENMSG_LEN, beginMessage, endMessage } from '../../host/netlink/message.js';
import { AbortError } from '../../host/netlink/abort.js';
import type { NetlinkSocketLike } from '../../host/netlink/socket.js';
import {
  CTA, CTA_STATS_GLOBAL_ENTRIES, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_GET_STATS,
  IPCTNL_MSG_CT_GET_STATS_CPU, IPCTNL_MSG_CT_NEW, IPS, NFNL_SUBSYS_CTNETLINK, msgType,
} from '../../host/conntrack/constants.js';
import { createRequest } from '../../host/conntrack/request.js';
import { scanEntry, ZONE_DIR } from '../../host/conntrack/scope.js';
import { kernelFiltersDeleteByZone } from '../../host/conntrack/conntrack.js';
import { toNewEntry, type CreateSpec } from '../../host/conntrack/new-entry.js';
import { parseFilter, type TupleFilter } from './fake-filter.js';
import { FakeTable, type Row, tupleKey } from './fake-table.js';

const EPERM = 1, ENOENT = 2, EBUSY = 16, EEXIST = 17, EINVAL = 22, EOPNOTSUPP = 95;
const DATAGRAM_BYTES = 32 * 1024;


/** Faults a test can inject: the next matching requests fail with `errno`. */
export interface Fault {
  type: 'delete' | 'create' | 'update' | 'dump' | 'any';
  errno: number;
  count: number;
}

export interface FakeKernelOptions {
  /**
   * The kernel release to behave as (uname -r); default a current one. Before 6.8 the kernel
   * ignores CTA_ZONE in dump filters and in filtered deletes (which then flush everything).
   */
  release?: string;
  /**
   * Whether it knows CTA_FILTER in dump requests (Linux 5.9+): default yes. Then, as 6.18 does, an
   * undefined flag bit is EINVAL and AF_UNSPEC with CTA_FILTER is EOPNOTSUPP, and the original
   * tuple's protocol, IPv4 addresses and tcp/udp ports are matched exactly; without it, CTA_FILTER
   * is ignored (the whole dump comes back).
   */
  ctaFilter?: boolean;
}


export class FakeKernel {
  private readonly table = new FakeTable();
  private nextId = 1;
  private readonly zoneFilters: boolean;
  private readonly ctaFilter: boolean;
  private faults: Fault[] = [];
  /** Simulates a process without CAP_NET_ADMIN: every send is refused with one EPERM. */
  unprivileged = false;
  /** Counters tests can assert on. */
  readonly calls = { sends: 0, messages: 0 };
  /** Every dump request received: its nfgenmsg family and top-level attributes (whole, header included). */
  readonly dumpRequests: { family: number; attrs: Map<number, Uint8Array> }[] = [];

  constructor(opts: FakeKernelOptions = {}) {
    this.zoneFilters = opts.release === undefined || kernelFiltersDeleteByZone(opts.release);
    this.ctaFilter = opts.ctaFilter ?? true;
  }

  /** A table seeded with typed flow descriptions (the same encoder `create` uses). */
  static fromSpecs(specs: CreateSpec[], opts?: FakeKernelOptions): FakeKernel {
    const k = new FakeKernel(opts);
    const enc = new Encoder();
    for (const s of specs) {
      enc.reset();
      createRequest(enc, 0, toNewEntry(s));
      const r = k.insert(enc.bytes().slice());
      if (r) throw new Error(`fake kernel: cannot seed ${JSON.stringify(s)}: errno ${r}`);
    }
    return k;
  }

  /** One entry message as the kernel reports it (use, id), for `spec`, with conntrack id `id`. */
  static entry(spec: CreateSpec, id: number): Uint8Array {
    const k = new FakeKernel();
    k.nextId = id;
    const enc = new Encoder();
    createRequest(enc, 0, toNewEntry(spec));
    const r = k.insert(enc.bytes().slice());
    if (r) throw new Error(`fake kernel: cannot encode ${JSON.stringify(spec)}: errno ${r}`);
    return k.messages()[0];
  }

  /** A table holding entry messages exactly as a kernel produced them (recorded fixtures). */
  static fromMessages(msgs: Iterable<Uint8Array>, opts?: FakeKernelOptions): FakeKernel {
    const k = new FakeKernel(opts);
    for (const m of msgs) {
      const s = scanEntry(m);
      if (!s) throw new Error('fake kernel: not a conntrack entry message');
      const reply = s.replyTupleOffset < 0 ? undefined : m.subarray(s.replyTupleOffset, s.replyTupleOffset + s.replyTupleLength);
      const keys = k.table.keys(s.family, s.zone, s.zoneDir, s.origTuple, reply);
      if (!keys) throw new Error('fake kernel: two entries with the same tuple in the same zone');
      const id = s.id ?? k.nextId++;
      k.nextId = Math.max(k.nextId, id + 1);
      // A copy in its own buffer: Buffer#slice (a Buffer's messages are Buffers) would share the caller's memory.
      k.table.add({ ...keys, family: s.family, zone: s.zone, zoneDir: s.zoneDir, mark: s.mark, id, msg: new Uint8Array(m) });
    }
    return k;
  }

  /** The entries now in the table, as kernel messages. */
  messages(): Uint8Array[] {
    return [...this.table.rows.values()].map((r) => r.msg);
  }

  get size(): number {
    return this.table.rows.size;
  }

  inject(f: Fault): void {
    this.faults.push({ ...f });
  }

  socket(): NetlinkSocketLike {
    const queue: Uint8Array[] = [];
    return {
      send: (data) => {
        this.calls.sends++;
        this.handle(data, queue);
        return data.length;
      },
      recv: (buf, dontwait) => {
        const d = queue.shift();
        if (!d) {
          if (dontwait) return -1;
          throw new Error('fake kernel: recv would block forever (no answer queued)');
        }
        if (d.length > buf.length) throw Object.assign(new Error('recv: EMSGSIZE'), { code: 'EMSGSIZE' });
        buf.set(d);
        return d.length;
      },
      // The fake answers every request at once, so an answer is either queued or never coming.
      readable: (signal) => (queue.length ? Promise.resolve() : new Promise<void>((_, reject) => {
        if (signal?.aborted) reject(new AbortError('waiting for the kernel', signal.reason));
        else signal?.addEventListener('abort', () => reject(new AbortError('waiting for the kernel', signal.reason)), { once: true });
      })),
      setsockopt: () => undefined,
      getsockopt: () => 0,
      attachFilter: () => undefined,
      close: () => undefined,
    };
  }

  private fault(type: Fault['type']): number {
    const f = this.faults.find((x) => x.count > 0 && (x.type === type || x.type === 'any'));
    if (!f) return 0;
    f.count--;
    return f.errno;
  }

  private handle(data: Uint8Array, queue: Uint8Array[]): void {
    const r = new MessageReader(data);
    let first = true;
    while (r.next()) {
      const h = { ...r.header };
      const msg = r.message();
      this.calls.messages++;
      if (this.unprivileged) {
        if (first) queue.push(ack(msg, EPERM));
        return; // nfnetlink refuses the whole send once
      }
      first = false;
      if (h.type === NLMSG_NOOP) {
        if (h.flags & NLM_F_ACK) queue.push(ack(msg, 0));
        continue;
      }
      if (h.type >> 8 !== NFNL_SUBSYS_CTNETLINK) {
        queue.push(ack(msg, EOPNOTSUPP));
        continue;
      }
      const err = this.dispatch(h.type & 0xff, h.flags, h.seq, msg, queue);
      if (err || h.flags & NLM_F_ACK) queue.push(ack(msg, err));
    }
  }

  /** Returns an errno for the ack (0 = success); dumps queue their own answers. */
  private dispatch(type: number, flags: number, seq: number, msg: Uint8Array, queue: Uint8Array[]): number {
    const family = msg[NLMSG_HDRLEN];
    const attrs = topAttrs(msg);
    if (!attrs) return EINVAL;
    switch (type) {
      case IPCTNL_MSG_CT_GET:
        if ((flags & NLM_F_DUMP) === NLM_F_DUMP) {
          const err = this.fault('dump');
          if (err) return err;
          this.dumpRequests.push({ family, attrs });
          const filter = this.ctaFilter ? parseFilter(family, attrs) : undefined;
          if (typeof filter === 'number') return filter;
          this.dump(seq, family, attrs, queue, filter);
          return 0;
        } else {
          const row = this.table.lookup(family, attrs);
          if (row === 'EINVAL') return EINVAL;
          if (!row) return ENOENT;
          queue.push(withSeq(row.msg, seq, 0));
          return 0;
        }
      case IPCTNL_MSG_CT_NEW: {
        if (!(flags & NLM_F_CREATE)) {
          const err = this.fault('update');
          if (err) return err;
          const row = this.table.lookup(family, attrs);
          if (row === 'EINVAL') return EINVAL;
          return row ? this.change(row, attrs) : ENOENT;
        }
        const err = this.fault('create');
        return err || this.insert(msg);
      }
      case IPCTNL_MSG_CT_DELETE: {
        const err = this.fault('delete');
        if (err) return err;
        if (!attrs.has(CTA.TUPLE_ORIG) && !attrs.has(CTA.TUPLE_REPLY)) {
          const version = msg[NLMSG_HDRLEN + 1];
          for (const row of [...this.table.rows.values()]) if (this.matches(row, version ? family : 0, attrs)) this.table.remove(row);
          return 0;
        }
        const row = this.table.lookup(family, attrs);
        if (row === 'EINVAL') return EINVAL;
        if (!row) return ENOENT;
        const id = attrs.get(CTA.ID);
        if (id && new DataView(id.buffer, id.byteOffset).getUint32(4, false) !== row.id) return ENOENT;
        this.table.remove(row);
        return 0;
      }
      case IPCTNL_MSG_CT_GET_STATS: {
        const enc = new Encoder();
        const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_GET_STATS), 0, seq, 0);
        enc.u32be(CTA_STATS_GLOBAL_ENTRIES, this.table.rows.size);
        endMessage(enc, at);
        queue.push(enc.bytes().slice());
        return 0;
      }
      case IPCTNL_MSG_CT_GET_STATS_CPU: {
        const enc = new Encoder();
        endMessage(enc, beginMessage(enc, msgType(IPCTNL_MSG_CT_GET_STATS_CPU), NLM_F_MULTI, seq, 0));
        endMessage(enc, beginMessage(enc, NLMSG_DONE, NLM_F_MULTI, seq, 0));
        queue.push(enc.bytes().slice());
        return 0;
      }
      default:
        return EOPNOTSUPP;
    }
  }

  /** Dump and flush filters: the zone filter matches the entry's zone whatever its direction (from 6.8). */
  private matches(row: Row, family: number, attrs: Map<number, Uint8Array>): boolean {
    if (family && row.family !== family) return false;
    if (this.zoneFilters && attrs.has(CTA.ZONE) && row.zone !== zoneOf(attrs)) return false;
    const mark = attrs.get(CTA.MARK);
    if (mark) {
      const m = new DataView(mark.buffer, mark.byteOffset).getUint32(4, false);
      const maskAttr = attrs.get(CTA.MARK_MASK);
      const mask = maskAttr ? new DataView(maskAttr.buffer, maskAttr.byteOffset).getUint32(4, false) : 0xffffffff;
      if (((row.mark & mask) >>> 0) !== ((m & mask) >>> 0)) return false;
    }
    return true;
  }

  private dump(seq: number, family: number, attrs: Map<number, Uint8Array>, queue: Uint8Array[], filter?: TupleFilter): void {
    let parts: Uint8Array[] = [];
    let size = 0;
    const flushDatagram = () => {
      if (!parts.length) return;
      const d = new Uint8Array(size);
      let at = 0;
      for (const p of parts) d.set(p, at), (at += p.length);
      queue.push(d);
      (parts = []), (size = 0);
    };
    for (const row of this.table.rows.values()) {
      if (!this.matches(row, family, attrs) || (filter && !filter.matches(row.msg))) continue;
      const m = withSeq(row.msg, seq, NLM_F_MULTI);
      if (size + m.length > DATAGRAM_BYTES) flushDatagram();
      parts.push(m);
      size += m.length;
    }
    const enc = new Encoder();
    endMessage(enc, beginMessage(enc, NLMSG_DONE, NLM_F_MULTI, seq, 0));
    parts.push(enc.bytes().slice());
    size += enc.len;
    flushDatagram();
  }

  /**
   * Mark (with mask, as the kernel computes it), timeout, status and label changes, rewritten in
   * the stored message. Status follows ctnetlink_change_status: CTA_STATUS is the whole new word;
   * EXPECTED/CONFIRMED/DYING may not differ, SEEN_REPLY/ASSURED may not be cleared (EBUSY), other
   * unchangeable bits are ignored. Labels: (old & ~mask) | (new & mask), per u32 word.
   */
  private change(row: Row, attrs: Map<number, Uint8Array>): number {
    const be32 = (a: Uint8Array) => new DataView(a.buffer, a.byteOffset).getUint32(4, false);
    const markAttr = attrs.get(CTA.MARK);
    const maskAttr = attrs.get(CTA.MARK_MASK);
    const timeout = attrs.get(CTA.TIMEOUT);
    const statusAttr = attrs.get(CTA.STATUS);
    const labelsAttr = attrs.get(CTA.LABELS);
    const labelsMaskAttr = attrs.get(CTA.LABELS_MASK);
    const cur = topAttrs(row.msg)!;
    let status: number | undefined;
    if (statusAttr) {
      const old = cur.has(CTA.STATUS) ? be32(cur.get(CTA.STATUS)!) : 0;
      const want = be32(statusAttr);
      const d = old ^ want;
      if (d & (IPS.EXPECTED | IPS.CONFIRMED | IPS.DYING)) return EBUSY;
      if (d & IPS.SEEN_REPLY && !(want & IPS.SEEN_REPLY)) return EBUSY;
      if (d & IPS.ASSURED && !(want & IPS.ASSURED)) return EBUSY;
      const unchangeable = IPS.SRC_NAT | IPS.DST_NAT | IPS.SRC_NAT_DONE | IPS.DST_NAT_DONE | IPS.EXPECTED | IPS.CONFIRMED | IPS.DYING
        | IPS.SEQ_ADJUST | IPS.TEMPLATE | IPS.UNTRACKED | IPS.HELPER | IPS.OFFLOAD | IPS.HW_OFFLOAD;
      status = (old | (want & ~unchangeable)) >>> 0;
    }
    let labels: Uint8Array | undefined;
    if (labelsAttr) {
      const data = labelsAttr.subarray(4);
      const mask = labelsMaskAttr?.subarray(4);
      if (data.length % 4 || (mask && mask.length !== data.length)) return EINVAL;
      const oldAttr = cur.get(CTA.LABELS);
      labels = new Uint8Array(16);
      if (oldAttr) labels.set(oldAttr.subarray(4, 4 + 16));
      for (let i = 0; i < Math.min(16, data.length); i++) labels[i] = (labels[i] & ~(mask ? mask[i] : 0xff)) | (data[i] & (mask ? mask[i] : 0xff));
    }
    if (markAttr) row.mark = ((row.mark & (maskAttr ? ~be32(maskAttr) : 0)) ^ be32(markAttr)) >>> 0;
    const enc = new Encoder();
    const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_NEW), 0, 0, row.family);
    const d = new AttrDecoder(row.msg, NLMSG_HDRLEN + NFGENMSG_LEN, row.msg.length);
    let wroteLabels = false;
    while (d.next()) {
      if (d.type === CTA.MARK) enc.u32be(CTA.MARK, row.mark);
      else if (d.type === CTA.TIMEOUT && timeout) enc.raw(timeout);
      else if (d.type === CTA.STATUS && status !== undefined) enc.u32be(CTA.STATUS, status);
      else if (d.type === CTA.LABELS && labels) (enc.bytesAttr(CTA.LABELS, labels), (wroteLabels = true));
      else enc.raw(d.rawAttr());
    }
    if (labels && !wroteLabels) enc.bytesAttr(CTA.LABELS, labels);
    endMessage(enc, at);
    row.msg = enc.bytes().slice();
    return 0;
  }

  /** Inserts a CT_NEW request as a table entry the way the kernel reports it back. */
  private insert(req: Uint8Array): number {
    const attrs = topAttrs(req);
    const tuple = attrs?.get(CTA.TUPLE_ORIG);
    const reply = attrs?.get(CTA.TUPLE_REPLY);
    if (!attrs || !tuple || !reply || !attrs.get(CTA.TIMEOUT)) return EINVAL;
    const status = attrs.get(CTA.STATUS);
    if (!status || !(new DataView(status.buffer, status.byteOffset).getUint32(4, false) & IPS.CONFIRMED)) return EBUSY;
    const family = req[NLMSG_HDRLEN];
    // One zone per entry (ctnetlink_parse_tuple_zone): CTA_ZONE, or one tuple's CTA_TUPLE_ZONE.
    let zone = zoneOf(attrs), zoneDir: number = ZONE_DIR.BOTH;
    for (const [t, dir] of [[tuple, ZONE_DIR.ORIG], [reply, ZONE_DIR.REPLY]] as const) {
      const tz = tupleKey(t).zone;
      if (tz < 0) continue;
      if (zone !== 0) return EINVAL;
      zone = tz;
      zoneDir = dir;
    }
    const keys = this.table.keys(family, zone, zoneDir, tuple, reply);
    if (!keys) return EEXIST;
    const id = this.nextId++;
    const enc = new Encoder();
    const at = beginMessage(enc, msgType(IPCTNL_MSG_CT_NEW), 0, 0, family);
    for (const t of [CTA.TUPLE_ORIG, CTA.TUPLE_REPLY, CTA.STATUS, CTA.TIMEOUT, CTA.PROTOINFO, CTA.MARK]) {
      const a = attrs.get(t);
      if (a) enc.raw(a);
      else if (t === CTA.MARK) enc.u32be(CTA.MARK, 0);
    }
    if (zone && zoneDir === ZONE_DIR.BOTH) enc.u16be(CTA.ZONE, zone); // the kernel omits CTA_ZONE for zone 0
    enc.u32be(CTA.USE, 1).u32be(CTA.ID, id);
    endMessage(enc, at);
    const markAttr = attrs.get(CTA.MARK);
    const mark = markAttr ? new DataView(markAttr.buffer, markAttr.byteOffset).getUint32(4, false) : 0;
    this.table.add({ ...keys, family, zone, zoneDir, mark, id, msg: enc.bytes().slice() });
    return 0;
  }
}

function zoneOf(attrs: Map<number, Uint8Array>): number {
  const z = attrs.get(CTA.ZONE);
  return z ? new DataView(z.buffer, z.byteOffset).getUint16(4, false) : 0;
}

/** Top-level attributes of a ctnetlink message (whole attribute bytes), or null if malformed. */
function topAttrs(msg: Uint8Array): Map<number, Uint8Array> | null {
  const out = new Map<number, Uint8Array>();
  const d = new AttrDecoder(msg, NLMSG_HDRLEN + NFGENMSG_LEN, msg.length);
  while (d.next()) out.set(d.type, d.rawAttr());
  return d.malformed ? null : out;
}

function withSeq(msg: Uint8Array, seq: number, flags: number): Uint8Array {
  const m = new Uint8Array(msg); // a copy with its own buffer, whatever `msg` is a view of
  const v = new DataView(m.buffer);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq, true);
  return m;
}

/** An NLMSG_ERROR answer (capped: the request's header only), as with NETLINK_CAP_ACK. */
function ack(req: Uint8Array, errno: number): Uint8Array {
  const out = new Uint8Array(NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint16(4, NLMSG_ERROR, true);
  v.setUint16(6, NLM_F_CAPPED, true);
  v.setUint32(8, new DataView(req.buffer, req.byteOffset).getUint32(8, true), true);
  v.setInt32(NLMSG_HDRLEN, -errno, true);
  out.set(req.subarray(0, NLMSG_HDRLEN), NLMSG_HDRLEN + 4);
  return out;
}
