// The ABI exports of a ctplug plugin. Re-export them from your entry file with one line:
//   export * from "../../sdk/assembly/exports";
export { ctplug_abi_v1, ctplug_alloc, ctplug_init, ctplug_on_entries, ctplug_on_events, ctplug_on_dump_done, ctplug_finish } from "./plugin";
