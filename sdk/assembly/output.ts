// An output format as conntrack's -o names it, read from a plugin's "output" config ("text",
// "extended,id", "xml", "save", "json", ...) and applied to entries and events: one place for the
// first-party list, match and events plugins (and any plugin that prints like conntrack).
import { ByteBuf } from "./buf";
import { Entry } from "./entry";
import { JsonValue } from "./json";
import { parseU32Text, u32Of } from "./filter-values";
import { setUtcOffset } from "./local-time";
import { fail } from "./log";
import { setLabelNames, setRenderClock, renderText, renderJson, TEXT_EXTENDED, TEXT_ID, TEXT_LABELS, TEXT_EVENT, TEXT_KTIMESTAMP, JSON_EVENT, JSON_RESYNC } from "./render";
import { renderXml, XML_EVENT, XML_KTIMESTAMP, XML_WHEN } from "./render-xml";
import { renderSave, SAVE_EVENT } from "./render-save";

export class Output {
  json: bool = false;
  xml: bool = false;
  save: bool = false;
  /** timestamp: events get "[seconds.micros]\t" before each line (XML: <when>); ignored elsewhere, as by conntrack. */
  stamp: bool = false;
  /** TEXT_* flags for text lines (extended, id, labels, ktimestamp). */
  textFlags: i32 = 0;
  /** The first problem with the names given; empty when all were known. */
  error: string = "";

  /**
   * A comma list of names: text (or default, or nothing), extended, id, labels, ktimestamp,
   * timestamp, userspace (events print [USERSPACE] anyway), xml, save, json. save and json go alone.
   */
  static parse(list: string): Output {
    const o = new Output();
    const parts = list.split(",");
    let named = 0;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i].trim().toLowerCase();
      if (p == "" || p == "text" || p == "default" || p == "userspace") continue;
      named++;
      if (p == "extended") o.textFlags |= TEXT_EXTENDED;
      else if (p == "id") o.textFlags |= TEXT_ID;
      else if (p == "labels") o.textFlags |= TEXT_LABELS;
      else if (p == "ktimestamp") o.textFlags |= TEXT_KTIMESTAMP;
      else if (p == "timestamp") o.stamp = true;
      else if (p == "xml") o.xml = true;
      else if (p == "save") o.save = true;
      else if (p == "json") o.json = true;
      else if (o.error.length == 0) o.error = "unknown output \"" + p + "\": use text, extended, id, labels, ktimestamp, timestamp, userspace, xml, save or json";
    }
    if (o.error.length == 0 && (o.save || o.json) && named > 1) o.error = "output " + (o.save ? "save" : "json") + " cannot be combined with other formats";
    return o;
  }

  /**
   * What a plugin that prints like conntrack reads from its config, in one call: "output" (parse),
   * "utc_offset" (seconds east of UTC: local times of -o ktimestamp), "label_names" (labels=) and
   * "now" (renderClockFromConfig). A bad value fails init with "config: ..." (Plugin.fail).
   */
  static fromConfig(cfg: JsonValue): Output {
    setUtcOffset(<i64>cfg.getNumber("utc_offset", 0));
    renderClockFromConfig(cfg);
    const o = Output.parse(cfg.getString("output", "text"));
    if (o.error.length) fail("config: " + o.error);
    const names = labelNamesFromConfig(cfg);
    if (names.length) fail("config: " + names);
    return o;
  }

  /** One listed entry (`saveKind`: render-save.ts SAVE_ADD, or SAVE_DELETE for a deleted one). */
  entry(b: ByteBuf, e: Entry, saveKind: i32): void {
    if (this.json) renderJson(b, e);
    else if (this.save) renderSave(b, e, saveKind);
    else if (this.xml) renderXml(b, e, this.textFlags & TEXT_KTIMESTAMP ? XML_KTIMESTAMP : 0);
    else renderText(b, e, this.textFlags);
  }

  /** One event, shown at `time` (epoch seconds: -o timestamp). */
  event(b: ByteBuf, e: Entry, time: f64): void {
    if (this.json) renderJson(b, e, JSON_EVENT);
    else if (this.save) renderSave(b, e, SAVE_EVENT);
    else if (this.xml) renderXml(b, e, XML_EVENT | (this.stamp ? XML_WHEN : 0) | (this.textFlags & TEXT_KTIMESTAMP ? XML_KTIMESTAMP : 0), time);
    else {
      if (this.stamp) writeStamp(b, time);
      renderText(b, e, this.textFlags | TEXT_EVENT);
    }
  }

  /** An entry re-listed after lost events (a resync): a listing line, or JSON with "event":"resync". */
  resync(b: ByteBuf, e: Entry, saveKind: i32): void {
    if (this.json) renderJson(b, e, JSON_RESYNC);
    else this.entry(b, e, saveKind);
  }
}

/** conntrack's "[%-.8ld.%-.6ld]\t": seconds, then microseconds zero-padded to 6 digits. */
function writeStamp(b: ByteBuf, t: f64): void {
  const secs = <u64>Math.floor(t);
  let micros = <u64>Math.round((t - <f64>secs) * 1e6);
  if (micros > 999999) micros = 999999;
  b.byte(91).u64(secs).byte(46);
  for (let d: u64 = 100000; d > 1 && micros < d; d /= 10) b.byte(48);
  b.u64(micros).byte(93).byte(9);
}

/**
 * The "label_names" config ({"3": "web", ...}: bit -> name; the host reads connlabel.conf, as
 * conntrack does) into the names labels= prints. Returns the problem with it, or "".
 */
export function labelNamesFromConfig(cfg: JsonValue): string {
  const ln = cfg.get("label_names");
  if (!ln) return "";
  if (!ln.isObject) return "label_names must be an object of bit -> name";
  const names = new Map<i32, string>();
  for (let i = 0; i < ln.keys.length; i++) {
    const bit = parseU32Text(ln.keys[i]);
    const v = ln.items[i];
    if (bit < 0 || bit > 127 || !v.isString) return "label_names maps a bit 0..127 to a name";
    names.set(<i32>bit, v.s);
  }
  setLabelNames(names);
  return "";
}

/** The "now" config key, epoch seconds: pins the clock of delta-time= (reproducible output). Fails init when not a u32. */
export function renderClockFromConfig(cfg: JsonValue): void {
  const now = cfg.get("now");
  if (!now) return;
  const t = u32Of(now);
  if (t < 0) fail("config: now must be epoch seconds");
  else setRenderClock(<u64>t);
}

/** A count config key such as "limit" (0 when absent). Fails init with "config: KEY must be a count" when not a u32. */
export function countFromConfig(cfg: JsonValue, key: string): u64 {
  const v = cfg.get(key);
  if (!v) return 0;
  const n = u32Of(v);
  if (n < 0) { fail("config: " + key + " must be a count"); return 0; }
  return <u64>n;
}
