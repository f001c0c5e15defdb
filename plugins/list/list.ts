// list: print conntrack entries like `conntrack -L` (text, extended, id, labels, ktimestamp,
// xml, save) or as NDJSON, optionally filtered with the same keys as the `match` plugin.
import {
  Entry, Verdict, Plugin, Filter, JsonValue, Output, setRenderClock, labelNamesFromConfig, setUtcOffset, SAVE_ADD,
  XML_HEADER, XML_FOOTER, logInfo, u32Of, checkConfigKeys,
} from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

let filter = new Filter();
let out = new Output();
/** conntrack -G -o xml writes the header and no footer. */
let xmlFooter = true;
let shown: u64 = 0;
let limit: u64 = 0; // 0 = no limit

Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg);
  checkConfigKeys(cfg, ["output", "limit", "now", "label_names", "utc_offset", "xml_footer"]);
  // "output": a comma list like conntrack's -o ("extended,id", "xml", "save"), or "json"
  out = Output.parse(cfg.getString("output", "text"));
  if (out.error.length) Plugin.fail("config: " + out.error);
  xmlFooter = cfg.getBool("xml_footer", true);
  // seconds east of UTC: local times of -o ktimestamp
  setUtcOffset(<i64>cfg.getNumber("utc_offset", 0));
  // {"3": "web", ...}: names for labels= (the host reads them from connlabel.conf, as conntrack)
  const names = labelNamesFromConfig(cfg);
  if (names.length) Plugin.fail("config: " + names);
  const now = cfg.get("now");
  if (now) { const s = u32Of(now); if (s < 0) Plugin.fail("config: now must be epoch seconds"); else setRenderClock(<u64>s); }
  const lim = cfg.get("limit");
  if (lim) { const n = u32Of(lim); if (n < 0) Plugin.fail("config: limit must be a count"); else limit = <u64>n; }
  // A refused dump (e.g. a zone outside the grant) fails the run rather than doing less than asked.
  if (Plugin.dumpAll(filter.kernelRequests()) < 0) Plugin.fail("the host refused the dump (outside this plugin's grant?)");
});

Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  if (out.xml && shown == 0) Plugin.out.ascii(XML_HEADER);
  out.entry(Plugin.out, e, SAVE_ADD);
  shown++;
  return limit != 0 && shown >= limit ? Verdict.Stop : Verdict.Keep;
});

Plugin.onFinish(() => {
  if (out.xml && shown > 0 && xmlFooter) Plugin.out.ascii(XML_FOOTER);
  logInfo(shown.toString() + " flow entries have been shown.");
});
