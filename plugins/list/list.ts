// list: print conntrack entries like `conntrack -L` (text, extended, id) or as NDJSON,
// optionally filtered with the same keys as the `match` plugin.
import {
  Entry, Verdict, Plugin, Filter, JsonValue, renderText, renderJson, setRenderClock, setLabelNames,
  TEXT_EXTENDED, TEXT_ID, TEXT_LABELS, logInfo, u32Of, parseU32Text, checkConfigKeys,
} from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

let filter = new Filter();
let json = false;
let textFlags = 0;
let shown: u64 = 0;
let limit: u64 = 0; // 0 = no limit

Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg);
  checkConfigKeys(cfg, ["output", "limit", "now", "label_names"]);
  // "output": "text" | "extended" | "id" | "json", or a comma list like conntrack's -o ("extended,id")
  const parts = cfg.getString("output", "text").split(",");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i].trim().toLowerCase();
    if (p == "text" || p == "" || p == "default") continue;
    else if (p == "extended") textFlags |= TEXT_EXTENDED;
    else if (p == "id") textFlags |= TEXT_ID;
    else if (p == "labels") textFlags |= TEXT_LABELS;
    else if (p == "json") json = true;
    else Plugin.fail("config: output must be text, extended, id, labels or json (got \"" + p + "\")");
  }
  // {"3": "web", ...}: names for labels= (the host reads them from connlabel.conf, as conntrack)
  const ln = cfg.get("label_names");
  if (ln) {
    if (!ln.isObject) Plugin.fail("config: label_names must be an object of bit -> name");
    const names = new Map<i32, string>();
    for (let i = 0; i < ln.keys.length; i++) {
      const bit = parseU32Text(ln.keys[i]);
      const v = ln.items[i];
      if (bit < 0 || bit > 127 || !v.isString) Plugin.fail("config: label_names maps a bit 0..127 to a name");
      else names.set(<i32>bit, v.s);
    }
    setLabelNames(names);
  }
  const now = cfg.get("now");
  if (now) { const s = u32Of(now); if (s < 0) Plugin.fail("config: now must be epoch seconds"); else setRenderClock(<u64>s); }
  const lim = cfg.get("limit");
  if (lim) { const n = u32Of(lim); if (n < 0) Plugin.fail("config: limit must be a count"); else limit = <u64>n; }
  // A refused dump (e.g. a zone outside the grant) fails the run rather than doing less than asked.
  if (Plugin.dumpAll(filter.kernelRequests()) < 0) Plugin.fail("the host refused the dump (outside this plugin's grant?)");
});

Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  if (json) renderJson(Plugin.out, e); else renderText(Plugin.out, e, textFlags);
  shown++;
  return limit != 0 && shown >= limit ? Verdict.Stop : Verdict.Keep;
});

Plugin.onFinish(() => {
  logInfo(shown.toString() + " flow entries have been shown.");
});
