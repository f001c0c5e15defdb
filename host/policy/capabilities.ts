// The capability shape shared by manifests (what a plugin asks for) and policies (what an operator
// allows): operations plus a scope over zones, families, protocols and marks. Parsing is strict:
// an unknown key or an out-of-range value is an error that names the path, never ignored.
import { FAMILIES, MAX_ZONE, type Family, type ProtocolName } from '../conntrack/constants.js';
import { quoteText } from './untrusted-text.js';

export const OPERATIONS = ['read', 'delete', 'update', 'flush', 'create', 'events'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The protocols a scope may name: a subset of the names in conntrack/constants.ts (IPPROTO). */
export const SCOPE_PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmpv6'] as const satisfies readonly ProtocolName[];
export type ScopeProtocol = (typeof SCOPE_PROTOCOLS)[number];

/** Inclusive zone range; a single zone z is {from: z, to: z}. Kept sorted, merged, disjoint. */
export interface ZoneRange { from: number; to: number }
export interface Mark { value: number; mask: number }

export interface Scope {
  zones: ZoneRange[] | 'any';
  families: Family[] | 'any';
  protocols: ScopeProtocol[] | 'any';
  /** Only entries with (entry.mark & mask) === value. null: no mark restriction. */
  mark: Mark | null;
  /** Mark bits an update may change. null: none. */
  markBits: number | null;
}

export interface Capabilities { operations: Operation[]; scope: Scope }

/** A scope as written in a manifest or policy (JSON): every key optional ("any"; mark/markBits null). */
export interface ScopeDocument {
  zones?: 'any' | (number | ZoneRange)[];
  families?: 'any' | Family[];
  protocols?: 'any' | ScopeProtocol[];
  mark?: Mark | null;
  markBits?: number | null;
}

/** Capabilities as written in a manifest or policy; parseCapabilities makes them Capabilities. */
export interface CapabilitiesDocument {
  operations?: Operation[];
  scope?: ScopeDocument;
}

type Fail = (msg: string) => never;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string, fail: Fail): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) fail(`${where}: unknown key ${quoteText(k)} (allowed: ${allowed.join(', ')})`);
  }
}

function u32(v: unknown, where: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    fail(`${where} must be an integer in 0..4294967295, got ${quoteText(v)}`);
  }
  return v as number;
}

function zone(v: unknown, where: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_ZONE) {
    fail(`${where} must be an integer zone in 0..${MAX_ZONE}, got ${quoteText(v)}`);
  }
  return v as number;
}

/** Sort and merge ranges so that subset checks and counting are simple. */
export function normalizeZones(ranges: ZoneRange[]): ZoneRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  const out: ZoneRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push({ from: r.from, to: r.to });
  }
  return out;
}

function parseZones(v: unknown, where: string, fail: Fail): ZoneRange[] | 'any' {
  if (v === 'any') return 'any';
  if (!Array.isArray(v) || v.length === 0) fail(`${where} must be "any" or a non-empty list of zones and {"from","to"} ranges`);
  const ranges = (v as unknown[]).map((z, i): ZoneRange => {
    const at = `${where}[${i}]`;
    if (isObject(z)) {
      checkKeys(z, ['from', 'to'], at, fail);
      const from = zone(z.from, `${at}.from`, fail), to = zone(z.to, `${at}.to`, fail);
      if (from > to) fail(`${at}: from ${from} is greater than to ${to}`);
      return { from, to };
    }
    const n = zone(z, at, fail);
    return { from: n, to: n };
  });
  return normalizeZones(ranges);
}

function parseNames<T extends string>(v: unknown, known: readonly T[], where: string, fail: Fail): T[] | 'any' {
  if (v === 'any') return 'any';
  if (!Array.isArray(v) || v.length === 0) fail(`${where} must be "any" or a non-empty list of ${known.join(', ')}`);
  for (const [i, n] of (v as unknown[]).entries()) {
    if (!known.includes(n as T)) fail(`${where}[${i}]: unknown value ${quoteText(n)} (known: ${known.join(', ')})`);
  }
  return [...new Set(v as T[])];
}

export function parseOperations(v: unknown, where: string, fail: Fail): Operation[] {
  if (!Array.isArray(v)) fail(`${where} must be a list of ${OPERATIONS.join(', ')}`);
  for (const [i, op] of (v as unknown[]).entries()) {
    if (!OPERATIONS.includes(op as Operation)) fail(`${where}[${i}]: unknown operation ${quoteText(op)} (known: ${OPERATIONS.join(', ')})`);
  }
  return [...new Set(v as Operation[])];
}

const SCOPE_KEYS = ['zones', 'families', 'protocols', 'mark', 'markBits'];

/** Missing scope keys mean "any" (mark/markBits: null) so a minimal manifest stays short. */
export function parseScope(v: unknown, where: string, fail: Fail): Scope {
  if (v === undefined) v = {};
  if (!isObject(v)) fail(`${where} must be an object`);
  const s = v as Record<string, unknown>;
  checkKeys(s, SCOPE_KEYS, where, fail);
  let mark: Mark | null = null;
  if (s.mark !== undefined && s.mark !== null) {
    if (!isObject(s.mark)) fail(`${where}.mark must be null or {"value": N, "mask": M}`);
    const m = s.mark as Record<string, unknown>;
    checkKeys(m, ['value', 'mask'], `${where}.mark`, fail);
    const value = u32(m.value, `${where}.mark.value`, fail), mask = u32(m.mask, `${where}.mark.mask`, fail);
    if ((value & ~mask) !== 0) fail(`${where}.mark.value 0x${value.toString(16)} has bits outside mask 0x${mask.toString(16)}`);
    mark = { value, mask };
  }
  return {
    zones: s.zones === undefined ? 'any' : parseZones(s.zones, `${where}.zones`, fail),
    families: s.families === undefined ? 'any' : parseNames(s.families, Object.keys(FAMILIES) as Family[], `${where}.families`, fail),
    protocols: s.protocols === undefined ? 'any' : parseNames(s.protocols, SCOPE_PROTOCOLS, `${where}.protocols`, fail),
    mark,
    markBits: s.markBits === undefined || s.markBits === null ? null : u32(s.markBits, `${where}.markBits`, fail),
  };
}

export function parseCapabilities(v: unknown, where: string, fail: Fail): Capabilities {
  if (!isObject(v)) fail(`${where} must be an object with "operations" and "scope"`);
  const c = v as Record<string, unknown>;
  checkKeys(c, ['operations', 'scope'], where, fail);
  return { operations: parseOperations(c.operations ?? [], `${where}.operations`, fail), scope: parseScope(c.scope, `${where}.scope`, fail) };
}

export function zoneCount(zones: ZoneRange[]): number {
  return zones.reduce((n, r) => n + r.to - r.from + 1, 0);
}

export function formatZones(zones: ZoneRange[] | 'any'): string {
  if (zones === 'any') return 'any';
  return '[' + zones.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(', ') + ']';
}

export function hex(n: number): string { return '0x' + (n >>> 0).toString(16); }

export { isObject };
