// events: print conntrack events like `conntrack -E` (text, extended, id) or as NDJSON with an
// "event" field, filtered with the `match` keys. After lost events the host re-dumps the
// subscribed scope; those entries are printed as plain `conntrack -L` lines (or JSON with
// "event":"resync") so a consumer can rebuild its view.
//   {"kinds": ["new", "destroy"], "output": "text"|"extended"|"id"|"json", ...filter keys}
import {
  Entry, Verdict, Plugin, Filter, JsonValue, renderText, renderJson, checkConfigKeys, setRenderClock, u32Of,
  TEXT_EXTENDED, TEXT_ID, TEXT_EVENT, JSON_EVENT, JSON_RESYNC, SUBSCRIBE_NEW, SUBSCRIBE_UPDATE, SUBSCRIBE_DESTROY,
  logInfo, logWarn,
} from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

let filter = new Filter();
let json = false;
let textFlags = 0;
let stamp = false; // -o timestamp: "[seconds.micros]\t" before each event, as conntrack -E prints it
let shown: u64 = 0;
let resynced: u64 = 0;
let limit: u64 = 0;

Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg);
  checkConfigKeys(cfg, ["kinds", "output", "limit", "now"]);
  const now = cfg.get("now"); // epoch seconds, for delta-time= when timestamps are on
  if (now) { const t = u32Of(now); if (t < 0) Plugin.fail("config: now must be epoch seconds"); else setRenderClock(<u64>t); }
  let kinds = 0;
  const k = cfg.get("kinds");
  if (k) {
    const n = k.isArray ? k.length : 1;
    for (let i = 0; i < n; i++) {
      const item = k.isArray ? k.at(i)! : k;
      const s = item.isString ? item.s.toLowerCase() : "";
      if (s == "new") kinds |= SUBSCRIBE_NEW;
      else if (s == "update") kinds |= SUBSCRIBE_UPDATE;
      else if (s == "destroy") kinds |= SUBSCRIBE_DESTROY;
      else Plugin.fail("config: kinds must be new, update or destroy (got " + item.toString() + ")");
    }
  }
  const parts = cfg.getString("output", "text").split(",");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i].trim().toLowerCase();
    if (p == "text" || p == "") continue;
    else if (p == "extended") textFlags |= TEXT_EXTENDED;
    else if (p == "id") textFlags |= TEXT_ID;
    else if (p == "json") json = true;
    else if (p == "timestamp") stamp = true;
    else Plugin.fail("config: output must be text, extended, id, timestamp or json (got \"" + p + "\")");
  }
  const lim = cfg.get("limit");
  if (lim) { const n = u32Of(lim); if (n < 0) Plugin.fail("config: limit must be a count"); else limit = <u64>n; }
  Plugin.subscribe(filter.kernelRequest(), kinds);
});

Plugin.onEvent((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  if (json) renderJson(Plugin.out, e, JSON_EVENT);
  else {
    if (stamp) writeStamp(Plugin.batchTime);
    renderText(Plugin.out, e, textFlags | TEXT_EVENT);
  }
  shown++;
  return limit != 0 && shown >= limit ? Verdict.Stop : Verdict.Keep;
});

/** conntrack's "[%-.8ld.%-.6ld]\t": seconds, then microseconds zero-padded to 6 digits. */
function writeStamp(t: f64): void {
  const secs = <u64>Math.floor(t);
  let micros = (<u64>Math.round((t - <f64>secs) * 1e6)).toString();
  while (micros.length < 6) micros = "0" + micros;
  Plugin.out.ascii("[").ascii(secs.toString()).ascii(".").ascii(micros.slice(0, 6)).ascii("]\t");
}

// Resync dumps (after the kernel dropped events) come here.
Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  if (resynced == 0) logWarn("events were lost; re-listing the subscribed scope");
  resynced++;
  if (json) renderJson(Plugin.out, e, JSON_RESYNC);
  else renderText(Plugin.out, e, textFlags);
  return Verdict.Keep;
});

Plugin.onFinish(() => {
  logInfo(shown.toString() + " flow events have been shown." + (resynced ? " (" + resynced.toString() + " entries re-listed after lost events)" : ""));
});
