// Everything that can be decided about a plugin module before it runs: it is a valid module, the
// bytes are the ones the manifest pinned, it imports only what ctplug ABI v1 offers (with the
// right signatures, WASI's too), it carries the ABI marker, exports what the host will call with
// the right signatures, its memory has a maximum within the grant, and its instance holds no more
// tables, globals, element and data segments than module-limits.ts allows.
// This runs in the main thread, before any worker exists.
import { createHash } from 'node:crypto';
import { abi, formatSignature, type Signature, speaks } from '../policy/abi.js';
import { escapeText } from '../policy/untrusted-text.js';
import { ModuleCheckError } from './errors.js';
import { footprintProblem, MODULE_LIMITS } from './module-limits.js';
import { type FuncType, readWasm, WasmFormatError } from './wasm-binary.js';

export interface CheckedModule {
  module: WebAssembly.Module;
  /** The module imports WASI functions, so it is instantiated through @wasmer/wasi. */
  usesWasi: boolean;
  abiVersion: number;
  /** The module's declared memory maximum, in pages. */
  memoryMaxPages: number;
}

const PAGE = 65536;
const mib = (pages: number) => `${(pages * PAGE) / (1024 * 1024)} MiB`;
const sameSig = (t: FuncType, s: Signature) =>
  t.params.join() === s.params.join() && t.results.join() === s.results.join();

export function allowedImports(): string {
  return `${abi.importModule}: ${Object.keys(abi.imports).join(', ')}; ${abi.wasiModule}: ${abi.wasiAllowed.join(', ')}`;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function checkModule(plugin: string, bytes: Uint8Array, opts: { sha256?: string; memoryMaxPages: number }): CheckedModule {
  const fail: (msg: string) => never = (msg) => { throw new ModuleCheckError(plugin, `plugin "${plugin}"${msg}`); };

  // A valid module first: an error about some other file must not disclose its digest.
  if (bytes.length > MODULE_LIMITS.moduleBytes) fail(`: the module is ${bytes.length} bytes; ctplug allows at most ${MODULE_LIMITS.moduleBytes}`);
  let info;
  try {
    info = readWasm(bytes);
  } catch (e) {
    return fail(`: not a valid wasm module: ${e instanceof WasmFormatError ? e.message : String(e)}`);
  }
  const footprint = footprintProblem(info, opts.memoryMaxPages * PAGE);
  if (footprint) fail(`: module ${footprint}`);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    return fail(`: not a valid wasm module: ${escapeText(e instanceof WebAssembly.CompileError ? e.message : String(e))}`);
  }

  if (opts.sha256 !== undefined) {
    const actual = sha256(bytes);
    if (actual !== opts.sha256.toLowerCase()) {
      fail(`: module sha256 is ${actual} but the manifest pins ${opts.sha256.toLowerCase()}; rebuild the plugin or update the manifest`);
    }
  }

  const where = `(ctplug ABI ${speaks()} allows: ${allowedImports()})`;
  let usesWasi = false;
  for (const imp of info.imports) {
    const what = `${escapeText(imp.module)}.${escapeText(imp.name)}`;
    if (imp.kind !== 'function') {
      fail(`: import ${what} is a ${imp.kind} import; plugins may import only functions and must define (and export) their own memory ${where}`);
    }
    if (imp.module === abi.importModule && Object.hasOwn(abi.imports, imp.name)) {
      const def = abi.imports[imp.name];
      if (!sameSig(imp.type, def)) fail(`: import ${what} has signature ${formatSignature(imp.type)}; ctplug ABI v${abi.version} defines ${formatSignature(def)}`);
    } else if (imp.module === abi.wasiModule && abi.wasiAllowed.includes(imp.name)) {
      const def = abi.wasiSignatures[imp.name];
      if (!def || !sameSig(imp.type, def)) fail(`: import ${what} has signature ${formatSignature(imp.type)}; ${abi.wasiModule} defines ${def ? formatSignature(def) : '(unknown)'}`);
      usesWasi = true;
    } else {
      fail(`: import ${what} is not allowed ${where}`);
    }
  }

  const marker = new RegExp(abi.markerPattern);
  const versions = info.exports.map((e) => marker.exec(e.name)).filter((m) => m !== null).map((m) => Number(m![1]));
  if (versions.length === 0) fail(` has no ${abi.marker.replace(/\d+$/, 'N')} export; this host speaks ctplug ABI ${speaks()}`);
  const abiVersion = versions.find((v) => abi.supported.includes(v));
  if (abiVersion === undefined) fail(` targets ctplug ABI ${versions.map((v) => `v${v}`).join(', ')}; this host speaks ${speaks()}`);

  const exportsByName = new Map(info.exports.map((e) => [e.name, e]));
  const checkExport = (name: string, def: Partial<Signature> & { kind?: string }, required: boolean) => {
    const e = exportsByName.get(name);
    if (!e) {
      if (required) fail(` does not export ${name}, which ctplug ABI v${abi.version} requires${def.params ? ` with signature ${formatSignature(def as Signature)}` : ''}`);
      return;
    }
    const kind = def.kind ?? 'function';
    if (e.kind !== kind) fail(`: export ${name} is a ${e.kind}; ctplug ABI v${abi.version} requires a ${kind}`);
    if (kind === 'function') {
      const t = info.funcType(e.index);
      if (!t || !sameSig(t, def as Signature)) fail(`: export ${name} has signature ${t ? formatSignature(t) : '?'}; ctplug ABI v${abi.version} requires ${formatSignature(def as Signature)}`);
    }
  };
  for (const [name, def] of Object.entries(abi.exports.required)) checkExport(name, def, true);
  for (const [name, def] of Object.entries(abi.exports.optional)) checkExport(name, def, false);

  // worker_threads resourceLimits do not bound Wasm memory; the declared maximum does.
  const cap = opts.memoryMaxPages;
  const fix = `build with --maximumMemory ${cap} (or lower) or ask the operator to raise limits.memory_max_pages`;
  if (info.memories.length === 0) fail(' defines no memory');
  for (const m of info.memories) {
    if (m.memory64 || m.shared) fail(`: ${m.memory64 ? '64-bit' : 'shared'} memory is not supported`);
    if (m.max === null) fail(`: memory has no declared maximum; the grant allows at most ${cap} pages (${mib(cap)}); ${fix}`);
    if (m.max! > cap) fail(`: memory maximum is ${m.max} pages (${mib(m.max!)}) but the grant allows ${cap} pages (${mib(cap)}); ${fix}`);
  }
  return { module, usesWasi, abiVersion: abiVersion!, memoryMaxPages: info.memories[0].max! };
}
