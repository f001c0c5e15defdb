// The first-party plugins (plugins/*, built into dist/plugins and shipped in the package): their
// names and where their manifest and module are. Used by the library (builtinPlugin) and the CLI.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CtError } from './conntrack/errors.js';
import { packageRoot } from './paths.js';

export const BUILTIN = ['list', 'match', 'update', 'purge-remote', 'stale', 'events', 'flowlog'] as const;

/** dist/plugins/<name>.manifest.json and its module; a CtError (kind 'environment', exit 4) when not built. */
export function builtinPaths(name: string): { manifestPath: string; wasmPath: string } {
  const dir = join(packageRoot(), 'dist', 'plugins');
  const manifestPath = join(dir, `${name}.manifest.json`);
  const wasmPath = join(dir, `${name}.wasm`);
  if (!existsSync(manifestPath) || !existsSync(wasmPath)) {
    throw new CtError('plugin', 'ENOENT', 'environment', `the first-party plugin "${name}" is not built (${wasmPath} is missing)`, {
      hint: 'run `npm run build` (or `npm install`) in the ctplug folder',
    });
  }
  return { manifestPath, wasmPath };
}

/** The manifest path of a first-party plugin: `host.run(builtinPlugin('match'), { config })`. */
export function builtinPlugin(name: string): string {
  return builtinPaths(name).manifestPath;
}
