// Renderers: conntrack-CLI text (`conntrack -L [-o extended|id]`) and NDJSON, written into
// a reusable ByteBuf. No allocation per entry.
import { ByteBuf } from "./buf";
import { Entry, EVENT_NEW, EVENT_UPDATE, EVENT_DESTROY } from "./entry";
import { Tuple } from "./tuple";
import { ctimeText } from "./local-time";
import {
  IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IPPROTO_SCTP, IPPROTO_DCCP, IPPROTO_GRE, IPPROTO_ICMP,
  IPPROTO_ICMPV6,
} from "./ctnetlink";
import {
  IPS_SEEN_REPLY, IPS_ASSURED, IPS_OFFLOAD, IPS_HW_OFFLOAD, STATUS_NAMES, TCP_STATE_NAMES,
  SCTP_STATE_NAMES, DCCP_STATE_NAMES, protoName, familyName,
} from "./status";

/** Text flags (combine with |). */
export const TEXT_EXTENDED: i32 = 1; // `-o extended`: "ipv4     2 " prefix
export const TEXT_ID: i32 = 2;       // `-o id`: id=N after use=
export const TEXT_LABELS: i32 = 4;   // labels=<name>,<name> as conntrack -o labels (bit numbers when no names are set)
export const TEXT_EVENT: i32 = 8;    // `conntrack -E`: "    [NEW] ", " [UPDATE] ", "[DESTROY] " prefix
export const TEXT_KTIMESTAMP: i32 = 16; // `-o ktimestamp`: [start=...] [stop=...] after delta-time= (local-time.ts)

// Label names (connlabel.conf, handed over by the host in config). With names set, only named
// bits are printed, as conntrack does; without, every set bit prints as its number.
let labelNames: Map<i32, string> | null = null;
export function setLabelNames(names: Map<i32, string>): void { labelNames = names; }
/** The names set by setLabelNames (null: none were). */
export function labelNameMap(): Map<i32, string> | null { return labelNames; }

/** Seconds since the epoch used for `delta-time=`; 0 = unknown (delta-time only printed for stopped entries). */
let nowSeconds: u64 = 0;
let pinned = false;
/** Pins the clock (e.g. from a `now` config key, for reproducible output); batches no longer move it. */
export function setRenderClock(epochSeconds: u64): void { nowSeconds = epochSeconds; pinned = true; }
/** The SDK moves the clock to the host's time before each batch, unless it was pinned. */
export function tickRenderClock(epochSeconds: u64): void { if (!pinned) nowSeconds = epochSeconds; }
/** The clock set by setRenderClock (0 = unknown). */
export function renderClock(): u64 { return nowSeconds; }

function stateName(names: StaticArray<string>, s: i32): string {
  return s >= 0 && s < names.length ? unchecked(names[s]) : unchecked(names[0]);
}

/** The entry's protocol state by name (TCP, else SCTP, else DCCP; NONE when out of range), or "" when it has none. */
export function entryStateName(e: Entry): string {
  if (e.tcpState >= 0) return stateName(TCP_STATE_NAMES, e.tcpState);
  if (e.sctpState >= 0) return stateName(SCTP_STATE_NAMES, e.sctpState);
  if (e.dccpState >= 0) return stateName(DCCP_STATE_NAMES, e.dccpState);
  return "";
}

function textTuple(b: ByteBuf, t: Tuple): void {
  if (t.family != 0) {
    b.ascii("src=").addr(t.src, t.addrLen).byte(32);
    b.ascii("dst=").addr(t.dst, t.addrLen).byte(32);
  }
  const p = t.proto;
  if (p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_UDPLITE || p == IPPROTO_SCTP || p == IPPROTO_DCCP) {
    b.ascii("sport=").u32(<u32>t.sport).ascii(" dport=").u32(<u32>t.dport).byte(32);
  } else if (p == IPPROTO_GRE) {
    b.ascii("srckey=0x").hex(<u64>t.sport).ascii(" dstkey=0x").hex(<u64>t.dport).byte(32);
  } else if (p == IPPROTO_ICMP || p == IPPROTO_ICMPV6) {
    b.ascii("type=").u32(<u32>t.icmpType).ascii(" code=").u32(<u32>t.icmpCode).ascii(" id=").u32(<u32>t.icmpId).byte(32);
  }
}

/** Append one entry as `conntrack -L` prints it, newline-terminated. */
export function renderText(b: ByteBuf, e: Entry, flags: i32 = 0): void {
  if (flags & TEXT_EVENT) {
    const k = e.eventType;
    if (k == EVENT_NEW) b.ascii("    [NEW] ");
    else if (k == EVENT_UPDATE) b.ascii(" [UPDATE] ");
    else if (k == EVENT_DESTROY) b.ascii("[DESTROY] ");
  }
  if (flags & TEXT_EXTENDED) {
    const f = e.family;
    b.padded(familyName(f), 8).byte(32).u32(<u32>f).byte(32);
  }
  const orig = e.orig;
  const proto = orig.proto;
  b.padded(protoName(proto), 8).byte(32).u32(<u32>proto).byte(32);
  if (e.hasTimeout) b.u32(e.timeout).byte(32);
  const ts = e.tcpState;
  if (ts >= 0) b.ascii(stateName(TCP_STATE_NAMES, ts)).byte(32);
  const ss = e.sctpState;
  if (ss >= 0) b.ascii(stateName(SCTP_STATE_NAMES, ss)).byte(32);
  const ds = e.dccpState;
  if (ds >= 0) b.ascii(stateName(DCCP_STATE_NAMES, ds)).byte(32);
  textTuple(b, orig);
  if (orig.hasZone) b.ascii("zone-orig=").u32(<u32>orig.zone).byte(32);
  if (e.hasCountersOrig) b.ascii("packets=").u64(e.origPackets).ascii(" bytes=").u64(e.origBytes).byte(32);
  const hasStatus = e.hasStatus;
  const status = e.status;
  if (hasStatus && (status & IPS_SEEN_REPLY) == 0) b.ascii("[UNREPLIED] ");
  const reply = e.reply;
  textTuple(b, reply);
  if (reply.hasZone) b.ascii("zone-reply=").u32(<u32>reply.zone).byte(32);
  if (e.hasCountersReply) b.ascii("packets=").u64(e.replyPackets).ascii(" bytes=").u64(e.replyBytes).byte(32);
  if (hasStatus) {
    if (status & IPS_HW_OFFLOAD) b.ascii("[HW_OFFLOAD] ");
    else if (status & IPS_OFFLOAD) b.ascii("[OFFLOAD] ");
    else if (status & IPS_ASSURED) b.ascii("[ASSURED] ");
  }
  if (e.hasMark) b.ascii("mark=").u32(e.mark).byte(32);
  if (e.hasSecmark) b.ascii("secmark=").u32(e.secmark).byte(32);
  const sl = e.secctxLen;
  if (sl > 0) b.ascii("secctx=").bytes(e.secctxPtr, sl).byte(32);
  if (e.hasZone) b.ascii("zone=").u32(<u32>e.zone).byte(32);
  if (e.hasTimestampStart) {
    const startS = e.timestampStart / 1000000000;
    let stopS: u64 = 0;
    if (e.hasTimestampStop && e.timestampStop != 0) stopS = e.timestampStop / 1000000000;
    else stopS = nowSeconds;
    if (stopS != 0) b.ascii("delta-time=").u64(stopS >= startS ? stopS - startS : 0).byte(32);
  }
  if (flags & TEXT_KTIMESTAMP) {
    if (e.hasTimestampStart) { b.ascii("[start="); ctimeText(b, <i64>(e.timestampStart / 1000000000)); b.ascii("] "); }
    if (e.hasTimestampStop) { b.ascii("[stop="); ctimeText(b, <i64>(e.timestampStop / 1000000000)); b.ascii("] "); }
  }
  const hl = e.helperLen;
  if (hl > 0) b.ascii("helper=").bytes(e.helperPtr, hl).byte(32);
  if (e.hasUse) b.ascii("use=").u32(e.use).byte(32);
  if ((flags & TEXT_ID) && e.hasId) b.ascii("id=").u32(e.id).byte(32);
  if ((flags & TEXT_LABELS) && e.labelsLen > 0) {
    let first = true;
    const n = e.labelsLen << 3;
    const names = labelNames;
    for (let i = 0; i < n; i++) {
      if (!e.hasLabel(i)) continue;
      if (names === null) {
        b.ascii(first ? "labels=" : ",").u32(<u32>i);
      } else {
        if (!names.has(i)) continue;
        b.ascii(first ? "labels=" : ",").utf8(names.get(i));
      }
      first = false;
    }
    if (!first) b.byte(32);
  }
  // conntrack -E marks events a netlink request caused (it also adds progname= when it can find the
  // process in /proc; a plugin cannot look there)
  if ((flags & TEXT_EVENT) && e.portId != 0) b.ascii("[USERSPACE] portid=").u32(e.portId).byte(32);
  // replace the trailing blank with the newline (conntrack deletes the last blank)
  if (b.pos > 0 && !b.overflow && load<u8>(b.ptr + <usize>(b.pos - 1)) == 32) b.pos--;
  b.byte(10);
}

function jsonTuple(b: ByteBuf, t: Tuple): void {
  b.byte(123);
  let comma = false;
  if (t.src) { b.ascii("\"src\":\"").addr(t.src, t.addrLen).byte(34); comma = true; }
  if (t.dst) { if (comma) b.byte(44); b.ascii("\"dst\":\"").addr(t.dst, t.addrLen).byte(34); comma = true; }
  if (comma) b.byte(44);
  b.ascii("\"protonum\":").u32(<u32>t.proto);
  if (t.hasPorts) {
    if (t.proto == IPPROTO_GRE) b.ascii(",\"srckey\":").u32(<u32>t.sport).ascii(",\"dstkey\":").u32(<u32>t.dport);
    else b.ascii(",\"sport\":").u32(<u32>t.sport).ascii(",\"dport\":").u32(<u32>t.dport);
  }
  if (t.hasIcmp) b.ascii(",\"type\":").u32(<u32>t.icmpType).ascii(",\"code\":").u32(<u32>t.icmpCode).ascii(",\"id\":").u32(<u32>t.icmpId);
  if (t.hasZone) b.ascii(",\"zone\":").u32(<u32>t.zone);
  b.byte(125);
}

/** renderJson flag: start the object with "event":"new"|"update"|"destroy" (event batches). */
export const JSON_EVENT: i32 = 1;
/** renderJson flag: start the object with "event":"resync" (entries re-dumped after lost events). */
export const JSON_RESYNC: i32 = 2;

/** Append one entry as a JSON object on its own line (NDJSON). Absent attributes are omitted. */
export function renderJson(b: ByteBuf, e: Entry, flags: i32 = 0): void {
  const f = e.family;
  b.byte(123);
  if (flags & JSON_RESYNC) b.ascii("\"event\":\"resync\",");
  else if (flags & JSON_EVENT) {
    const k = e.eventType;
    b.ascii("\"event\":\"").ascii(k == EVENT_NEW ? "new" : k == EVENT_DESTROY ? "destroy" : "update").ascii("\",");
  }
  b.ascii("\"family\":\"").ascii(familyName(f)).ascii("\",\"l3num\":").u32(<u32>f);
  const orig = e.orig;
  b.ascii(",\"proto\":\"").ascii(protoName(orig.proto)).ascii("\",\"protonum\":").u32(<u32>orig.proto);
  if (e.hasTimeout) b.ascii(",\"timeout\":").u32(e.timeout);
  const st = entryStateName(e);
  if (st.length) b.ascii(",\"state\":\"").ascii(st).byte(34);
  if (orig.present) { b.ascii(",\"orig\":"); jsonTuple(b, orig); }
  const reply = e.reply;
  if (reply.present) { b.ascii(",\"reply\":"); jsonTuple(b, reply); }
  const master = e.master;
  if (master.present) { b.ascii(",\"master\":"); jsonTuple(b, master); }
  if (e.hasStatus) {
    const s = e.status;
    b.ascii(",\"status\":").u32(s).ascii(",\"flags\":[");
    let first = true;
    for (let i = 0; i < 16; i++) {
      if ((s & (1 << i)) == 0) continue;
      if (!first) b.byte(44);
      b.byte(34).ascii(unchecked(STATUS_NAMES[i])).byte(34);
      first = false;
    }
    b.byte(93);
  }
  if (e.hasMark) b.ascii(",\"mark\":").u32(e.mark);
  if (e.hasSecmark) b.ascii(",\"secmark\":").u32(e.secmark);
  b.ascii(",\"zone\":").u32(<u32>e.zone);
  if (e.hasUse) b.ascii(",\"use\":").u32(e.use);
  if (e.hasId) b.ascii(",\"id\":").u32(e.id);
  if (e.hasCountersOrig || e.hasCountersReply) {
    b.ascii(",\"counters\":{");
    if (e.hasCountersOrig) b.ascii("\"orig\":{\"packets\":").u64(e.origPackets).ascii(",\"bytes\":").u64(e.origBytes).byte(125);
    if (e.hasCountersReply) {
      if (e.hasCountersOrig) b.byte(44);
      b.ascii("\"reply\":{\"packets\":").u64(e.replyPackets).ascii(",\"bytes\":").u64(e.replyBytes).byte(125);
    }
    b.byte(125);
  }
  if (e.hasTimestampStart || e.hasTimestampStop) {
    b.ascii(",\"timestamp\":{");
    if (e.hasTimestampStart) b.ascii("\"start\":").u64(e.timestampStart);
    if (e.hasTimestampStop) { if (e.hasTimestampStart) b.byte(44); b.ascii("\"stop\":").u64(e.timestampStop); }
    b.byte(125);
  }
  if (e.tcpWscaleOrig >= 0 || e.tcpFlagsOrig >= 0) {
    b.ascii(",\"tcp\":{\"wscale_orig\":").i64(e.tcpWscaleOrig).ascii(",\"wscale_reply\":").i64(e.tcpWscaleReply)
      .ascii(",\"flags_orig\":").i64(e.tcpFlagsOrig).ascii(",\"flags_reply\":").i64(e.tcpFlagsReply).byte(125);
  }
  const ll = e.labelsLen;
  if (ll > 0) {
    b.ascii(",\"labels\":[");
    let first = true;
    for (let i = 0; i < (ll << 3); i++) {
      if (!e.hasLabel(i)) continue;
      if (!first) b.byte(44);
      b.u32(<u32>i);
      first = false;
    }
    b.byte(93);
  }
  const hl = e.helperLen;
  if (hl > 0) b.ascii(",\"helper\":\"").jsonBytes(e.helperPtr, hl).byte(34);
  const sl = e.secctxLen;
  if (sl > 0) b.ascii(",\"secctx\":\"").jsonBytes(e.secctxPtr, sl).byte(34);
  b.ascii("}\n");
}
