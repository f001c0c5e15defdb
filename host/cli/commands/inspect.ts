// `ctplug plugin inspect FILE`: what a plugin is before anyone runs it: ABI version, imports,
// exports, declared capabilities and limits, memory, sha256 (and whether the manifest pins it).
// Every string from the manifest or the module is untrusted: escaped before it is printed.
import { existsSync } from 'node:fs';
import { MODULE_LIMITS } from '../../runtime/module-limits.js';
import { NotRegularFileError, readRegularFile } from '../../policy/regular-file.js';
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { CtError } from '../../conntrack/errors.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { resolvePluginFile } from '../plugins.js';

export async function run(p: Parsed): Promise<ExitCode> {
  const file = p.positionals[0];
  const fmt = p.opts.output ?? 'text';
  if (fmt !== 'text' && fmt !== 'json') throw new UsageError(`-o ${JSON.stringify(fmt)}: plugin inspect prints text or json`, 'plugin inspect');
  const { readWasm } = await import('../../runtime/wasm-binary.js');
  const { abi } = await import('../../policy/abi.js');
  const { sha256, allowedImports } = await import('../../runtime/module-check.js');
  const { loadManifest } = await import('../../policy/manifest.js');
  const { formatZones } = await import('../../policy/capabilities.js');
  const { escapeText: esc, terminalSafeJson } = await import('../../policy/untrusted-text.js');

  let wasmPath = file;
  let manifest: Awaited<ReturnType<typeof loadManifest>>['manifest'] | undefined;
  let manifestPath: string | undefined;
  let manifestProblem: string | undefined;
  if (file.endsWith('.json')) {
    const m = loadManifest(file);
    manifest = m.manifest;
    manifestPath = file;
    wasmPath = m.modulePath;
  } else {
    if (!existsSync(file)) throw new CtError('inspect', 'ENOENT', 'usage', `${file}: no such file`, { hint: 'give a plugin .wasm or its manifest' });
    try {
      manifestPath = resolvePluginFile(file).manifestPath;
      manifest = loadManifest(manifestPath).manifest;
    } catch (e) {
      manifestProblem = (e as Error).message;
    }
  }
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(wasmPath, MODULE_LIMITS.moduleBytes);
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new CtError('inspect', 'EINVAL', 'usage', e.message, { hint: 'give a plugin .wasm or its manifest' });
    throw new CtError('inspect', 'ENOENT', 'usage', `${wasmPath}: no such file`, { hint: 'build the plugin first' });
  }
  let info;
  try {
    info = readWasm(bytes);
  } catch (e) {
    throw new CtError('inspect', 'EINVAL', 'usage', `${wasmPath}: not a wasm module: ${esc((e as Error).message)}`);
  }
  const marker = new RegExp(abi.markerPattern);
  const abiVersions = info.exports.map((e) => marker.exec(e.name)).filter((m) => m).map((m) => Number(m![1]));
  const hash = sha256(bytes);
  const allowed = (i: { module: string; name: string }) =>
    (i.module === abi.importModule && Object.hasOwn(abi.imports, i.name)) || (i.module === abi.wasiModule && abi.wasiAllowed.includes(i.name));
  const report = {
    file: wasmPath,
    bytes: bytes.length,
    sha256: hash,
    abi: { exported: abiVersions, hostSpeaks: abi.supported, compatible: abiVersions.some((v) => abi.supported.includes(v)) },
    imports: info.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind, allowed: i.kind === 'function' && allowed(i) })),
    exports: info.exports.map((e) => ({ name: e.name, kind: e.kind })),
    memory: info.memories.map((m) => ({ minPages: m.min, maxPages: m.max, maxBytes: m.max === null ? null : m.max * 65536 })),
    manifest: manifest
      ? {
          path: manifestPath, name: manifest.name, version: manifest.version, description: manifest.description, abi: manifest.abi,
          sha256Matches: manifest.sha256 === hash, capabilities: manifest.capabilities, limits: manifest.limits,
        }
      : { problem: manifestProblem ?? 'no manifest found' },
  };
  if (fmt === 'json') {
    process.stdout.write(terminalSafeJson(report, 2) + '\n');
  } else {
    const out: string[] = [];
    out.push(`file:         ${esc(report.file)} (${report.bytes} bytes)`);
    out.push(`sha256:       ${hash}`);
    out.push(`abi:          ${abiVersions.length ? abiVersions.map((v) => `v${v}`).join(', ') : 'none (no ctplug_abi_vN export)'}; this host speaks ${abi.supported.map((v) => `v${v}`).join(', ')}${report.abi.compatible ? '' : '  <-- INCOMPATIBLE'}`);
    out.push(report.imports.length ? 'imports:' : 'imports:      (none)');
    for (const i of report.imports) out.push(`  ${i.allowed ? 'ok     ' : 'REFUSED'} ${esc(i.module)}.${esc(i.name)}${i.kind === 'function' ? '' : ` (${i.kind})`}`);
    if (report.imports.some((i) => !i.allowed)) out.push(`  (allowed: ${allowedImports()})`);
    out.push(`exports:      ${report.exports.map((e) => (e.kind === 'function' ? esc(e.name) : `${esc(e.name)} (${e.kind})`)).join(', ')}`);
    out.push(`memory:       ${report.memory.map((m) => `${m.minPages}..${m.maxPages ?? 'unbounded'} pages${m.maxBytes ? ` (max ${m.maxBytes / 1048576} MiB)` : ''}`).join('; ') || 'none'}`);
    if (manifest) {
      const c = manifest.capabilities;
      const list = (v: string[] | 'any') => (v === 'any' ? 'any' : v.join(', '));
      out.push(`manifest:     ${esc(manifestPath!)}`);
      out.push(`  name:       ${manifest.name} ${esc(manifest.version)}${manifest.description ? ` - ${esc(manifest.description)}` : ''}`);
      out.push(`  sha256:     ${report.manifest.sha256Matches ? 'matches the module' : `DOES NOT MATCH (manifest pins ${manifest.sha256})`}`);
      out.push(`  operations: ${c.operations.join(', ') || '(none)'}`);
      out.push(`  zones:      ${formatZones(c.scope.zones)}`);
      out.push(`  families:   ${list(c.scope.families)}`);
      out.push(`  protocols:  ${list(c.scope.protocols)}`);
      out.push(`  mark:       ${c.scope.mark ? `0x${c.scope.mark.value.toString(16)}/0x${c.scope.mark.mask.toString(16)}` : 'any'}${c.scope.markBits ? `; may change mark bits 0x${c.scope.markBits.toString(16)}` : ''}`);
      out.push(`  limits:     ${Object.entries(manifest.limits).map(([k, v]) => `${k}=${v}`).join(', ') || '(defaults)'}`);
    } else {
      out.push(`manifest:     ${manifestProblem ? esc(manifestProblem) : 'none found'}`);
    }
    process.stdout.write(out.join('\n') + '\n');
  }
  return EXIT.OK;
}
