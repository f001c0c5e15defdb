// Test plugin for updates: {"mark": N, "mask": M, "timeout": S, "proto": ...}: re-marks and/or
// re-times every matching entry.
import { Entry, Verdict, Plugin, Filter, JsonValue, u32Of } from "../../../sdk/assembly";
export * from "../../../sdk/assembly/exports";

let filter = new Filter();
let mark: i64 = -1, mask: u32 = 0xffffffff, timeout: i64 = -1;
Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg.get("match"));
  const m = cfg.get("set_mark"); if (m) mark = u32Of(m);
  const k = cfg.get("set_mask"); if (k) mask = <u32>u32Of(k);
  const t = cfg.get("set_timeout"); if (t) timeout = u32Of(t);
  Plugin.dumpAll(filter.kernelRequests());
});
Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  if (mark >= 0 && timeout >= 0) Plugin.setMarkAndTimeout(e, <u32>mark, mask, <u32>timeout);
  else if (mark >= 0) Plugin.setMark(e, <u32>mark, mask);
  else if (timeout >= 0) Plugin.setTimeout(e, <u32>timeout);
  return Verdict.Keep;
});
