// Pre-instantiation checks: what a module may import, the ABI marker, exports, memory limits, hash.
// The messages are asserted exactly: they are what plugin authors read.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkModule } from '../../host/runtime/module-check.js';
import { ModuleCheckError } from '../../host/runtime/errors.js';
import { readWasm, WasmFormatError } from '../../host/runtime/wasm-binary.js';
import { plugin, sha, wat } from '../helpers/wasm.js';

const ALLOWS = '(ctplug ABI v1 allows: ctplug: dump, delete, update, create, subscribe, flush, emit, log, clock, config; wasi_snapshot_preview1: fd_write, proc_exit, clock_time_get, random_get)';

function refused(bytes: Uint8Array, message: string, opts: { sha256?: string; memoryMaxPages?: number } = {}) {
  try {
    checkModule('x', bytes, { memoryMaxPages: 256, ...opts });
  } catch (e) {
    assert.instance(e, ModuleCheckError);
    assert.is((e as Error).message, message);
    assert.is((e as ModuleCheckError).plugin, 'x');
    return;
  }
  assert.unreachable(`should have been refused: ${message}`);
}

test('a well-formed plugin passes; WASI use is detected', () => {
  const plain = checkModule('x', wat(plugin()), { memoryMaxPages: 256 });
  assert.is(plain.usesWasi, false);
  assert.is(plain.abiVersion, 1);
  assert.is(plain.memoryMaxPages, 64);
  const wasi = checkModule('x', wat(plugin({ imports: '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))' })), { memoryMaxPages: 256 });
  assert.is(wasi.usesWasi, true);
});

for (const [what, imp] of [
  ['path_open', '(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))'],
  ['sock_accept', '(import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))'],
  ['environ_get', '(import "wasi_snapshot_preview1" "environ_get" (func (param i32 i32) (result i32)))'],
] as const) {
  test(`WASI ${what} is refused, naming the import and what ABI v1 allows`, () => {
    refused(wat(plugin({ imports: imp })), `plugin "x": import wasi_snapshot_preview1.${what} is not allowed ${ALLOWS}`);
  });
}

test('an unknown ctplug function and a foreign module are refused', () => {
  refused(wat(plugin({ imports: '(import "ctplug" "raw_send" (func (param i32 i32) (result i32)))' })), `plugin "x": import ctplug.raw_send is not allowed ${ALLOWS}`);
  refused(wat(plugin({ imports: '(import "env" "abort" (func (param i32 i32 i32 i32)))' })), `plugin "x": import env.abort is not allowed ${ALLOWS}`);
});

test('a ctplug import with the wrong signature is refused with both signatures', () => {
  refused(wat(plugin({ omitImports: ['dump'], imports: '(import "ctplug" "dump" (func $dump (param i32) (result i32)))' })),
    'plugin "x": import ctplug.dump has signature (i32) -> i32; ctplug ABI v1 defines (i32, i32) -> i32');
});

test('imported memory, table and global are refused', () => {
  const mem = wat(`(module (import "env" "memory" (memory 1 2)) (global (export "ctplug_abi_v1") i32 (i32.const 1)))`);
  refused(mem, `plugin "x": import env.memory is a memory import; plugins may import only functions and must define (and export) their own memory ${ALLOWS}`);
  refused(wat(plugin({ imports: '(import "env" "table" (table 1 funcref))' })), `plugin "x": import env.table is a table import; plugins may import only functions and must define (and export) their own memory ${ALLOWS}`);
  refused(wat(plugin({ imports: '(import "env" "g" (global i32))' })), `plugin "x": import env.g is a global import; plugins may import only functions and must define (and export) their own memory ${ALLOWS}`);
});

test('ABI marker: missing, or a version this host does not speak', () => {
  refused(wat(plugin({ marker: '' })), 'plugin "x" has no ctplug_abi_vN export; this host speaks ctplug ABI v1');
  refused(wat(plugin({ marker: '(global (export "ctplug_abi_v2") i32 (i32.const 2))' })), 'plugin "x" targets ctplug ABI v2; this host speaks v1');
});

test('required exports must exist with the ABI signature', () => {
  const noAlloc = wat(plugin()).slice(); // sanity: the skeleton has it
  assert.ok(readWasm(noAlloc).exports.some((e) => e.name === 'ctplug_alloc'));
  const missing = wat(`(module (memory (export "memory") 1 2) (global (export "ctplug_abi_v1") i32 (i32.const 1))
    (func (export "ctplug_alloc") (param i32) (result i32) (i32.const 0))
    (func (export "ctplug_init") (result i32) (i32.const 0)))`);
  refused(missing, 'plugin "x" does not export ctplug_on_entries, which ctplug ABI v1 requires with signature (i32, i32, i32) -> i32');
  const wrong = wat(`(module (memory (export "memory") 1 2) (global (export "ctplug_abi_v1") i32 (i32.const 1))
    (func (export "ctplug_alloc") (param i32) (result i32) (i32.const 0))
    (func (export "ctplug_init") (result i32) (i32.const 0))
    (func (export "ctplug_on_entries") (param i32 i32) (result i32) (i32.const 0)))`);
  refused(wrong, 'plugin "x": export ctplug_on_entries has signature (i32, i32) -> i32; ctplug ABI v1 requires (i32, i32, i32) -> i32');
  const noMemoryExport = wat(`(module (memory 1 2) (global (export "ctplug_abi_v1") i32 (i32.const 1)))`);
  refused(noMemoryExport, 'plugin "x" does not export memory, which ctplug ABI v1 requires');
});

test('memory: a declared maximum is required and must fit the grant', () => {
  refused(wat(plugin({ memory: '1' })), 'plugin "x": memory has no declared maximum; the grant allows at most 256 pages (16 MiB); build with --maximumMemory 256 (or lower) or ask the operator to raise limits.memory_max_pages');
  refused(wat(plugin({ memory: '1 512' })), 'plugin "x": memory maximum is 512 pages (32 MiB) but the grant allows 256 pages (16 MiB); build with --maximumMemory 256 (or lower) or ask the operator to raise limits.memory_max_pages');
  refused(wat(plugin({ memory: '1 64' })), 'plugin "x": memory maximum is 64 pages (4 MiB) but the grant allows 16 pages (1 MiB); build with --maximumMemory 16 (or lower) or ask the operator to raise limits.memory_max_pages', { memoryMaxPages: 16 });
});

test('sha256 must match the manifest', () => {
  const bytes = wat(plugin());
  checkModule('x', bytes, { sha256: sha(bytes).toUpperCase(), memoryMaxPages: 256 });
  const other = '0'.repeat(64);
  refused(bytes, `plugin "x": module sha256 is ${sha(bytes)} but the manifest pins ${other}; rebuild the plugin or update the manifest`, { sha256: other });
});

test('not wasm, or truncated wasm, is refused without reading out of bounds', () => {
  // Judged by ctplug's reader first: the message shows none of the file's bytes (V8's quotes the first four).
  refused(new TextEncoder().encode('#!/bin/sh\necho hi'), 'plugin "x": not a valid wasm module: not a wasm module (bad magic)');
  const bytes = wat(plugin());
  for (const cut of [9, 20, 100, bytes.length - 1]) {
    assert.throws(() => readWasm(bytes.subarray(0, cut)), (e: unknown) => e instanceof WasmFormatError, `cut at ${cut}`);
  }
  // A section length pointing far past the end.
  const evil = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
  assert.throws(() => readWasm(evil), (e: unknown) => e instanceof WasmFormatError);
});

test('mutated modules: the reader and the check fail only with their own errors', () => {
  const good = wat(plugin({ imports: '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))' }));
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const rounds = process.env.CTPLUG_LONG ? 50000 : 3000;
  for (let i = 0; i < rounds; i++) {
    const b = good.slice();
    for (let k = 1 + rand(4); k > 0; k--) b[8 + rand(b.length - 8)] = rand(4) === 0 ? 0xff : rand(256);
    try { readWasm(b); } catch (e) { assert.instance(e, WasmFormatError, `round ${i}: ${(e as Error).message}`); }
    try { checkModule('x', b, { memoryMaxPages: 256 }); } catch (e) { assert.instance(e, ModuleCheckError, `round ${i}: ${(e as Error).message}`); }
  }
});

test.run();
