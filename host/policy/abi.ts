// Typed access to sdk/abi.json, the single ABI definition. Nothing in the host spells an import,
// export, status code or record offset except through this module. It sits in the policy layer, the
// lowest that needs it (a manifest names the ABI version it targets); the runtime reads the rest.
import abiJson from '../../sdk/abi.json' with { type: 'json' };

export interface Signature { params: string[]; results: string[] }
export interface ImportDef extends Signature { needs: string | null }

export const abi = abiJson as unknown as {
  version: number;
  supported: number[];
  marker: string;
  markerPattern: string;
  importModule: string;
  imports: Record<string, ImportDef>;
  exports: { required: Record<string, Partial<Signature> & { kind?: string }>; optional: Record<string, Signature> };
  wasiModule: string;
  wasiAllowed: string[];
  wasiSignatures: Record<string, Signature>;
  status: Record<string, number>;
  batchFlags: Record<string, number>;
  logLevels: Record<string, number>;
  records: Record<string, { size: number; fields: Record<string, { offset: number; type: string; bits?: Record<string, number> }> }>;
};

export const STATUS = abi.status;

/** An export name the host calls, checked against abi.json when this module loads. */
function exported(name: string): string {
  if (!(name in abi.exports.required) && !(name in abi.exports.optional)) throw new Error(`sdk/abi.json defines no export ${name}`);
  return name;
}

/** The exports by role, so the runtime names each one once. */
export const EXPORT = {
  memory: Object.entries(abi.exports.required).find(([, d]) => d.kind === 'memory')![0],
  start: exported('_start'),
  alloc: exported('ctplug_alloc'),
  init: exported('ctplug_init'),
  onEntries: exported('ctplug_on_entries'),
  onEvents: exported('ctplug_on_events'),
  onDumpDone: exported('ctplug_on_dump_done'),
  finish: exported('ctplug_finish'),
};

export function formatSignature(s: Signature): string {
  return `(${s.params.join(', ')}) -> ${s.results.length ? s.results.join(', ') : '()'}`;
}

export function speaks(): string {
  return abi.supported.map((v) => `v${v}`).join(', ');
}

/** Field offset within an ABI record; throws at startup (not at call time) if abi.json lacks it. */
export function field(record: string, name: string): number {
  const f = abi.records[record]?.fields[name];
  if (!f) throw new Error(`sdk/abi.json has no field ${record}.${name}`);
  return f.offset;
}

export function flagBit(record: string, fieldName: string, bit: string): number {
  const b = abi.records[record]?.fields[fieldName]?.bits?.[bit];
  if (b === undefined) throw new Error(`sdk/abi.json has no flag ${record}.${fieldName}.${bit}`);
  return b;
}
