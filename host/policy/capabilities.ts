// The capability shape shared by manifests (what a plugin asks for) and policies (what an operator
// allows): operations plus a scope over zones, families, protocols and marks. Parsing is strict:
// an unknown key or an out-of-range value is an error that names the path, never ignored.
import { quoteText } from './untrusted-text.js';

export const OPERATIONS = ['read', 'delete', 'update', 'flush', 'create', 'events'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Address family names and their AF_* numbers (as in nfgenmsg and the ABI's DumpRequest). */
export const FAMILIES = { ipv4: 2, ipv6: 10 } as const;
export type FamilyName = keyof typeof FAMILIES;

/** Layer-4 protocol names and their IANA numbers (as in CTA_PROTO_NUM). */
export const PROTOCOLS = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 } as const;
export type ProtocolName = keyof typeof PROTOCOLS;

export const MAX_ZONE = 65535;
/** Inclusive zone range; a single zone z is {from: z, to: z}. Kept sorted, merged, disjoint. */
export interface ZoneRange { from: number; to: number }
export interface Mark { value: number; mask: number }

export interface Scope {
  zones: ZoneRange[] | 'any';
  families: FamilyName[] | 'any';
  protocols: ProtocolName[] | 'any';
  /** Only entries with (entry.mark & mask) === value. null: no mark restriction. */
  mark: Mark | null;
  /** Mark bits an update may change. null: none. */
  markBits: number | null;
}

export interface Capabilities { operations: Operation[]; scope: Scope }

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
    families: s.families === undefined ? 'any' : parseNames(s.families, Object.keys(FAMILIES) as FamilyName[], `${where}.families`, fail),
    protocols: s.protocols === undefined ? 'any' : parseNames(s.protocols, Object.keys(PROTOCOLS) as ProtocolName[], `${where}.protocols`, fail),
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
