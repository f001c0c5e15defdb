// Test plugin for event loss: keeps a view of the table (conntrack ids) from events, rebuilds it
// from the RESYNC dump after lost events, and prints the view (one id per line, sorted) at finish.
// Config: none. Granted read + events (the resync dump needs read).
import { Entry, Verdict, Plugin, JsonValue, DumpRequest, EVENT_NEW, EVENT_UPDATE, EVENT_DESTROY, BATCH_RESYNC_FLAG, logInfo } from "../../../sdk/assembly";
export * from "../../../sdk/assembly/exports";

const view = new Set<u32>();
let resyncs = 0;
let clearedAt: u64 = 0;

Plugin.init((cfg: JsonValue) => {
  Plugin.subscribe(new DumpRequest());
});
Plugin.onEvent((e: Entry): Verdict => {
  const k = e.eventType;
  if (k == EVENT_NEW || k == EVENT_UPDATE) view.add(e.id);
  else if (k == EVENT_DESTROY) view.delete(e.id);
  return Verdict.Keep;
});
Plugin.onEntry((e: Entry): Verdict => {
  // The first batch of a resync dump carries BATCH_RESYNC: the view so far is stale.
  // Only the first batch of each resync dump carries the flag: clear once per such batch.
  if ((Plugin.batchFlags & BATCH_RESYNC_FLAG) && clearedAt != Plugin.batches) { view.clear(); resyncs++; clearedAt = Plugin.batches; }
  view.add(e.id);
  return Verdict.Keep;
});
Plugin.onFinish(() => {
  const ids = view.values();
  ids.sort((a: u32, b: u32): i32 => a < b ? -1 : a > b ? 1 : 0);
  for (let i = 0; i < ids.length; i++) Plugin.print(ids[i].toString());
  logInfo("view of " + ids.length.toString() + " entries after " + resyncs.toString() + " resyncs");
});
