// Test plugin for events: subscribes with the match filters, prints events like
// `conntrack -E` and resync entries like `conntrack -L`. Config: filter keys + "kinds":
// ["new","update","destroy"] (default all).
import { Entry, Verdict, Plugin, Filter, JsonValue, renderText, TEXT_EVENT, SUBSCRIBE_NEW, SUBSCRIBE_UPDATE, SUBSCRIBE_DESTROY } from "../../../sdk/assembly";
export * from "../../../sdk/assembly/exports";

let filter = new Filter();
Plugin.init((cfg: JsonValue) => {
  filter = Filter.fromConfig(cfg);
  let kinds = 0;
  const k = cfg.get("kinds");
  if (k && k.isArray) for (let i = 0; i < k.length; i++) {
    const s = k.at(i)!.s;
    if (s == "new") kinds |= SUBSCRIBE_NEW; else if (s == "update") kinds |= SUBSCRIBE_UPDATE; else if (s == "destroy") kinds |= SUBSCRIBE_DESTROY;
    else Plugin.fail("config: kinds: unknown kind " + s);
  }
  Plugin.subscribe(filter.eventRequest(), kinds);
});
Plugin.onEvent((e: Entry): Verdict => {
  if (filter.matches(e)) renderText(Plugin.out, e, TEXT_EVENT);
  return Verdict.Keep;
});
Plugin.onEntry((e: Entry): Verdict => {
  if (filter.matches(e)) renderText(Plugin.out, e);
  return Verdict.Keep;
});
