// Entry: a zero-copy view over one ctnetlink conntrack message (nlmsghdr + nfgenmsg +
// attributes). `reset()` indexes the top-level attributes once; nested ones (tuples,
// protoinfo, counters, timestamps) are decoded on first access. One Entry object is
// reused for every message of a batch: never keep it (or pointers from it) past onEntry.
import { AttrIter } from "./attr";
import { be16, be32, be64 } from "./bytes";
import { Tuple } from "./tuple";
import {
  NLMSG_HDRLEN, CT_ATTRS_OFFSET, CTA_INDEX_MAX, CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_TUPLE_MASTER,
  CTA_STATUS, CTA_PROTOINFO, CTA_HELP, CTA_TIMEOUT, CTA_MARK, CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY,
  CTA_USE, CTA_ID, CTA_SECMARK, CTA_ZONE, CTA_SECCTX, CTA_TIMESTAMP, CTA_LABELS,
  CTA_PROTOINFO_TCP, CTA_PROTOINFO_DCCP, CTA_PROTOINFO_SCTP, CTA_PROTOINFO_TCP_STATE,
  CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, CTA_PROTOINFO_TCP_WSCALE_REPLY, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL,
  CTA_PROTOINFO_TCP_FLAGS_REPLY, CTA_COUNTERS_PACKETS, CTA_COUNTERS_BYTES, CTA_COUNTERS32_PACKETS,
  CTA_COUNTERS32_BYTES, CTA_TIMESTAMP_START, CTA_TIMESTAMP_STOP, CTA_HELP_NAME, CTA_SECCTX_NAME,
  NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_DELETE, NLM_F_CREATE, NLM_F_EXCL,
} from "./ctnetlink";

/** Entry.eventType values. */
export const EVENT_NEW: i32 = 1;
export const EVENT_UPDATE: i32 = 2;
export const EVENT_DESTROY: i32 = 3;
import { IPS_SEEN_REPLY, IPS_ASSURED } from "./status";

const P_ORIG: u32 = 1, P_REPLY: u32 = 2, P_MASTER: u32 = 4, P_PROTOINFO: u32 = 8,
  P_CNT_ORIG: u32 = 16, P_CNT_REPLY: u32 = 32, P_TSTAMP: u32 = 64, P_HELP: u32 = 128, P_SECCTX: u32 = 256;

const it1 = new AttrIter();
const it2 = new AttrIter();

export class Entry {
  /** The whole message (as delivered; what `delete` sends back). */
  ptr: usize = 0;
  len: i32 = 0;
  /** nlmsg_type / nlmsg_flags. */
  msgType: i32 = 0;
  msgFlags: i32 = 0;
  /** A top-level attribute had a bad length; attributes before it are still indexed. */
  malformed: bool = false;

  private seen: u32 = 0;
  private aPtr: StaticArray<u32> = new StaticArray<u32>(CTA_INDEX_MAX);
  private aLen: StaticArray<i32> = new StaticArray<i32>(CTA_INDEX_MAX);
  private parsed: u32 = 0;

  private _orig: Tuple = new Tuple();
  private _reply: Tuple = new Tuple();
  private _master: Tuple = new Tuple();

  private _tcpState: i32 = -1;
  private _sctpState: i32 = -1;
  private _dccpState: i32 = -1;
  private _tcpWscaleOrig: i32 = -1;
  private _tcpWscaleReply: i32 = -1;
  private _tcpFlagsOrig: i32 = -1;
  private _tcpFlagsReply: i32 = -1;
  private _cnt: StaticArray<u64> = new StaticArray<u64>(4); // orig pk, orig bytes, reply pk, reply bytes
  private _hasCnt: u32 = 0; // bit0 orig, bit1 reply
  private _tsStart: u64 = 0;
  private _tsStop: u64 = 0;
  private _hasTs: u32 = 0; // bit0 start, bit1 stop
  private _helperPtr: usize = 0;
  private _helperLen: i32 = 0;
  private _secctxPtr: usize = 0;
  private _secctxLen: i32 = 0;

  /**
   * Point this view at the message at [ptr, ptr+len). Returns false (and leaves an empty
   * view) when it is not a whole ctnetlink message: shorter than its header, nlmsg_len not
   * within len, or another netfilter subsystem.
   */
  reset(ptr: usize, len: i32): bool {
    this.seen = 0; this.parsed = 0; this.malformed = false;
    this.ptr = ptr; this.len = 0; this.msgType = 0; this.msgFlags = 0;
    if (len < CT_ATTRS_OFFSET) return false;
    const nlLen = <i32>load<u32>(ptr);
    if (nlLen < CT_ATTRS_OFFSET || nlLen > len) return false;
    const type = <i32>load<u16>(ptr, 4);
    if ((type >> 8) != NFNL_SUBSYS_CTNETLINK) return false;
    this.len = nlLen;
    this.msgType = type;
    this.msgFlags = <i32>load<u16>(ptr, 6);
    const aPtr = this.aPtr, aLen = this.aLen;
    let seen: u32 = 0;
    const it = it1.reset(ptr + <usize>CT_ATTRS_OFFSET, nlLen - CT_ATTRS_OFFSET);
    while (it.next()) {
      const t = it.type;
      if (t < CTA_INDEX_MAX && (seen & (1 << t)) == 0) { // first occurrence wins
        seen |= 1 << t;
        unchecked(aPtr[t] = <u32>it.ptr);
        unchecked(aLen[t] = it.len);
      }
    }
    this.malformed = it.malformed;
    this.seen = seen;
    return true;
  }

  /**
   * For event messages (ctplug_on_events): EVENT_NEW, EVENT_UPDATE or EVENT_DESTROY, as
   * conntrack -E tells them apart (CT_NEW with NLM_F_CREATE|NLM_F_EXCL is new). Dump entries
   * (CT_NEW without those flags) read as EVENT_UPDATE; use it only on event batches.
   */
  get eventType(): i32 {
    const m = this.msgType & 0xff;
    if (m == IPCTNL_MSG_CT_DELETE) return EVENT_DESTROY;
    if (m == IPCTNL_MSG_CT_NEW) return (this.msgFlags & (NLM_F_CREATE | NLM_F_EXCL)) != 0 ? EVENT_NEW : EVENT_UPDATE;
    return 0;
  }

  /**
   * nlmsg_pid of an event: the netlink port of the process whose request caused it (0 when the
   * kernel itself did, e.g. a packet). conntrack -E prints it as "[USERSPACE] portid=N".
   */
  get portId(): u32 { return this.len >= 16 ? load<u32>(this.ptr + 12) : 0; }

  /** Is the top-level attribute `type` present? */
  has(type: i32): bool { return type >= 0 && type < CTA_INDEX_MAX && (this.seen & (1 << type)) != 0; }
  /** Payload pointer / length of a top-level attribute (0 / -1 when absent). */
  attrPtr(type: i32): usize { return this.has(type) ? <usize>unchecked(this.aPtr[type]) : 0; }
  attrLen(type: i32): i32 { return this.has(type) ? unchecked(this.aLen[type]) : -1; }

  private u32attr(type: i32, dflt: u32): u32 {
    if ((this.seen & (1 << type)) == 0 || unchecked(this.aLen[type]) < 4) return dflt;
    return be32(<usize>unchecked(this.aPtr[type]));
  }

  // ---- header ----
  /** L3 family from nfgenmsg: 2 (ipv4) or 10 (ipv6). */
  get family(): i32 { return this.len ? <i32>load<u8>(this.ptr, NLMSG_HDRLEN) : 0; }
  /** L4 protocol number of the original tuple. */
  get protocol(): i32 { return this.orig.proto; }

  // ---- tuples ----
  get orig(): Tuple { if (!(this.parsed & P_ORIG)) this.parseTuple(this._orig, CTA_TUPLE_ORIG, P_ORIG); return this._orig; }
  get reply(): Tuple { if (!(this.parsed & P_REPLY)) this.parseTuple(this._reply, CTA_TUPLE_REPLY, P_REPLY); return this._reply; }
  get master(): Tuple { if (!(this.parsed & P_MASTER)) this.parseTuple(this._master, CTA_TUPLE_MASTER, P_MASTER); return this._master; }
  private parseTuple(t: Tuple, type: i32, bit: u32): void {
    this.parsed |= bit;
    if (this.has(type)) t.parse(<usize>unchecked(this.aPtr[type]), unchecked(this.aLen[type]));
    else t.clear();
  }

  // ---- scalar attributes (big-endian on the wire) ----
  /** Conntrack zone; the kernel omits CTA_ZONE for zone 0. */
  get zone(): i32 {
    if ((this.seen & (1 << CTA_ZONE)) == 0 || unchecked(this.aLen[CTA_ZONE]) < 2) return 0;
    return <i32>be16(<usize>unchecked(this.aPtr[CTA_ZONE]));
  }
  get hasZone(): bool { return this.has(CTA_ZONE) && this.attrLen(CTA_ZONE) >= 2; }
  /**
   * The zone of the entry, ctplug's zone rule (the host's is host/conntrack/scope.ts entryZone):
   * an entry has one zone id, for both directions (CTA_ZONE) or for one (a tuple's
   * CTA_TUPLE_ZONE); 0 when none is given. `-w ZONE` filters (Filter "zone") match this, as the
   * kernel's zone filters do; `zone` above is CTA_ZONE alone.
   */
  get zoneId(): i32 {
    if (this.hasZone) return this.zone;
    const o = this.orig;
    if (o.hasZone) return o.zone;
    const r = this.reply;
    return r.hasZone ? r.zone : 0;
  }
  /**
   * The entry's identity, hashed (FNV-1a, 64 bits): its id, zone (zoneId) and original tuple,
   * the host's identity rule (host/conntrack/scope.ts identityKey). The id alone is a 32-bit hash
   * the kernel may give two entries of a big table; with the zone and tuple it names one entry.
   */
  get identity(): u64 {
    let h: u64 = 0xcbf29ce484222325;
    const id = this.id, zone = <u32>this.zoneId;
    for (let i = 0; i < 4; i++) h = (h ^ <u64>((id >> (8 * i)) & 0xff)) * 0x100000001b3;
    for (let i = 0; i < 2; i++) h = (h ^ <u64>((zone >> (8 * i)) & 0xff)) * 0x100000001b3;
    if (this.has(CTA_TUPLE_ORIG)) {
      const p = <usize>unchecked(this.aPtr[CTA_TUPLE_ORIG]), n = <usize>unchecked(this.aLen[CTA_TUPLE_ORIG]);
      for (let i: usize = 0; i < n; i++) h = (h ^ <u64>load<u8>(p + i)) * 0x100000001b3;
    }
    return h;
  }
  get mark(): u32 { return this.u32attr(CTA_MARK, 0); }
  get hasMark(): bool { return this.has(CTA_MARK) && this.attrLen(CTA_MARK) >= 4; }
  get status(): u32 { return this.u32attr(CTA_STATUS, 0); }
  get hasStatus(): bool { return this.has(CTA_STATUS) && this.attrLen(CTA_STATUS) >= 4; }
  /** Remaining lifetime in seconds. */
  get timeout(): u32 { return this.u32attr(CTA_TIMEOUT, 0); }
  get hasTimeout(): bool { return this.has(CTA_TIMEOUT) && this.attrLen(CTA_TIMEOUT) >= 4; }
  get id(): u32 { return this.u32attr(CTA_ID, 0); }
  get hasId(): bool { return this.has(CTA_ID) && this.attrLen(CTA_ID) >= 4; }
  get use(): u32 { return this.u32attr(CTA_USE, 0); }
  get hasUse(): bool { return this.has(CTA_USE) && this.attrLen(CTA_USE) >= 4; }
  get secmark(): u32 { return this.u32attr(CTA_SECMARK, 0); }
  get hasSecmark(): bool { return this.has(CTA_SECMARK) && this.attrLen(CTA_SECMARK) >= 4; }

  get assured(): bool { return (this.status & IPS_ASSURED) != 0; }
  get seenReply(): bool { return (this.status & IPS_SEEN_REPLY) != 0; }

  // ---- protoinfo ----
  private parseProtoinfo(): void {
    this.parsed |= P_PROTOINFO;
    this._tcpState = -1; this._sctpState = -1; this._dccpState = -1;
    this._tcpWscaleOrig = -1; this._tcpWscaleReply = -1; this._tcpFlagsOrig = -1; this._tcpFlagsReply = -1;
    if (!this.has(CTA_PROTOINFO)) return;
    const a = it1.reset(<usize>unchecked(this.aPtr[CTA_PROTOINFO]), unchecked(this.aLen[CTA_PROTOINFO]));
    while (a.next()) {
      const kind = a.type;
      const b = it2.reset(a.ptr, a.len);
      while (b.next()) {
        if (kind == CTA_PROTOINFO_TCP) {
          switch (b.type) {
            case CTA_PROTOINFO_TCP_STATE: if (b.len >= 1) this._tcpState = <i32>load<u8>(b.ptr); break;
            case CTA_PROTOINFO_TCP_WSCALE_ORIGINAL: if (b.len >= 1) this._tcpWscaleOrig = <i32>load<u8>(b.ptr); break;
            case CTA_PROTOINFO_TCP_WSCALE_REPLY: if (b.len >= 1) this._tcpWscaleReply = <i32>load<u8>(b.ptr); break;
            case CTA_PROTOINFO_TCP_FLAGS_ORIGINAL: if (b.len >= 1) this._tcpFlagsOrig = <i32>load<u8>(b.ptr); break; // nf_ct_tcp_flags.flags
            case CTA_PROTOINFO_TCP_FLAGS_REPLY: if (b.len >= 1) this._tcpFlagsReply = <i32>load<u8>(b.ptr); break;
            default: break;
          }
        } else if (kind == CTA_PROTOINFO_SCTP) {
          if (b.type == 1 && b.len >= 1) this._sctpState = <i32>load<u8>(b.ptr);
        } else if (kind == CTA_PROTOINFO_DCCP) {
          if (b.type == 1 && b.len >= 1) this._dccpState = <i32>load<u8>(b.ptr);
        }
      }
    }
  }
  /** TCP state (CTA_PROTOINFO_TCP_STATE), -1 when absent. */
  get tcpState(): i32 { if (!(this.parsed & P_PROTOINFO)) this.parseProtoinfo(); return this._tcpState; }
  get sctpState(): i32 { if (!(this.parsed & P_PROTOINFO)) this.parseProtoinfo(); return this._sctpState; }
  get dccpState(): i32 { if (!(this.parsed & P_PROTOINFO)) this.parseProtoinfo(); return this._dccpState; }
  get tcpWscaleOrig(): i32 { if (!(this.parsed & P_PROTOINFO)) this.parseProtoinfo(); return this._tcpWscaleOrig; }
  get tcpWscaleReply(): i32 { if (!(this.parsed & P_PROTOINFO)) this.parseProtoinfo(); return this._tcpWscaleReply; }
  get tcpFlagsOrig(): i32 { if (!(this.parsed & P_PROTOINFO)) this.parseProtoinfo(); return this._tcpFlagsOrig; }
  get tcpFlagsReply(): i32 { if (!(this.parsed & P_PROTOINFO)) this.parseProtoinfo(); return this._tcpFlagsReply; }

  // ---- counters (u64 BE; 32-bit variants accepted) ----
  private parseCounters(type: i32, base: i32, bit: u32, hasBit: u32): void {
    this.parsed |= bit;
    this._hasCnt &= ~hasBit;
    unchecked(this._cnt[base] = 0); unchecked(this._cnt[base + 1] = 0);
    if (!this.has(type)) return;
    let got = 0;
    const a = it1.reset(<usize>unchecked(this.aPtr[type]), unchecked(this.aLen[type]));
    while (a.next()) {
      const t = a.type;
      if (t == CTA_COUNTERS_PACKETS && a.len >= 8) { unchecked(this._cnt[base] = be64(a.ptr)); got |= 1; }
      else if (t == CTA_COUNTERS_BYTES && a.len >= 8) { unchecked(this._cnt[base + 1] = be64(a.ptr)); got |= 2; }
      else if (t == CTA_COUNTERS32_PACKETS && a.len >= 4) { unchecked(this._cnt[base] = <u64>be32(a.ptr)); got |= 1; }
      else if (t == CTA_COUNTERS32_BYTES && a.len >= 4) { unchecked(this._cnt[base + 1] = <u64>be32(a.ptr)); got |= 2; }
    }
    if (got == 3) this._hasCnt |= hasBit;
  }
  /** Both packets and bytes present for the original direction. */
  get hasCountersOrig(): bool { if (!(this.parsed & P_CNT_ORIG)) this.parseCounters(CTA_COUNTERS_ORIG, 0, P_CNT_ORIG, 1); return (this._hasCnt & 1) != 0; }
  get hasCountersReply(): bool { if (!(this.parsed & P_CNT_REPLY)) this.parseCounters(CTA_COUNTERS_REPLY, 2, P_CNT_REPLY, 2); return (this._hasCnt & 2) != 0; }
  get origPackets(): u64 { this.hasCountersOrig; return unchecked(this._cnt[0]); }
  get origBytes(): u64 { this.hasCountersOrig; return unchecked(this._cnt[1]); }
  get replyPackets(): u64 { this.hasCountersReply; return unchecked(this._cnt[2]); }
  get replyBytes(): u64 { this.hasCountersReply; return unchecked(this._cnt[3]); }

  // ---- timestamps (ns since the epoch, u64 BE) ----
  private parseTimestamp(): void {
    this.parsed |= P_TSTAMP;
    this._hasTs = 0; this._tsStart = 0; this._tsStop = 0;
    if (!this.has(CTA_TIMESTAMP)) return;
    const a = it1.reset(<usize>unchecked(this.aPtr[CTA_TIMESTAMP]), unchecked(this.aLen[CTA_TIMESTAMP]));
    while (a.next()) {
      if (a.type == CTA_TIMESTAMP_START && a.len >= 8) { this._tsStart = be64(a.ptr); this._hasTs |= 1; }
      else if (a.type == CTA_TIMESTAMP_STOP && a.len >= 8) { this._tsStop = be64(a.ptr); this._hasTs |= 2; }
    }
  }
  get hasTimestampStart(): bool { if (!(this.parsed & P_TSTAMP)) this.parseTimestamp(); return (this._hasTs & 1) != 0; }
  get hasTimestampStop(): bool { if (!(this.parsed & P_TSTAMP)) this.parseTimestamp(); return (this._hasTs & 2) != 0; }
  get timestampStart(): u64 { if (!(this.parsed & P_TSTAMP)) this.parseTimestamp(); return this._tsStart; }
  get timestampStop(): u64 { if (!(this.parsed & P_TSTAMP)) this.parseTimestamp(); return this._tsStop; }

  // ---- strings (pointer + length into the message, trailing NULs trimmed) ----
  private parseName(type: i32, inner: i32, bit: u32): void {
    this.parsed |= bit;
    let p: usize = 0, n: i32 = 0;
    if (this.has(type)) {
      const a = it1.reset(<usize>unchecked(this.aPtr[type]), unchecked(this.aLen[type]));
      while (a.next()) if (a.type == inner) { p = a.ptr; n = a.len; break; }
      while (n > 0 && load<u8>(p + <usize>(n - 1)) == 0) n--;
      // stop at an embedded NUL like a C string would
      for (let i = 0; i < n; i++) if (load<u8>(p + <usize>i) == 0) { n = i; break; }
    }
    if (type == CTA_HELP) { this._helperPtr = p; this._helperLen = n; }
    else { this._secctxPtr = p; this._secctxLen = n; }
  }
  /** Helper name (CTA_HELP_NAME) bytes; length 0 when absent. */
  get helperPtr(): usize { if (!(this.parsed & P_HELP)) this.parseName(CTA_HELP, CTA_HELP_NAME, P_HELP); return this._helperPtr; }
  get helperLen(): i32 { if (!(this.parsed & P_HELP)) this.parseName(CTA_HELP, CTA_HELP_NAME, P_HELP); return this._helperLen; }
  get secctxPtr(): usize { if (!(this.parsed & P_SECCTX)) this.parseName(CTA_SECCTX, CTA_SECCTX_NAME, P_SECCTX); return this._secctxPtr; }
  get secctxLen(): i32 { if (!(this.parsed & P_SECCTX)) this.parseName(CTA_SECCTX, CTA_SECCTX_NAME, P_SECCTX); return this._secctxLen; }
  /** Allocating conveniences. */
  helper(): string { return String.UTF8.decodeUnsafe(this.helperPtr, <usize>this.helperLen); }
  secctx(): string { return String.UTF8.decodeUnsafe(this.secctxPtr, <usize>this.secctxLen); }

  // ---- labels (CTA_LABELS: a bitmap, bit i = label i, in host u32 words) ----
  get labelsPtr(): usize { return this.attrPtr(CTA_LABELS); }
  get labelsLen(): i32 { const n = this.attrLen(CTA_LABELS); return n < 0 ? 0 : n; }
  /** Is connlabel bit `bit` set? */
  hasLabel(bit: i32): bool {
    const n = this.labelsLen;
    if (bit < 0 || (bit >> 3) >= n) return false;
    // The kernel stores labels as an array of unsigned long in host order; on the
    // little-endian hosts ctplug runs on, bit i lives in byte i/8 at bit i%8.
    return ((<i32>load<u8>(this.labelsPtr + <usize>(bit >> 3)) >> (bit & 7)) & 1) != 0;
  }
}
