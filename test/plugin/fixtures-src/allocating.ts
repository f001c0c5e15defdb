// Test plugin that allocates on every entry (strings, arrays) like a careless author would;
// the SDK's between-batch collection must keep its memory bounded.
import { Entry, Verdict, Plugin } from "../../../sdk/assembly";
export * from "../../../sdk/assembly/exports";

let chars = 0;
Plugin.onEntry((e: Entry): Verdict => {
  const s = e.orig.srcString() + " -> " + e.orig.dstString();
  const parts = s.split(" ");
  chars += parts.length + s.length;
  return Verdict.Keep;
});
Plugin.onFinish(() => { Plugin.print(chars.toString()); });
