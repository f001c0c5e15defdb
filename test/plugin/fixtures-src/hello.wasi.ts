// Test plugin built WITH @assemblyscript/wasi-shim (sdk/asconfig.wasi.json): console.log goes
// to fd 1 and console.error to fd 2 through WASI fd_write, which the host captures.
import { Entry, Verdict, Plugin, JsonValue } from "../../../sdk/assembly";
export * from "../../../sdk/assembly/exports";

let n = 0;
Plugin.init((cfg: JsonValue) => {
  console.log("hello from wasi init, config " + cfg.toString());
  console.error("console.error goes to stdout in wasi-shim");
  process.stderr.write("hello on stderr\n");
});
Plugin.onEntry((e: Entry): Verdict => { n++; return Verdict.Keep; });
Plugin.onFinish(() => { console.log("hello saw " + n.toString() + " entries"); });
