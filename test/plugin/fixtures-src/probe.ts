// Test plugin: renders every entry as NDJSON and as extended text (+id, labels), and counts.
// Config {"mode": "json"|"text"|"both"|"none", "verdict": "keep"|"delete"|"stop-after-1"}; mode
// "echo-config" prints the config re-serialised, "getters" the typed config getters' answers and
// "json-writer" a document written with JsonWriter (both as one JSON line); "abort" aborts in init.
import { Entry, Verdict, Plugin, JsonValue, JsonWriter, renderText, renderJson, TEXT_EXTENDED, TEXT_ID, TEXT_LABELS, TEXT_EVENT, BATCH_RESYNC_FLAG, logInfo } from "../../../sdk/assembly";
export * from "../../../sdk/assembly/exports";

let mode = "both";
let verdict = "keep";
let n = 0;

Plugin.init((cfg: JsonValue) => {
  mode = cfg.getString("mode", "both");
  verdict = cfg.getString("verdict", "keep");
  if (mode == "echo-config") Plugin.print(cfg.toString());
  if (mode == "getters") printGetters(cfg);
  if (mode == "json-writer") writeDocument(cfg.getString("s"));
  if (mode == "abort") assert(false, "config asked for it"); // aborts with its source position
});

function printGetters(cfg: JsonValue): void {
  const w = new JsonWriter(Plugin.out);
  w.beginObject().key("int").int(cfg.getInt("i", -1)).key("ints");
  const ints = cfg.getInts("is");
  if (ints) { w.beginArray(); for (let k = 0; k < ints.length; k++) w.int(ints[k]); w.endArray(); } else w.null();
  w.key("strings");
  const strs = cfg.getStrings("ss");
  if (strs) { w.beginArray(); for (let k = 0; k < strs.length; k++) w.string(strs[k]); w.endArray(); } else w.null();
  w.endObject().line();
}

function writeDocument(s: string): void {
  const w = new JsonWriter(Plugin.out);
  w.beginObject().key("s").string(s).key("n").number(1.5).key("big").uint(18446744073709551615).key("neg").int(-42)
    .key("nested").beginArray().beginArray().endArray().beginObject().endObject().beginArray().int(1).beginObject().key("a").null().endObject().endArray().endArray()
    .key("t").bool(true).key("f").bool(false).key("nan").number(NaN).endObject().line();
}

Plugin.onEntry((e: Entry): Verdict => {
  n++;
  if (mode == "json" || mode == "both") renderJson(Plugin.out, e);
  if (mode == "text" || mode == "both") renderText(Plugin.out, e, TEXT_EXTENDED | TEXT_ID | TEXT_LABELS);
  if (e.malformed) Plugin.print("MALFORMED");
  if (verdict == "delete") return Verdict.Delete;
  if (verdict == "stop-after-1") return Verdict.Stop;
  return Verdict.Keep;
});

Plugin.onEvent((e: Entry): Verdict => {
  if (Plugin.batchFlags & BATCH_RESYNC_FLAG) Plugin.print("RESYNC");
  renderText(Plugin.out, e, TEXT_EVENT);
  return Verdict.Keep;
});

Plugin.onFinish(() => {
  logInfo("probe saw " + n.toString());
  if (mode == "echo-config") Plugin.print(Plugin.config.toString()); // after init: parsed again from the text
});

/** Extra export for tests: trigger an abort to check it is logged and traps with a name. */
export function probe_abort(): void {
  abort("probe abort requested");
}
/** Extra export: index out of range on an array (bounds check -> abort). */
export function probe_oob(i: i32): i32 {
  const a = new Array<i32>(2);
  return a[i];
}
