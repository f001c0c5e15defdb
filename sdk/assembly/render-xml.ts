// `conntrack -o xml`: one <flow> element per entry, as libnetfilter_conntrack 1.0.9 writes it
// (__snprintf_conntrack_xml), quirks included so a consumer of conntrack's XML reads ctplug's the
// same: an SCTP or DCCP state is named from the TCP table (`<state>FIN_WAIT</state>` for SCTP
// ESTABLISHED), ICMP type/code/id are not written, both directions' counters are written only when
// the original direction has them. The document's header and footer are the caller's
// (XML_HEADER, XML_FOOTER): conntrack writes them around a listing and around events.
import { ByteBuf } from "./buf";
import { Entry, EVENT_NEW, EVENT_UPDATE, EVENT_DESTROY } from "./entry";
import { Tuple } from "./tuple";
import {
  IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IPPROTO_SCTP, IPPROTO_DCCP, IPPROTO_GRE, AF_INET, AF_INET6,
} from "./ctnetlink";
import { TCP_STATE_NAMES, protoName } from "./status";
import { labelNameMap, renderClock } from "./render";
import { localTime } from "./local-time";

export const XML_HEADER = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<conntrack>\n";
export const XML_FOOTER = "</conntrack>\n";

/** renderXml flags. */
export const XML_EVENT: i32 = 1;     // <flow type="new|update|destroy"> (event batches)
export const XML_KTIMESTAMP: i32 = 2; // -o ktimestamp: <timestamp><start>ns</start><stop>ns</stop></timestamp>
export const XML_WHEN: i32 = 4;      // -E -o timestamp: <when> with the local time the event was shown

function l3name(f: i32): string { return f == AF_INET ? "ipv4" : f == AF_INET6 ? "ipv6" : "unknown"; }

function tupleXml(b: ByteBuf, e: Entry, t: Tuple, original: bool): void {
  b.ascii(original ? "<meta direction=\"original\">" : "<meta direction=\"reply\">");
  b.ascii("<layer3 protonum=\"").u32(<u32>t.family).ascii("\" protoname=\"").ascii(l3name(t.family)).ascii("\">");
  b.ascii("<src>"); if (t.src) b.addr(t.src, t.addrLen); b.ascii("</src>");
  b.ascii("<dst>"); if (t.dst) b.addr(t.dst, t.addrLen); b.ascii("</dst>");
  b.ascii("</layer3>");
  const p = t.proto;
  b.ascii("<layer4 protonum=\"").u32(<u32>p).ascii("\" protoname=\"").ascii(protoName(p)).ascii("\">");
  if (p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_UDPLITE || p == IPPROTO_SCTP || p == IPPROTO_DCCP) {
    b.ascii("<sport>").u32(<u32>t.sport).ascii("</sport><dport>").u32(<u32>t.dport).ascii("</dport>");
  } else if (p == IPPROTO_GRE) {
    b.ascii("<srckey>0x").hex(<u64>t.sport).ascii("</srckey><dstkey>0x").hex(<u64>t.dport).ascii("</dstkey>");
  }
  b.ascii("</layer4>");
  if (t.hasZone) b.ascii("<zone>").u32(<u32>t.zone).ascii("</zone>");
  if (e.hasCountersOrig) {
    b.ascii("<counters><packets>").u64(original ? e.origPackets : e.replyPackets).ascii("</packets><bytes>")
      .u64(original ? e.origBytes : e.replyBytes).ascii("</bytes></counters>");
  }
  b.ascii("</meta>");
}

/** The TCP name of a state number, as libnetfilter_conntrack names SCTP and DCCP states in XML. */
function tcpName(s: i32): string { return s >= 0 && s < TCP_STATE_NAMES.length ? unchecked(TCP_STATE_NAMES[s]) : unchecked(TCP_STATE_NAMES[0]); }

/** Append one entry as a <flow> element on its own line. `now`: epoch seconds for <when> (XML_WHEN). */
export function renderXml(b: ByteBuf, e: Entry, flags: i32 = 0, now: f64 = 0): void {
  if (flags & XML_EVENT) {
    const k = e.eventType;
    b.ascii(k == EVENT_NEW ? "<flow type=\"new\">" : k == EVENT_UPDATE ? "<flow type=\"update\">" : k == EVENT_DESTROY ? "<flow type=\"destroy\">" : "<flow>");
  } else b.ascii("<flow>");
  tupleXml(b, e, e.orig, true);
  tupleXml(b, e, e.reply, false);
  const ts = e.tcpState, ss = e.sctpState, ds = e.dccpState;
  const names = labelNameMap();
  const hasStart = e.hasTimestampStart, hasStop = e.hasTimestampStop;
  const independent = ts >= 0 || ss >= 0 || ds >= 0 || e.hasTimeout || e.hasMark || e.hasSecmark || e.hasZone || e.hasUse ||
    e.hasStatus || e.hasId || e.labelsLen > 0 || hasStart || hasStop;
  if (independent) b.ascii("<meta direction=\"independent\">");
  if (ts >= 0) b.ascii("<state>").ascii(tcpName(ts)).ascii("</state>");
  if (ss >= 0) b.ascii("<state>").ascii(tcpName(ss)).ascii("</state>");
  if (ds >= 0) b.ascii("<state>").ascii(tcpName(ds)).ascii("</state>");
  if (e.hasTimeout) b.ascii("<timeout>").u32(e.timeout).ascii("</timeout>");
  if (e.hasMark) b.ascii("<mark>").u32(e.mark).ascii("</mark>");
  if (names !== null && e.labelsLen > 0) {
    b.ascii("<labels>");
    for (let i = 0, n = e.labelsLen << 3; i < n; i++) if (e.hasLabel(i) && names.has(i)) b.ascii("<label>").utf8(names.get(i)).ascii("</label>");
    b.ascii("</labels>");
  }
  if (e.hasSecmark) b.ascii("<secmark>").u32(e.secmark).ascii("</secmark>");
  if (e.secctxLen > 0) b.ascii("<secctx>").bytes(e.secctxPtr, e.secctxLen).ascii("</secctx>");
  if (e.hasZone) b.ascii("<zone>").u32(<u32>e.zone).ascii("</zone>");
  if (e.hasUse) b.ascii("<use>").u32(e.use).ascii("</use>");
  if (e.hasId) b.ascii("<id>").u32(e.id).ascii("</id>");
  if (e.hasStatus && e.assured) b.ascii("<assured/>");
  if (e.hasStatus && !e.seenReply) b.ascii("<unreplied/>");
  if ((flags & XML_KTIMESTAMP) && (hasStart || hasStop)) {
    b.ascii("<timestamp>");
    if (hasStart) b.ascii("<start>").u64(e.timestampStart).ascii("</start>");
    if (hasStop) b.ascii("<stop>").u64(e.timestampStop).ascii("</stop>");
    b.ascii("</timestamp>");
  }
  if (hasStart && hasStop) b.ascii("<deltatime>").u64((e.timestampStop - e.timestampStart) / 1000000000).ascii("</deltatime>");
  else if (hasStart) {
    const start = e.timestampStart / 1000000000, clock = renderClock();
    b.ascii("<deltatime>").u64(clock > start ? clock - start : 0).ascii("</deltatime>");
  }
  if (independent) b.ascii("</meta>");
  if (flags & XML_WHEN) {
    const t = localTime(<i64>Math.floor(now));
    b.ascii("<when><hour>").u32(<u32>t.hour).ascii("</hour><min>");
    if (t.min < 10) b.byte(48);
    b.u32(<u32>t.min).ascii("</min><sec>");
    if (t.sec < 10) b.byte(48);
    b.u32(<u32>t.sec).ascii("</sec><wday>").u32(<u32>(t.wday + 1)).ascii("</wday><day>").u32(<u32>t.mday)
      .ascii("</day><month>").u32(<u32>(t.mon + 1)).ascii("</month><year>").u32(<u32>t.year).ascii("</year></when>");
  }
  if (e.helperLen > 0) b.ascii("<helper>").bytes(e.helperPtr, e.helperLen).ascii("</helper>");
  b.ascii("</flow>");
  // conntrack -E marks events a netlink request caused, in this format too
  if ((flags & XML_EVENT) && e.portId != 0) b.ascii(" [USERSPACE] portid=").u32(e.portId);
  b.byte(10);
}
