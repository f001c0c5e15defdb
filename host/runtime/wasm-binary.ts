// A small, bounds-checked reader for the parts of a wasm binary the module check needs and that
// WebAssembly.Module.imports/exports do not give: function signatures, memory and table limits,
// and how much the instance would hold (globals, element and data segments).
// Every read checks the remaining length; a malformed module throws WasmFormatError.

export class WasmFormatError extends Error {}

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';
export interface FuncType { params: ValType[]; results: ValType[] }
export interface Limits { min: number; max: number | null; shared: boolean; memory64: boolean }

export type ImportDesc =
  | { kind: 'function'; type: FuncType }
  | { kind: 'table' }
  | { kind: 'memory'; limits: Limits }
  | { kind: 'global' }
  | { kind: 'tag' };
export type Import = { module: string; name: string } & ImportDesc;
export interface Export { name: string; kind: 'function' | 'table' | 'memory' | 'global' | 'tag'; index: number }

/** What instantiating the module makes the engine allocate, besides memory. */
export interface InstanceFootprint {
  /** Tables defined by the module itself: their limits (elements). */
  tables: Limits[];
  globals: number;
  elementSegments: number;
  /** Element entries over all segments. */
  elements: number;
  dataSegments: number;
  /** Bytes over all data segments. */
  dataBytes: number;
  /** The module has a start section (a function run inside instantiation). */
  hasStart: boolean;
}

export interface WasmInfo extends InstanceFootprint {
  imports: Import[];
  exports: Export[];
  /** Memories defined by the module itself (not imported). */
  memories: Limits[];
  /** Signature of a function by its index in the function index space (imports first). */
  funcType(index: number): FuncType | undefined;
}

const VALTYPES: Record<number, ValType> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };
const EXTERN_KINDS = ['function', 'table', 'memory', 'global', 'tag'] as const;

class Reader {
  constructor(private readonly b: Uint8Array, public pos: number, private readonly end: number) {}

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new WasmFormatError(`unexpected end of section at byte ${this.pos}`);
  }
  get done(): boolean { return this.pos >= this.end; }
  byte(): number { this.need(1); return this.b[this.pos++]; }
  /** Unsigned LEB128 up to 32 bits (at most 5 bytes). */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (result > 0xffffffff) throw new WasmFormatError(`LEB128 value too large at byte ${this.pos}`);
        return result;
      }
    }
    throw new WasmFormatError(`LEB128 too long at byte ${this.pos}`);
  }
  /** Unsigned LEB128 up to 64 bits, as a number (memory64 limits); precision beyond 2^53 does not matter here. */
  u64(): number {
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new WasmFormatError(`LEB128 too long at byte ${this.pos}`);
  }
  /** A vector length: every element takes at least one byte, so it cannot exceed what is left. */
  count(): number {
    const n = this.u32();
    if (n > this.end - this.pos) throw new WasmFormatError(`vector of ${n} elements at byte ${this.pos} runs past the section`);
    return n;
  }
  bytes(n: number): Uint8Array { this.need(n); const out = this.b.subarray(this.pos, this.pos + n); this.pos += n; return out; }
  name(): string {
    const bytes = this.bytes(this.u32());
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new WasmFormatError(`invalid UTF-8 name at byte ${this.pos}`);
    }
  }
  valtype(): ValType {
    const t = this.byte();
    const v = VALTYPES[t];
    if (!v) throw new WasmFormatError(`unsupported value type 0x${t.toString(16)} at byte ${this.pos - 1}`);
    return v;
  }
  /** Skips a signed LEB128 of at most `bytes` bytes. */
  skipSigned(bytes: number): void {
    for (let i = 0; i < bytes; i++) if ((this.byte() & 0x80) === 0) return;
    throw new WasmFormatError(`LEB128 too long at byte ${this.pos}`);
  }
  /** Skips a constant expression (global, element and data offsets) up to its `end`. */
  constExpr(): void {
    for (;;) {
      const op = this.byte();
      switch (op) {
        case 0x0b: return; // end
        case 0x41: this.skipSigned(5); break; // i32.const
        case 0x42: this.skipSigned(10); break; // i64.const
        case 0x43: this.bytes(4); break; // f32.const
        case 0x44: this.bytes(8); break; // f64.const
        case 0x23: case 0xd2: this.u32(); break; // global.get, ref.func
        case 0xd0: this.byte(); break; // ref.null t
        case 0x6a: case 0x6b: case 0x6c: case 0x7c: case 0x7d: case 0x7e: break; // extended-const add/sub/mul
        case 0xfd: if (this.u32() !== 12) throw new WasmFormatError(`unsupported SIMD constant expression at byte ${this.pos}`); this.bytes(16); break;
        default: throw new WasmFormatError(`unsupported constant expression opcode 0x${op.toString(16)} at byte ${this.pos - 1}`);
      }
    }
  }
  limits(): Limits {
    const flags = this.byte();
    if (flags > 0x07) throw new WasmFormatError(`unsupported limits flags 0x${flags.toString(16)}`);
    const memory64 = (flags & 0x04) !== 0;
    const min = memory64 ? this.u64() : this.u32();
    const max = flags & 0x01 ? (memory64 ? this.u64() : this.u32()) : null;
    return { min, max, shared: (flags & 0x02) !== 0, memory64 };
  }
}

/** Parse the type, import, function, table, memory, global, export, start, element and data sections; others are skipped. */
export function readWasm(bytes: Uint8Array): WasmInfo {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new WasmFormatError('not a wasm module (bad magic)');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new WasmFormatError('unsupported wasm binary version');
  const types: FuncType[] = [];
  const imports: Import[] = [];
  const funcTypeIdx: number[] = []; // function index space: imported functions first
  const memories: Limits[] = [];
  const exports: Export[] = [];
  const fp: InstanceFootprint = { tables: [], globals: 0, elementSegments: 0, elements: 0, dataSegments: 0, dataBytes: 0, hasStart: false };

  const top = new Reader(bytes, 8, bytes.length);
  while (!top.done) {
    const id = top.byte();
    const size = top.u32();
    const start = top.pos;
    top.bytes(size); // bounds check and skip
    const r = new Reader(bytes, start, start + size);
    switch (id) {
      case 1: // type
        for (let n = r.count(); n > 0; n--) {
          const form = r.byte();
          if (form !== 0x60) throw new WasmFormatError(`unsupported type form 0x${form.toString(16)}`);
          const params = Array.from({ length: r.count() }, () => r.valtype());
          const results = Array.from({ length: r.count() }, () => r.valtype());
          types.push({ params, results });
        }
        break;
      case 2: // import
        for (let n = r.count(); n > 0; n--) {
          const module = r.name(), name = r.name();
          const kind = r.byte();
          if (kind === 0) {
            const ti = r.u32();
            const t = types[ti];
            if (!t) throw new WasmFormatError(`import ${module}.${name} uses an unknown type index`);
            funcTypeIdx.push(ti);
            imports.push({ module, name, kind: 'function', type: t });
          } else if (kind === 1) { r.byte(); r.limits(); imports.push({ module, name, kind: 'table' }); }
          else if (kind === 2) imports.push({ module, name, kind: 'memory', limits: r.limits() });
          else if (kind === 3) { r.valtype(); r.byte(); imports.push({ module, name, kind: 'global' }); }
          else if (kind === 4) { r.byte(); r.u32(); imports.push({ module, name, kind: 'tag' }); }
          else throw new WasmFormatError(`unknown import kind ${kind} for ${module}.${name}`);
        }
        break;
      case 3: // function
        for (let n = r.count(); n > 0; n--) funcTypeIdx.push(r.u32());
        break;
      case 4: // table
        for (let n = r.count(); n > 0; n--) {
          if (r.byte() === 0x40) throw new WasmFormatError('tables with initialiser expressions are not supported');
          fp.tables.push(r.limits());
        }
        break;
      case 5: // memory
        for (let n = r.count(); n > 0; n--) memories.push(r.limits());
        break;
      case 6: // global
        fp.globals = r.count();
        break;
      case 8: // start
        fp.hasStart = true;
        break;
      case 9: // element
        for (let n = (fp.elementSegments = r.count()); n > 0; n--) {
          const flags = r.u32();
          if (flags > 7) throw new WasmFormatError(`unknown element segment kind ${flags}`);
          if (flags === 2 || flags === 6) r.u32(); // table index
          if ((flags & 1) === 0) r.constExpr(); // active: offset
          if (flags & 3) r.byte(); // elemkind / reftype
          const count = r.count();
          fp.elements += count;
          for (let i = 0; i < count; i++) if (flags & 4) r.constExpr(); else r.u32();
        }
        break;
      case 11: // data
        for (let n = (fp.dataSegments = r.count()); n > 0; n--) {
          const flags = r.u32();
          if (flags > 2) throw new WasmFormatError(`unknown data segment kind ${flags}`);
          if (flags === 2) r.u32(); // memory index
          if (flags !== 1) r.constExpr(); // active: offset
          const size = r.u32();
          r.bytes(size);
          fp.dataBytes += size;
        }
        break;
      case 7: // export
        for (let n = r.count(); n > 0; n--) {
          const name = r.name();
          const kind = EXTERN_KINDS[r.byte()];
          if (!kind) throw new WasmFormatError(`unknown export kind for ${name}`);
          exports.push({ name, kind, index: r.u32() });
        }
        break;
    }
  }
  return { imports, exports, memories, ...fp, funcType: (i) => types[funcTypeIdx[i]] };
}
