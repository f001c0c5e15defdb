// What a module may make the engine allocate when it is instantiated, checked before it runs.
// Memory is bounded by the grant (memory_max_pages). Tables live on the V8 heap, where a failed
// allocation of one big table aborts the whole process (measured: 40 tables of 10M funcref,
// "Reached heap limit", even inside a worker with resourceLimits), so their total size is
// bounded here, with a declared maximum (table.grow stays inside it). Globals, element and data
// segments are held per instance too. First-party plugins (AssemblyScript) use one table of
// fewer than 10 elements, about 50 globals, one element segment and under 1000 data segments.
import type { InstanceFootprint } from './wasm-binary.js';

export const MODULE_LIMITS = {
  /** Bytes of the module file: it is read and compiled in the embedder's thread. */
  moduleBytes: 64 * 1024 * 1024,
  tables: 16,
  /** Declared maximum elements, summed over all tables. */
  tableElements: 1_048_576,
  globals: 65_536,
  elementSegments: 65_536,
  elements: 1_048_576,
  dataSegments: 65_536,
} as const;

/** Why the module's instance would hold more than ctplug allows, or undefined. `memoryBytes`: the grant's memory maximum. */
export function footprintProblem(fp: InstanceFootprint, memoryBytes: number): string | undefined {
  const L = MODULE_LIMITS;
  if (fp.tables.length > L.tables) return `declares ${fp.tables.length} tables; ctplug allows at most ${L.tables}`;
  let elements = 0;
  for (const [i, t] of fp.tables.entries()) {
    if (t.max === null) return `table ${i} has no declared maximum (table.grow could take the host's heap); declare one, at most ${L.tableElements} elements in all tables`;
    elements += t.max;
  }
  if (elements > L.tableElements) return `tables declare up to ${elements} elements in all; ctplug allows at most ${L.tableElements}`;
  if (fp.globals > L.globals) return `declares ${fp.globals} globals; ctplug allows at most ${L.globals}`;
  if (fp.elementSegments > L.elementSegments) return `has ${fp.elementSegments} element segments; ctplug allows at most ${L.elementSegments}`;
  if (fp.elements > L.elements) return `element segments hold ${fp.elements} entries; ctplug allows at most ${L.elements}`;
  if (fp.dataSegments > L.dataSegments) return `has ${fp.dataSegments} data segments; ctplug allows at most ${L.dataSegments}`;
  if (fp.dataBytes > memoryBytes) return `data segments hold ${fp.dataBytes} bytes, more than the memory the grant allows (${memoryBytes} bytes)`;
  return undefined;
}
