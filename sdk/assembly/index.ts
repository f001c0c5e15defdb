// ctplug AssemblyScript SDK: the public surface for plugin authors.
//
//   import { Entry, Verdict, Plugin, Filter } from "../../sdk/assembly";
//   export * from "../../sdk/assembly/exports";
//   let f: Filter;
//   Plugin.init((cfg) => { f = Filter.fromConfig(cfg); Plugin.dumpAll(f.kernelRequests()); });
//   Plugin.onEntry((e: Entry): Verdict => f.matches(e) ? Verdict.Delete : Verdict.Keep);
export { Plugin, Verdict, InitFn, EntryFn, FinishFn } from "./plugin";
export { Entry } from "./entry";
export { Tuple } from "./tuple";
export { AttrIter, findAttr } from "./attr";
export { Filter, DumpRequest, FILTER_KEYS, parseU32Text, u32Of } from "./filter";
export { Cidr, PortRange, parseAddr } from "./addr";
export { ByteBuf } from "./buf";
export { renderText, renderJson, setRenderClock, formatAddr, TEXT_EXTENDED, TEXT_ID, TEXT_LABELS } from "./render";
export { JsonValue, JsonKind, parseJson, jsonError } from "./json";
export { log, logError, logWarn, logInfo, logDebug, fail, Level } from "./log";
export * from "./status";
export * from "./ctnetlink";
export { be16, be32, be64 } from "./bytes";
