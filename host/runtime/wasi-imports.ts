// The WASI functions a plugin may import (abi.json wasiAllowed). @wasmer/wasi supplies the clock;
// the host implements the ones that touch host resources or plugin memory in bulk itself:
// fd_write (stdout/stderr become capped, rate-limited, escaped log records), proc_exit (the exit
// code unwinds to the export call that caused it) and random_get (bounded by the memory the
// plugin may write, filled in slices).
import { getRandomValues } from 'node:crypto';
import { abi } from '../policy/abi.js';
import { type LogSink, MAX_LINE_BYTES } from './log-sink.js';

/** WASI errno values (wasi_snapshot_preview1). */
const WASI_ESUCCESS = 0, WASI_EBADF = 8, WASI_EFAULT = 21;
/** getRandomValues fills at most this many bytes per call. */
const RANDOM_SLICE = 65536;

/** Thrown by proc_exit: unwinds the Wasm stack back to the export call. */
export class ProcExit { constructor(readonly code: number) {} }

/** The plugin's memory as the hostcalls see it (re-read after memory.grow). */
export interface MemoryAccess {
  /** The (ptr, len) range is inside memory; refreshes the views. */
  span(ptr: number, len: number): boolean;
  u8(): Uint8Array;
  dv(): DataView;
}

export function wasiImports(mem: MemoryAccess, logs: LogSink, fromWasmer: Record<string, WebAssembly.ImportValue>): Record<string, WebAssembly.ImportValue> {
  const own: Record<string, WebAssembly.ImportValue> = {
    fd_write: (fd: number, iovs: number, count: number, nwritten: number) => fdWrite(mem, logs, fd, iovs, count, nwritten),
    proc_exit: (code: number) => { throw new ProcExit(code >>> 0); },
    random_get: (ptr: number, len: number) => {
      if (!mem.span(ptr, len)) return WASI_EFAULT;
      const u8 = mem.u8();
      for (let at = 0; at < len; at += RANDOM_SLICE) getRandomValues(u8.subarray(ptr + at, ptr + Math.min(len, at + RANDOM_SLICE)));
      return WASI_ESUCCESS;
    },
  };
  return Object.fromEntries(abi.wasiAllowed.map((n) => [n, own[n] ?? fromWasmer[n]]));
}

/** WASI fd_write: fd 1/2 become log lines (stdout: info, stderr: warn); other fds do not exist. */
function fdWrite(mem: MemoryAccess, logs: LogSink, fd: number, iovs: number, count: number, nwrittenPtr: number): number {
  if (fd !== 1 && fd !== 2) return WASI_EBADF;
  if (count < 0 || !mem.span(iovs, count * 8) || !mem.span(nwrittenPtr, 4)) return WASI_EFAULT;
  let total = 0;
  const dec = new TextDecoder();
  for (let i = 0; i < count; i++) {
    const dv = mem.dv();
    const p = dv.getUint32(iovs + 8 * i, true), n = dv.getUint32(iovs + 8 * i + 4, true);
    if (!mem.span(p, n)) return WASI_EFAULT;
    total += n;
    // Only what a line can hold is decoded; a flood costs the plugin its own time, not host memory.
    if (logs.roomFor(fd)) logs.write(fd, dec.decode(mem.u8().subarray(p, p + Math.min(n, MAX_LINE_BYTES + 1)), { stream: true }));
  }
  mem.dv().setUint32(nwrittenPtr, total, true);
  return WASI_ESUCCESS;
}
