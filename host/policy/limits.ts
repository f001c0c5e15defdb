// Resource limits: the defaults live here and nowhere else. A policy can override them (per plugin
// or as its default); a manifest can only ask for less or equal (see grant.ts).
import { quoteText } from './untrusted-text.js';

export interface Limits {
  /** Wall time of one export call (ctplug_init, ctplug_on_entries, ...) before the worker is terminated. */
  timeout_ms: number;
  /** Upper bound on the module's declared memory maximum, in 64 KiB pages. */
  memory_max_pages: number;
  /** log() lines plus stdout/stderr lines per second; the rest are dropped and counted. */
  log_lines_per_s: number;
  /** Total bytes a run may emit(); beyond that emit() returns E_LIMIT. */
  output_bytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  timeout_ms: 1000,
  memory_max_pages: 256, // 16 MiB
  log_lines_per_s: 100,
  output_bytes: 64 * 1024 * 1024,
});

/** Hard ceilings a policy may not exceed: a typo such as timeout_ms 1e12 is an error, not "no limit". */
export const LIMIT_CEILING: Readonly<Limits> = Object.freeze({
  timeout_ms: 10 * 60_000,
  // 2 GiB: hostcalls take i32 pointers, and a negative one must always be out of bounds.
  memory_max_pages: 32768,
  log_lines_per_s: 1_000_000,
  output_bytes: 2 ** 31 - 1,
});

export const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

/**
 * Parse a partial limits object. `fail(msg)` must throw; it lets manifest and policy parsing put the
 * right file/plugin in front of the message.
 */
export function parseLimits(raw: unknown, where: string, fail: (msg: string) => never): Partial<Limits> {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(`${where} must be an object`);
  const out: Partial<Limits> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!(LIMIT_KEYS as string[]).includes(k)) fail(`${where}: unknown limit ${quoteText(k)} (known: ${LIMIT_KEYS.join(', ')})`);
    const key = k as keyof Limits;
    const min = key === 'timeout_ms' || key === 'memory_max_pages' ? 1 : 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > LIMIT_CEILING[key]) {
      fail(`${where}.${k} must be an integer in ${min}..${LIMIT_CEILING[key]}, got ${quoteText(v)}`);
    }
    out[key] = v;
  }
  return out;
}
