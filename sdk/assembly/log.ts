// Logging through the `log` hostcall, and the plugin's failure state. Never allocates:
// messages are encoded into a static buffer (truncated at LOG_MAX bytes).
import { ctplug_log, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, STATUS_E_INVAL } from "./abi";

export const LOG_MAX: i32 = 1024;
const LOGBUF = memory.data(LOG_MAX);

export enum Level { Error = LOG_ERROR, Warn = LOG_WARN, Info = LOG_INFO, Debug = LOG_DEBUG }

/** Encode a string into LOGBUF as UTF-8 (best effort, truncated); returns the byte length. */
function encode(msg: string): i32 {
  const n = String.UTF8.byteLength(msg, false);
  if (n <= LOG_MAX) {
    String.UTF8.encodeUnsafe(changetype<usize>(msg), msg.length, LOGBUF, false);
    return n;
  }
  // too long: copy ASCII-safe prefix
  let j = 0;
  for (let i = 0; i < msg.length && j < LOG_MAX; i++) {
    const c = msg.charCodeAt(i);
    store<u8>(LOGBUF + <usize>j, <u8>(c < 128 ? c : 63));
    j++;
  }
  return j;
}

export function log(level: i32, msg: string): void {
  ctplug_log(level, <i32>LOGBUF, encode(msg));
}
export function logError(msg: string): void { log(LOG_ERROR, msg); }
export function logWarn(msg: string): void { log(LOG_WARN, msg); }
export function logInfo(msg: string): void { log(LOG_INFO, msg); }
export function logDebug(msg: string): void { log(LOG_DEBUG, msg); }

/** Non-zero once fail() was called: ctplug_init returns it instead of OK. */
export let failStatus: i32 = 0;
/** Log `msg` as an error and make init (or the current call) fail with E_INVAL (or `status`). */
export function fail(msg: string, status: i32 = STATUS_E_INVAL): void {
  logError(msg);
  if (failStatus == 0) failStatus = status;
}
