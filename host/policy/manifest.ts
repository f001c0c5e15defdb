// A plugin manifest: what the plugin is (name, version, module + sha256), which ABI it targets,
// and what it asks for (capabilities, limits). Parsed strictly so a typo is an error at load time.
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { abi, speaks } from './abi.js';
import { ManifestError } from './errors.js';
import { type Capabilities, type CapabilitiesDocument, checkKeys, isObject, parseCapabilities } from './capabilities.js';
import { type Limits, parseLimits } from './limits.js';
import { readRegularFile } from './regular-file.js';
import { escapeText, quoteText } from './untrusted-text.js';

/** A manifest is a few KiB of JSON. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface Manifest {
  name: string;
  version: string;
  description: string;
  abi: number;
  /** Module file, relative to the manifest's directory. */
  module: string;
  /** Lowercase hex sha256 of the module bytes. */
  sha256: string;
  capabilities: Capabilities;
  limits: Partial<Limits>;
  /** Free-form documentation of the plugin's config keys; the host does not interpret it. */
  config: Record<string, unknown>;
}

/** A manifest as written (manifest.json, or an object given with the module to loadPlugin). */
export interface ManifestDocument {
  name: string;
  version: string;
  description?: string;
  abi: number;
  module: string;
  sha256: string;
  capabilities: CapabilitiesDocument;
  limits?: Partial<Limits>;
  config?: Record<string, unknown>;
}

const KEYS = ['name', 'version', 'description', 'abi', 'module', 'sha256', 'capabilities', 'limits', 'config'];
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function parseManifest(raw: unknown, source = 'manifest'): Manifest {
  // Until the name is known, errors carry the file as the "plugin" so the user can find it.
  let who = source;
  const fail = (msg: string): never => { throw new ManifestError(who, `plugin "${who}" manifest: ${msg}`); };
  if (!isObject(raw)) fail('must be a JSON object');
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== 'string' || !NAME_RE.test(m.name)) {
    fail(`"name" must match ${NAME_RE} (letters, digits, . _ -), got ${quoteText(m.name)}`);
  }
  who = m.name as string;
  checkKeys(m, KEYS, 'top level', fail);
  if (typeof m.version !== 'string' || m.version === '') fail('"version" must be a non-empty string');
  if (m.description !== undefined && typeof m.description !== 'string') fail('"description" must be a string');
  if (!abi.supported.includes(m.abi as number)) {
    fail(`targets ctplug ABI ${quoteText(m.abi)}; this host speaks ${speaks()}`);
  }
  const mod = m.module;
  if (typeof mod !== 'string' || !mod.endsWith('.wasm') || isAbsolute(mod) || normalize(mod).startsWith('..')) {
    fail(`"module" must be a relative path to a .wasm file next to the manifest, got ${quoteText(mod)}`);
  }
  if (typeof m.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(m.sha256)) fail('"sha256" must be 64 hex digits (sha256sum of the module)');
  if (m.config !== undefined && !isObject(m.config)) fail('"config" must be an object documenting the config keys');
  return {
    name: who,
    version: m.version as string,
    description: (m.description as string) ?? '',
    abi: m.abi as number,
    module: mod as string,
    sha256: (m.sha256 as string).toLowerCase(),
    capabilities: parseCapabilities(m.capabilities, 'capabilities', fail),
    limits: parseLimits(m.limits, 'limits', fail),
    config: (m.config as Record<string, unknown>) ?? {},
  };
}

/** Read a manifest file; returns it with the absolute path of its module. */
export function loadManifest(path: string): { manifest: Manifest; modulePath: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularFile(path, MAX_MANIFEST_BYTES).toString('utf8'));
  } catch (e) {
    throw new ManifestError(path, `plugin manifest ${path}: ${escapeText((e as Error).message)}`);
  }
  const manifest = parseManifest(raw, path);
  return { manifest, modulePath: join(dirname(path), manifest.module) };
}
