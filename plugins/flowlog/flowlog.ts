// flowlog: one NDJSON record per finished flow (conntrack DESTROY event). Written only against
// the public SDK, as a third-party plugin would be.
//   {"zones": [5], "min_bytes": 1000, "limit": 0}
// A record:
//   {"flow":"end","family":"ipv4","proto":"tcp","protonum":6,"state":"TIME_WAIT",
//    "orig":{"src":...,"dst":...,"sport":...,"dport":...},"reply":{...},"zone":5,"mark":0,"id":N,
//    "packets_orig":N,"bytes_orig":N,"packets_reply":N,"bytes_reply":N,       (nf_conntrack_acct=1)
//    "start_ns":N,"stop_ns":N,"duration_ms":N}                                 (nf_conntrack_timestamp=1)
// Counters and times are omitted (not zero) when the kernel did not send them. min_bytes counts
// both directions; a flow without counters cannot be judged and is logged anyway (warned once).
import {
  Entry, Tuple, Verdict, Plugin, JsonValue, ByteBuf, DumpRequest, SUBSCRIBE_DESTROY, EVENT_DESTROY,
  u32Of, protoName, familyName, entryStateName, logInfo, logWarn,
} from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

const zones = new StaticArray<bool>(65536);
let anyZone = true;
let minBytes: u64 = 0;
let limit: u64 = 0;
let logged: u64 = 0;
let skippedSmall: u64 = 0;
let skippedZone: u64 = 0;
let warnedNoAcct = false;
let withoutCounters: u64 = 0;
let withoutTimes: u64 = 0;

function zoneOf(v: JsonValue): i32 {
  const n = u32Of(v);
  if (n < 0 || n > 65535) { Plugin.fail("config: zones must be numbers 0..65535 (got " + v.toString() + ")"); return -1; }
  return <i32>n;
}

Plugin.init((cfg: JsonValue) => {
  if (!cfg.isObject) { Plugin.fail("config must be an object"); return; }
  for (let i = 0; i < cfg.keys.length; i++) {
    const k = cfg.keys[i];
    if (k != "zones" && k != "min_bytes" && k != "limit") { Plugin.fail("config: unknown key \"" + k + "\" (use zones, min_bytes, limit)"); return; }
  }
  const req = new DumpRequest();
  const z = cfg.get("zones");
  if (z && !z.isNull) {
    const n = z.isArray ? z.length : 1;
    if (n == 0) { Plugin.fail("config: zones is empty (leave it out for every zone the policy grants)"); return; }
    anyZone = false;
    let only = -1;
    for (let i = 0; i < n; i++) {
      const zone = zoneOf(z.isArray ? z.at(i)! : z);
      if (zone < 0) return;
      zones[zone] = true;
      only = i == 0 ? zone : (only == zone ? zone : -2);
    }
    // One zone: the kernel filters the subscription; several: every granted zone, filtered here.
    if (only >= 0) { req.hasZone = true; req.zone = only; }
  }
  const mb = cfg.get("min_bytes");
  if (mb) {
    if (!mb.isNumber || mb.n < 0 || Math.floor(mb.n) != mb.n) { Plugin.fail("config: min_bytes must be a byte count"); return; }
    minBytes = <u64>mb.n;
  }
  const lim = cfg.get("limit");
  if (lim) { const n = u32Of(lim); if (n < 0) { Plugin.fail("config: limit must be a count"); return; } limit = <u64>n; }
  Plugin.subscribe(req, SUBSCRIBE_DESTROY);
});

function tuple(b: ByteBuf, t: Tuple): void {
  b.byte(123);
  b.ascii("\"src\":\"").addr(t.src, t.addrLen).ascii("\",\"dst\":\"").addr(t.dst, t.addrLen).byte(34);
  if (t.hasPorts) b.ascii(",\"sport\":").u32(<u32>t.sport).ascii(",\"dport\":").u32(<u32>t.dport);
  if (t.hasIcmp) b.ascii(",\"type\":").u32(<u32>t.icmpType).ascii(",\"code\":").u32(<u32>t.icmpCode).ascii(",\"id\":").u32(<u32>t.icmpId);
  b.byte(125);
}

Plugin.onEvent((e: Entry): Verdict => {
  if (e.eventType != EVENT_DESTROY) return Verdict.Keep;
  if (!anyZone && !zones[e.zone]) { skippedZone++; return Verdict.Keep; }
  const counters = e.hasCountersOrig && e.hasCountersReply;
  if (!counters) withoutCounters++;
  if (minBytes > 0) {
    if (counters) {
      if (e.origBytes + e.replyBytes < minBytes) { skippedSmall++; return Verdict.Keep; }
    } else if (!warnedNoAcct) {
      warnedNoAcct = true;
      logWarn("flows arrive without byte counters (nf_conntrack_acct=0?): min_bytes cannot be applied, such flows are logged");
    }
  }
  const b = Plugin.out;
  const orig = e.orig;
  b.ascii("{\"flow\":\"end\",\"family\":\"").ascii(familyName(e.family)).ascii("\",\"proto\":\"").ascii(protoName(orig.proto))
    .ascii("\",\"protonum\":").u32(<u32>orig.proto);
  const st = entryStateName(e);
  if (st.length) b.ascii(",\"state\":\"").ascii(st).byte(34);
  b.ascii(",\"orig\":"); tuple(b, orig);
  b.ascii(",\"reply\":"); tuple(b, e.reply);
  b.ascii(",\"zone\":").u32(<u32>e.zone).ascii(",\"mark\":").u32(e.mark);
  if (e.hasId) b.ascii(",\"id\":").u32(e.id);
  if (e.hasCountersOrig) b.ascii(",\"packets_orig\":").u64(e.origPackets).ascii(",\"bytes_orig\":").u64(e.origBytes);
  if (e.hasCountersReply) b.ascii(",\"packets_reply\":").u64(e.replyPackets).ascii(",\"bytes_reply\":").u64(e.replyBytes);
  if (e.hasTimestampStart) {
    const start = e.timestampStart;
    b.ascii(",\"start_ns\":").u64(start);
    if (e.hasTimestampStop && e.timestampStop != 0) {
      const stop = e.timestampStop;
      b.ascii(",\"stop_ns\":").u64(stop).ascii(",\"duration_ms\":").u64(stop >= start ? (stop - start) / 1000000 : 0);
    }
  } else withoutTimes++;
  b.ascii("}\n");
  logged++;
  return limit != 0 && logged >= limit ? Verdict.Stop : Verdict.Keep;
});

Plugin.onFinish(() => {
  let s = logged.toString() + " flows logged";
  if (skippedSmall) s += ", " + skippedSmall.toString() + " below min_bytes";
  if (skippedZone) s += ", " + skippedZone.toString() + " in other zones";
  if (withoutCounters) s += "; " + withoutCounters.toString() + " without counters (turn on nf_conntrack_acct)";
  if (withoutTimes) s += "; " + withoutTimes.toString() + " without start/stop times (turn on nf_conntrack_timestamp)";
  logInfo(s);
});
