// Hand-written WAT plugins for runtime and hostile tests, compiled with the wabt npm package.
// `plugin({...})` fills a valid ctplug ABI v1 skeleton; each test overrides the part it attacks.
import wabtInit from 'wabt';
import { createHash } from 'node:crypto';

const wabt = await wabtInit();

export function wat(source: string): Uint8Array {
  const mod = wabt.parseWat('test.wat', source);
  try {
    mod.resolveNames();
    mod.validate();
    // Keep the names section: trap stacks must name the wasm function.
    return new Uint8Array(mod.toBinary({ write_debug_names: true }).buffer);
  } finally {
    mod.destroy();
  }
}

export interface PluginParts {
  /** Extra import lines. Every ctplug import is declared by default except those in `omit`. */
  imports?: string;
  omitImports?: string[];
  memory?: string;
  marker?: string;
  /** Body of ctplug_init (must leave an i32). */
  init?: string;
  /** Body of ctplug_on_entries (params $ptr $len $flags; must leave an i32). */
  onEntries?: string;
  finish?: string;
  /** Body of ctplug_on_events (params $ptr $len $flags; must leave an i32); omitted: no such export. */
  onEvents?: string;
  /** Extra module fields (functions, data, exports). */
  extra?: string;
}

const CTPLUG_IMPORTS: Record<string, string> = {
  dump: '(param i32 i32) (result i32)',
  delete: '(param i32 i32) (result i32)',
  update: '(param i32 i32) (result i32)',
  create: '(param i32 i32) (result i32)',
  subscribe: '(param i32 i32) (result i32)',
  flush: '(param i32 i32) (result i32)',
  emit: '(param i32 i32) (result i32)',
  log: '(param i32 i32 i32) (result i32)',
  config: '(param i32 i32) (result i32)',
};

/**
 * Memory layout of the skeleton: 0..1019 scratch for tests (data segments), 1020 the word $report
 * emits (so tests can read hostcall statuses from the output), 1024.. bump heap for ctplug_alloc.
 * $calls counts on_entries calls.
 */
export function plugin(p: PluginParts = {}): string {
  const imports = Object.entries(CTPLUG_IMPORTS)
    .filter(([n]) => !p.omitImports?.includes(n))
    .map(([n, sig]) => `  (import "ctplug" "${n}" (func $${n} ${sig}))`)
    .join('\n');
  return `(module
${imports}
${p.imports ?? ''}
  (memory (export "memory") ${p.memory ?? '1 64'})
  ${p.marker ?? '(global (export "ctplug_abi_v1") i32 (i32.const 1))'}
  (global $heap (mut i32) (i32.const 1024))
  (global $calls (mut i32) (i32.const 0))
  (func $report (param $v i32)
    (i32.store (i32.const 1020) (local.get $v))
    (drop (call $emit (i32.const 1020) (i32.const 4))))
  (func $alloc (export "ctplug_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1))) (i32.const -1))
        (then unreachable))))
    (local.get $p))
  (func $init (export "ctplug_init") (result i32)
    ${p.init ?? '(i32.const 0)'})
  (func $on_entries (export "ctplug_on_entries") (param $ptr i32) (param $len i32) (param $flags i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    ${p.onEntries ?? '(i32.const 0)'})
  ${p.finish === undefined ? '' : `(func $finish (export "ctplug_finish") (result i32) ${p.finish})`}
  ${p.onEvents === undefined ? '' : `(func $on_events (export "ctplug_on_events") (param $ptr i32) (param $len i32) (param $flags i32) (result i32) ${p.onEvents})`}
${p.extra ?? ''}
)`;
}

export function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A manifest object for `bytes` with the given capabilities (default: read, any scope). */
export function manifestFor(name: string, bytes: Uint8Array, capabilities: object = { operations: ['read'] }, limits: object = {}) {
  return { name, version: '0.0.1', abi: 1, module: `${name}.wasm`, sha256: sha(bytes), capabilities, limits };
}

/** Bytes as a WAT data string. */
export function dataString(bytes: Uint8Array): string {
  return '"' + Array.from(bytes, (b) => '\\' + b.toString(16).padStart(2, '0')).join('') + '"';
}

/** The i32 values a plugin emitted with $report. */
export function statuses(output: Uint8Array): number[] {
  const v = new DataView(output.buffer, output.byteOffset, output.byteLength);
  return Array.from({ length: output.length / 4 }, (_, i) => v.getInt32(4 * i, true));
}
