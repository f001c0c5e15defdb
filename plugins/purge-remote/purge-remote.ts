// purge-remote: delete every entry that involves one remote address (or prefix) in any
// position -- original source/destination or reply source/destination -- in the given zones.
//   {"addr": "203.0.113.7" | "2001:db8::/64" | [..], "zones": [5, 6] | "zone": 5, "dry_run": bool, "print": bool}
import { Entry, Verdict, Plugin, Filter, Cidr, JsonValue, renderText, logInfo, renderClockFromConfig } from "../../sdk/assembly";
export * from "../../sdk/assembly/exports";

const filter = new Filter();
let dryRun = false;
let print = false;
let purged: u64 = 0;

function addAddr(v: JsonValue): void {
  const c = v.isString ? Cidr.parse(v.s) : null;
  if (c === null) Plugin.fail("config: addr: not an address or CIDR: " + v.toString());
  else filter.addAnyAddr(c);
}
function addZone(v: JsonValue): void {
  if (!v.isNumber || v.n < 0 || v.n > 65535 || Math.floor(v.n) != v.n) Plugin.fail("config: zones must be 0..65535, got " + v.toString());
  else filter.addZone(<i32>v.n);
}

const KEYS: StaticArray<string> = ["addr", "zones", "zone", "dry_run", "print", "now"];

Plugin.init((cfg: JsonValue) => {
  for (let i = 0; i < cfg.keys.length; i++) {
    if (!KEYS.includes(cfg.keys[i])) Plugin.fail("config: unknown key \"" + cfg.keys[i] + "\"");
  }
  const a = cfg.get("addr");
  if (!a) { Plugin.fail("config: addr is required"); return; }
  if (a.isArray) { for (let i = 0; i < a.length; i++) addAddr(a.at(i)!); } else addAddr(a);
  if (a.isArray && a.length == 0) Plugin.fail("config: addr must not be empty");
  const z = cfg.has("zones") ? cfg.get("zones") : cfg.get("zone");
  if (z) { if (z.isArray) { for (let i = 0; i < z.length; i++) addZone(z.at(i)!); } else addZone(z); }
  renderClockFromConfig(cfg); // "now": epoch seconds, for delta-time= when timestamps are on
  dryRun = cfg.getBool("dry_run", false);
  print = cfg.getBool("print", dryRun);
  Plugin.dumpAllOrFail(filter.kernelRequests()); // refused (a zone outside the grant?): the run fails
});

Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  purged++;
  if (print) renderText(Plugin.out, e);
  return dryRun ? Verdict.Keep : Verdict.Delete;
});

Plugin.onFinish(() => {
  logInfo(purged.toString() + (dryRun ? " flow entries would be deleted (dry run)." : " flow entries have been deleted."));
});
