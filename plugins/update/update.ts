// update: conntrack -U, for `ctplug update`. Selects with the conntrack-CLI filters (the match
// plugin's, Filter.fromConfig), skips entries the change would leave as they are, and stages an
// update for each of the others; once its dumps are delivered it dumps them again and prints the
// entries it updated as the kernel now has them.
//   {"set": {"mark", "markMask", "timeout", "status", "labels", "labelsMask", "state"},
//    "print": bool, "output": conntrack's -o list or "json", "label_names", "now": epoch seconds, ...filter keys}
// The mark follows conntrack's rule (old & ~markMask) ^ mark. A plugin of its own (not an action of
// match) so that match's manifest keeps asking for read and delete only, and each module imports
// only the hostcalls its manifest asks for.
import {
  Entry, Verdict, Plugin, Filter, JsonValue, UpdateSpec, DumpRequest, Output, SAVE_ADD, logInfo, checkConfigKeys, u32Of,
} from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

let filter = new Filter();
let print = true;
let out = new Output();
let updatedCount: u64 = 0;
const change = new UpdateSpec();
/** The dumps asked for (run again to print), and whether that second pass has begun. */
let requests: Array<DumpRequest> = [];
let printing = false;
/** Identities (Entry.identity) of the entries updated, then of those printed. */
const updated = new Set<u64>();
const printed = new Set<u64>();

function u32In(set: JsonValue, key: string): i64 {
  const v = set.get(key);
  if (!v) return -1;
  const n = u32Of(v);
  if (n < 0) Plugin.fail("config: set." + key + " must be a u32");
  return n;
}

/** Label bit numbers -> the 16-byte bitmap (bit n in byte n/8 at bit n%8). */
function labelBits(set: JsonValue, key: string, out: StaticArray<u8>): void {
  const bits = set.getInts(key);
  if (!bits) return;
  for (let i = 0; i < bits.length; i++) {
    const b = unchecked(bits[i]);
    if (b < 0 || b > 127) { Plugin.fail("config: set." + key + " holds label bits 0..127"); return; }
    const at = <i32>(b >> 3);
    const bit: u8 = (<u8>1) << <u8>(b & 7);
    out[at] = <u8>(out[at] | bit);
  }
}

const SET_KEYS = ["mark", "markMask", "timeout", "status", "labels", "labelsMask", "state"];

/** The "set" object: what changes. */
function readChange(cfg: JsonValue): void {
  const set = cfg.get("set");
  if (!set || !set.isObject) { Plugin.fail("config: update needs \"set\": {mark, markMask, timeout, status, labels, labelsMask, state}"); return; }
  for (let i = 0; i < set.keys.length; i++) {
    const k = unchecked(set.keys[i]);
    if (!SET_KEYS.includes(k)) Plugin.fail("config: unknown key set." + k + " (known: " + SET_KEYS.join(", ") + ")");
  }
  const mark = u32In(set, "mark"), mask = u32In(set, "markMask"), timeout = u32In(set, "timeout"), status = u32In(set, "status"), state = u32In(set, "state");
  if (mark >= 0) { change.hasMark = true; change.mark = <u32>mark; change.markMask = mask >= 0 ? <u32>mask : 0xffffffff; }
  if (timeout >= 0) { change.hasTimeout = true; change.timeout = <u32>timeout; }
  if (status >= 0) change.status = <u32>status;
  if (state >= 0) { change.hasState = true; change.state = <i32>state; }
  if (set.get("labels") || set.get("labelsMask")) {
    change.hasLabels = true;
    labelBits(set, "labels", change.labels);
    labelBits(set, "labelsMask", change.labelsMask);
  }
  if (!change.hasMark && !change.hasTimeout && change.status == 0 && !change.hasState && !change.hasLabels) Plugin.fail("config: \"set\" changes nothing");
}

Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg);
  checkConfigKeys(cfg, ["set", "print", "output", "now", "label_names", "utc_offset"]);
  out = Output.fromConfig(cfg); // output, utc_offset, label_names (labels=: the CLI asks for it when labels change), now
  readChange(cfg);
  // conntrack -U prints every entry it updates; "print": false keeps it quiet
  print = cfg.getBool("print", true);
  requests = filter.kernelRequests();
  Plugin.dumpAllOrFail(requests); // refused (a zone outside the grant?): the run fails
});

Plugin.onEntry((e: Entry): Verdict => {
  // Printed by identity, not by the filters: the update may have changed what they select (-l web --label-del).
  if (printing) {
    const id = e.identity;
    // The second pass: an entry this run updated, as the kernel has it now (once, whatever restarts).
    if (updated.has(id) && !printed.has(id)) {
      printed.add(id);
      out.entry(Plugin.out, e, SAVE_ADD);
    }
    return Verdict.Keep;
  }
  if (!filter.matches(e) || change.unchanged(e)) return Verdict.Keep;
  const id = e.identity;
  if (updated.has(id)) return Verdict.Keep;
  updated.add(id);
  updatedCount++;
  Plugin.update(e, change);
  return Verdict.Keep;
});

Plugin.onDumpDone((index: i32) => {
  // After the last of the first pass's dumps (its updates are sent by now): the same dumps again, to print.
  if (printing || index != requests.length - 1 || updatedCount == 0 || !print) return;
  printing = true;
  Plugin.dumpAllOrFail(requests);
});

Plugin.onFinish(() => {
  logInfo(updatedCount.toString() + " flow entries have been updated.");
});
