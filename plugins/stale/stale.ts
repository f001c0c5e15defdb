// stale: delete entries that look dead by a rule on remaining timeout, TCP state or status,
// e.g. UDP entries that never saw a reply and have less than 10 s to live:
//   {"proto": "udp", "unreplied": true, "timeout_lt": 10}
// Also takes every `match` filter key (zone, src, dport, ...). At least one staleness rule
// (timeout_lt, state, status, unreplied, assured:false) is required.
import { Entry, Verdict, Plugin, Filter, JsonValue, renderText, logInfo, IPS_SEEN_REPLY, IPS_ASSURED, checkConfigKeys, renderClockFromConfig } from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

let filter = new Filter();
let dryRun = false;
let print = false;
let max: u64 = 0;
let deleted: u64 = 0;

Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg);
  checkConfigKeys(cfg, ["unreplied", "assured", "max_deletes", "dry_run", "print", "now"]);
  renderClockFromConfig(cfg); // "now": epoch seconds, for delta-time= when timestamps are on
  let rules = cfg.has("timeout_lt") || cfg.has("state") || cfg.has("status") ? 1 : 0;
  if (cfg.getBool("unreplied", false)) { filter.requireStatus(0, IPS_SEEN_REPLY); rules++; }
  const assured = cfg.get("assured");
  if (assured && assured.isBool) {
    if (assured.b) filter.requireStatus(IPS_ASSURED, 0); else { filter.requireStatus(0, IPS_ASSURED); rules++; }
  }
  if (rules == 0) Plugin.fail("config: give at least one staleness rule: timeout_lt, state, status, unreplied or assured:false");
  dryRun = cfg.getBool("dry_run", false);
  print = cfg.getBool("print", dryRun);
  const m = cfg.getNumber("max_deletes", 0);
  if (m < 0 || Math.floor(m) != m) Plugin.fail("config: max_deletes must be a count");
  max = <u64>m;
  Plugin.dumpAllOrFail(filter.kernelRequests()); // refused (a zone outside the grant?): the run fails
});

Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  if (max != 0 && deleted >= max) return Verdict.Stop;
  deleted++;
  if (print) renderText(Plugin.out, e);
  return dryRun ? Verdict.Keep : Verdict.Delete;
});

Plugin.onFinish(() => {
  logInfo(deleted.toString() + (dryRun ? " stale flow entries would be deleted (dry run)." : " stale flow entries have been deleted."));
});
