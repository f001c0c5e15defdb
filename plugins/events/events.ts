// events: print conntrack events like `conntrack -E` (text, extended, id) or as NDJSON with an
// "event" field, filtered with the `match` keys. After lost events the host re-dumps the
// subscribed scope; those entries are printed as plain `conntrack -L` lines (or JSON with
// "event":"resync") so a consumer can rebuild its view.
//   {"kinds": ["new", "destroy"], "output": conntrack's -o list (extended, id, timestamp, xml, save, ...) or "json", ...filter keys}
// XML: the document's header before the first event and its footer at the end, as conntrack -E -o xml.
import {
  Entry, Verdict, Plugin, Filter, JsonValue, Output, checkConfigKeys, countFromConfig, SAVE_ADD,
  XML_HEADER, XML_FOOTER, SUBSCRIBE_NEW, SUBSCRIBE_UPDATE, SUBSCRIBE_DESTROY, logInfo, logWarn,
} from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

let filter = new Filter();
let out = new Output();
let shown: u64 = 0;
let resynced: u64 = 0;
let limit: u64 = 0;

Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg);
  checkConfigKeys(cfg, ["kinds", "output", "limit", "now", "utc_offset", "label_names"]);
  out = Output.fromConfig(cfg); // output, utc_offset, label_names, now (delta-time= when timestamps are on)
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
  limit = countFromConfig(cfg, "limit");
  Plugin.subscribe(filter.kernelRequest(), kinds);
});

Plugin.onEvent((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  if (out.xml && shown == 0 && resynced == 0) Plugin.out.ascii(XML_HEADER);
  out.event(Plugin.out, e, Plugin.batchTime);
  shown++;
  return limit != 0 && shown >= limit ? Verdict.Stop : Verdict.Keep;
});

// Resync dumps (after the kernel dropped events) come here.
Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  if (resynced == 0) logWarn("events were lost; re-listing the subscribed scope");
  if (out.xml && shown == 0 && resynced == 0) Plugin.out.ascii(XML_HEADER);
  resynced++;
  out.resync(Plugin.out, e, SAVE_ADD);
  return Verdict.Keep;
});

Plugin.onFinish(() => {
  if (out.xml && shown + resynced > 0) Plugin.out.ascii(XML_FOOTER);
  logInfo(shown.toString() + " flow events have been shown." + (resynced ? " (" + resynced.toString() + " entries re-listed after lost events)" : ""));
});
