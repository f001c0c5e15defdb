// list: print conntrack entries like `conntrack -L` (text, extended, id, labels, ktimestamp,
// xml, save) or as NDJSON, optionally filtered with the same keys as the `match` plugin.
import {
  Entry, Verdict, Plugin, Filter, JsonValue, Output, SAVE_ADD, XML_HEADER, XML_FOOTER, logInfo, countFromConfig, checkConfigKeys,
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
  // "output": a comma list like conntrack's -o ("extended,id", "xml", "save"), or "json"; utc_offset, label_names, now
  out = Output.fromConfig(cfg);
  xmlFooter = cfg.getBool("xml_footer", true);
  limit = countFromConfig(cfg, "limit");
  Plugin.dumpAllOrFail(filter.kernelRequests()); // refused (a zone outside the grant?): the run fails
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
