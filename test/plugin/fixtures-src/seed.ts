// Test plugin for create/flush: creates the entries in config "create" (list of
// {proto, src, dst, sport, dport, zone, mark, timeout, state}) and flushes {"flush_zone": N}.
import { Plugin, CreateSpec, DumpRequest, JsonValue, protoFromName, tcpStateFromName } from "../../../sdk/assembly";
export * from "../../../sdk/assembly/exports";

Plugin.init((cfg: JsonValue) => {
  const list = cfg.get("create");
  if (list) for (let i = 0; i < list.length; i++) {
    const o = list.at(i)!;
    const c = new CreateSpec();
    c.protocol = protoFromName(o.getString("proto", "tcp"));
    c.src = o.getString("src"); c.dst = o.getString("dst");
    c.sport = <i32>o.getNumber("sport"); c.dport = <i32>o.getNumber("dport");
    c.icmpType = <i32>o.getNumber("type"); c.icmpId = <i32>o.getNumber("id");
    if (o.has("zone")) { c.hasZone = true; c.zone = <i32>o.getNumber("zone"); }
    if (o.has("mark")) { c.hasMark = true; c.mark = <u32>o.getNumber("mark"); }
    c.timeout = <u32>o.getNumber("timeout", 60);
    if (o.has("state")) c.tcpState = tcpStateFromName(o.getString("state"));
    Plugin.create(c);
  }
  const fz = cfg.get("flush_zone");
  if (fz) { const r = new DumpRequest(); r.hasZone = true; r.zone = <i32>fz.n; Plugin.flush(r); }
});
