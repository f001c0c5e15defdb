// Runs a built plugin wasm directly (no worker, no policy): a minimal `ctplug` imports object
// that records dump/delete/emit/log calls. SDK-level tests only; the real host is host/runtime.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const pluginPath = (name: string) => join(root, 'dist', 'plugins', `${name}.wasm`);
export const testPluginPath = (name: string) => join(root, 'dist', 'test-plugins', `${name}.wasm`);
export const built = (p: string) => existsSync(p);

export interface DumpReq { family: number; protocol: number; flags: number; zone: number; mark: number; markMask: number }

export class PluginRun {
  instance!: WebAssembly.Instance;
  memory!: WebAssembly.Memory;
  config: string;
  dumps: DumpReq[] = [];
  subscriptions: DumpReq[] = [];
  /** each delete call: the bytes passed */
  deleteCalls: Uint8Array[] = [];
  /** each update call: the bytes passed */
  updateCalls: Uint8Array[] = [];
  createCalls: Uint8Array[] = [];
  flushes: DumpReq[] = [];
  emitCalls = 0;
  output = '';
  logs: { level: number; msg: string }[] = [];
  /** WASI builds: what fd 1 / fd 2 received */
  stdout = '';
  stderr = '';
  /** what `delete` / `emit` return (tests can force errors) */
  deleteStatus = (n: number) => n;
  emitStatus = () => 0;
  batchPtr = 0;
  /** What the `clock` hostcall answers (seconds since the epoch); tests set it. */
  clock = 1_700_000_000.25;
  batchCap = 0;

  constructor(readonly wasmPath: string, config: unknown = {}) {
    this.config = typeof config === 'string' ? config : JSON.stringify(config);
  }

  private bytes(ptr: number, len: number): Uint8Array {
    const m = new Uint8Array(this.memory.buffer);
    if (ptr < 0 || len < 0 || ptr + len > m.length) throw new Error(`plugin passed out-of-range (${ptr}, ${len})`);
    return m.slice(ptr, ptr + len);
  }

  start(): this {
    const mod = new WebAssembly.Module(readFileSync(this.wasmPath));
    const imports: Record<string, Record<string, Function>> = {
      ctplug: {
        dump: (ptr: number, len: number) => {
          if (len !== 16) return -1;
          const v = new DataView(this.bytes(ptr, len).buffer);
          this.dumps.push({ family: v.getUint8(0), protocol: v.getUint8(1), flags: v.getUint16(2, true), zone: v.getUint16(4, true), mark: v.getUint32(8, true), markMask: v.getUint32(12, true) });
          return 0;
        },
        delete: (ptr: number, len: number) => { const b = this.bytes(ptr, len); this.deleteCalls.push(b); return this.deleteStatus(countMessages(b)); },
        subscribe: (ptr: number, len: number) => {
          if (len !== 16) return -1;
          const v = new DataView(this.bytes(ptr, len).buffer);
          this.subscriptions.push({ family: v.getUint8(0), protocol: v.getUint8(1), flags: v.getUint16(2, true), zone: v.getUint16(4, true), mark: v.getUint32(8, true), markMask: v.getUint32(12, true) });
          return 0;
        },
        update: (ptr: number, len: number) => { this.updateCalls.push(this.bytes(ptr, len)); return 1; },
        create: (ptr: number, len: number) => { this.createCalls.push(this.bytes(ptr, len)); return len / 64; },
        flush: (ptr: number, len: number) => {
          const v = new DataView(this.bytes(ptr, len).buffer);
          this.flushes.push({ family: v.getUint8(0), protocol: v.getUint8(1), flags: v.getUint16(2, true), zone: v.getUint16(4, true), mark: v.getUint32(8, true), markMask: v.getUint32(12, true) });
          return 0;
        },
        emit: (ptr: number, len: number) => { const st = this.emitStatus(); if (st === 0) { this.output += Buffer.from(this.bytes(ptr, len)).toString('utf8'); this.emitCalls++; } return st; },
        log: (level: number, ptr: number, len: number) => { this.logs.push({ level, msg: Buffer.from(this.bytes(ptr, len)).toString('utf8') }); return 0; },
        clock: () => this.clock,
        config: (ptr: number, cap: number) => {
          const b = Buffer.from(this.config, 'utf8');
          if (b.length <= cap) new Uint8Array(this.memory.buffer).set(b, ptr);
          return b.length;
        },
      },
    };
    // Just enough WASI for the SDK's wasi-shim build (console.log / console.error).
    const wasi: Record<string, Function> = {
      fd_write: (fd: number, iovs: number, n: number, nwritten: number) => {
        const v = new DataView(this.memory.buffer);
        let total = 0;
        for (let i = 0; i < n; i++) {
          const p = v.getUint32(iovs + i * 8, true), len = v.getUint32(iovs + i * 8 + 4, true);
          const text = Buffer.from(this.bytes(p, len)).toString('utf8');
          if (fd === 1) this.stdout += text; else if (fd === 2) this.stderr += text; else return 8;
          total += len;
        }
        v.setUint32(nwritten, total, true);
        return 0;
      },
      proc_exit: (code: number) => { throw new Error(`proc_exit(${code})`); },
    };
    for (const imp of WebAssembly.Module.imports(mod)) {
      if (imp.module === 'wasi_snapshot_preview1') {
        if (!wasi[imp.name]) throw new Error(`plugin imports WASI ${imp.name}, not in this harness`);
        imports.wasi_snapshot_preview1 = wasi;
      } else if (imp.module !== 'ctplug') throw new Error(`plugin imports ${imp.module}.${imp.name}`);
    }
    this.instance = new WebAssembly.Instance(mod, imports as WebAssembly.Imports);
    this.memory = this.instance.exports.memory as WebAssembly.Memory;
    const ex = this.instance.exports as any;
    if (ex._start) ex._start();
    return this;
  }

  get exports(): any { return this.instance.exports; }

  init(): number { return this.exports.ctplug_init(); }

  /** Copy `data` into the plugin's batch buffer (allocated once) and call ctplug_on_entries. */
  feed(data: Uint8Array, flags = 0, cap = 256 * 1024, poison?: Uint8Array): number {
    if (!this.batchPtr) { this.batchCap = Math.max(cap, data.length); this.batchPtr = this.exports.ctplug_alloc(this.batchCap); }
    if (data.length > this.batchCap) throw new Error('batch larger than the buffer');
    const mem = new Uint8Array(this.memory.buffer);
    mem.set(data, this.batchPtr);
    // bytes after the batch that a correct parser never looks at
    if (poison) for (let i = this.batchPtr + data.length, j = 0; i < this.batchPtr + this.batchCap; i++, j++) mem[i] = poison[j % poison.length];
    return this.exports.ctplug_on_entries(this.batchPtr, data.length, flags);
  }
  finish(): number { return this.exports.ctplug_finish(); }

  /** init + feed each batch + finish; returns this. Throws when init fails. */
  run(...batches: Uint8Array[]): this {
    this.start();
    const st = this.init();
    if (st !== 0) throw new Error(`ctplug_init returned ${st}: ${this.logs.map((l) => l.msg).join('; ')}`);
    for (const b of batches) this.feed(b);
    this.finish();
    return this;
  }

  get deleted(): Uint8Array[] { return this.deleteCalls.flatMap(splitMsgs); }
  get lines(): string[] { return this.output.split('\n').filter((l) => l.length > 0); }
}

export function countMessages(b: Uint8Array): number { return splitMsgs(b).length; }
export function splitMsgs(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let p = 0; p + 16 <= b.length;) {
    const len = v.getUint32(p, true);
    if (len < 16 || p + len > b.length) break;
    out.push(b.slice(p, p + len));
    p += (len + 3) & ~3;
  }
  return out;
}
