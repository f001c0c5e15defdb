// Globals wired in by the asc config (`--lib sdk/assembly/lib --use abort=ctplug_abort ...`)
// so that a plugin built without WASI imports nothing but module "ctplug":
//   abort -> log the message through ctplug.log, then trap (unreachable)
//   trace -> ctplug.log at DEBUG
//   seed  -> a fixed seed (Math.random is deterministic without WASI; use the WASI build for entropy)
// None of these allocate: abort can be called when the heap is exhausted.
// Lib files cannot import the generated ../abi.ts, so the one hostcall used here is declared
// by hand; scripts/gen-abi.mjs checks this declaration against sdk/abi.json on every build.
@external("ctplug", "log")
declare function ctplug_log(level: i32, ptr: i32, len: i32): i32;
const LOG_ERROR: i32 = 0; // checked against abi.json logLevels by gen-abi.mjs
const LOG_DEBUG: i32 = 3; // checked against abi.json logLevels by gen-abi.mjs

const BUF_LEN: i32 = 512;
const BUF = memory.data(BUF_LEN);

function put(pos: i32, s: string | null): i32 {
  if (s === null) return pos;
  const p = changetype<usize>(s);
  const n = s.length; // UTF-16 units; non-ASCII becomes '?'
  for (let i = 0; i < n && pos < BUF_LEN; i++) {
    const c = <i32>load<u16>(p + (<usize>i << 1));
    store<u8>(BUF + <usize>pos, <u8>(c >= 32 && c < 127 ? c : 63));
    pos++;
  }
  return pos;
}

function putNum(pos: i32, v: u32): i32 {
  let div: u32 = 1000000000;
  let started = false;
  while (div > 0) {
    const d = (v / div) % 10;
    if (d != 0 || started || div == 1) {
      if (pos < BUF_LEN) { store<u8>(BUF + <usize>pos, <u8>(48 + d)); pos++; }
      started = true;
    }
    div /= 10;
  }
  return pos;
}

export function ctplug_abort(
  message: string | null = null,
  fileName: string | null = null,
  lineNumber: u32 = 0,
  columnNumber: u32 = 0,
): void {
  let pos = put(0, "abort: ");
  pos = put(pos, message === null ? "(no message)" : message);
  if (fileName !== null) {
    pos = put(pos, " at ");
    pos = put(pos, fileName);
    pos = put(pos, ":");
    pos = putNum(pos, lineNumber);
    pos = put(pos, ":");
    pos = putNum(pos, columnNumber);
  }
  ctplug_log(LOG_ERROR, <i32>BUF, pos);
  unreachable();
}

export function ctplug_trace(message: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let pos = put(0, "trace: ");
  pos = put(pos, message);
  if (n > 0) {
    pos = put(pos, " ");
    pos = putNum(pos, <u32>n);
    pos = put(pos, " value(s)");
  }
  ctplug_log(LOG_DEBUG, <i32>BUF, pos);
}

export function ctplug_seed(): f64 {
  return 0x5eed_c7_1ec;
}
