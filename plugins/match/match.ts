// match: select entries with conntrack-CLI filters, then list or delete them.
//   {"action": "list" | "delete" | "count", "print": bool, "output": conntrack's -o list or "json", ...filter keys}
// Deleted entries print as conntrack -D prints them (XML without the document's header, -o save as -D lines).
import {
  Entry, Verdict, Plugin, Filter, JsonValue, Output, SAVE_ADD, SAVE_DELETE, logInfo, checkConfigKeys,
} from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

const LIST = 0, DELETE = 1, COUNT = 2;
let filter = new Filter();
let action = LIST;
let print = true;
let out = new Output();
let matched: u64 = 0;

Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg);
  checkConfigKeys(cfg, ["action", "print", "output", "all", "now", "utc_offset", "label_names"]);
  out = Output.fromConfig(cfg); // output, utc_offset, label_names, now (delta-time= when timestamps are on)
  const a = cfg.getString("action", "list");
  if (a == "list") action = LIST;
  else if (a == "delete") action = DELETE;
  else if (a == "count") action = COUNT;
  else Plugin.fail("config: action must be list, delete or count (got \"" + a + "\")");
  if (action == DELETE && filter.empty && !cfg.getBool("all", false))
    Plugin.fail("config: refusing to delete every entry without a filter; set \"all\": true to mean it");
  // conntrack -D prints every deleted entry too; "print": false keeps deletes quiet
  print = action != COUNT && cfg.getBool("print", true);
  Plugin.dumpAllOrFail(filter.kernelRequests()); // refused (a zone outside the grant?): the run fails
});

Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  matched++;
  if (print) out.entry(Plugin.out, e, action == DELETE ? SAVE_DELETE : SAVE_ADD);
  return action == DELETE ? Verdict.Delete : Verdict.Keep;
});

Plugin.onFinish(() => {
  if (action == DELETE) logInfo(matched.toString() + " flow entries have been deleted.");
  else if (action == COUNT) Plugin.print(matched.toString());
  else logInfo(matched.toString() + " flow entries have been shown.");
});
