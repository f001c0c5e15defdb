// ctplug AssemblyScript SDK: the public surface for plugin authors.
//
//   import { Entry, Verdict, Plugin, Filter } from "../../sdk/assembly";
//   export * from "../../sdk/assembly/exports";
//   let f: Filter;
//   Plugin.init((cfg) => { f = Filter.fromConfig(cfg); Plugin.dumpAll(f.kernelRequests()); });
//   Plugin.onEntry((e: Entry): Verdict => f.matches(e) ? Verdict.Delete : Verdict.Keep);
export { Plugin, CreateSpec, UpdateSpec, Verdict, InitFn, EntryFn, FinishFn, EventFn, DumpDoneFn, SUBSCRIBE_NEW, SUBSCRIBE_UPDATE, SUBSCRIBE_DESTROY } from "./plugin";
export { Entry, EVENT_NEW, EVENT_UPDATE, EVENT_DESTROY } from "./entry";
export { Tuple } from "./tuple";
export { AttrIter, findAttr } from "./attr";
export { Filter, DumpRequest, checkConfigKeys } from "./filter";
export { FILTER_KEYS } from "./filter-keys";
export { parseU32Text, u32Of } from "./filter-values";
export { Cidr, PortRange, parseAddr } from "./addr";
export { formatAddr } from "./addr-format";
export { ByteBuf } from "./buf";
export { renderText, renderJson, entryStateName, setRenderClock, setLabelNames, TEXT_EXTENDED, TEXT_ID, TEXT_LABELS, TEXT_EVENT, TEXT_KTIMESTAMP, JSON_EVENT, JSON_RESYNC } from "./render";
export { renderXml, XML_HEADER, XML_FOOTER, XML_EVENT, XML_KTIMESTAMP, XML_WHEN } from "./render-xml";
export { renderSave, SAVE_ADD, SAVE_DELETE, SAVE_EVENT } from "./render-save";
export { Output, labelNamesFromConfig, renderClockFromConfig, countFromConfig } from "./output";
export { setUtcOffset, localTime, LocalTime, ctimeText } from "./local-time";
export { JsonValue, JsonKind, parseJson, jsonError } from "./json";
export { JsonWriter } from "./json-writer";
export { log, logError, logWarn, logInfo, logDebug, fail, Level } from "./log";
export * from "./status";
export * from "./ctnetlink";
export { be16, be32, be64 } from "./bytes";
export {
  STATUS_OK, STATUS_CONTINUE, STATUS_STOP, STATUS_E_INVAL, STATUS_E_BOUNDS, STATUS_E_DENIED, STATUS_E_SCOPE,
  STATUS_E_LIMIT, STATUS_E_STATE, BATCH_RESYNC as BATCH_RESYNC_FLAG, ABI_VERSION,
} from "./abi";
