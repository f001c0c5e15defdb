// Entries the host dumped itself, printed by the list plugin: the dying and unconfirmed tables and
// a -z dump (conntrack/tables.ts), which the plugin ABI has no request for. The plugin gets them as
// its table (an in-memory backend, as `get` does) and filters and prints them as any listing. They
// are held whole until printed (some 300 bytes an entry): these are inspection commands.
import type { TableDumpKind } from '../conntrack/tables.js';
import type { Family } from '../conntrack/validate.js';
import { runBuiltinPlugin, type PluginRun } from './plugins.js';

export async function listHeld(kind: TableDumpKind, netns: string | undefined, family: Family | undefined, config: Record<string, unknown>): Promise<PluginRun> {
  const { dumpTableSync } = await import('../conntrack/tables.js');
  const parts: Uint8Array[] = [];
  dumpTableSync(netns, kind, family, (batch) => void parts.push(batch.slice()));
  const table = Buffer.concat(parts);
  return runBuiltinPlugin('list', config, { operations: ['read'], scope: {} }, undefined, { backend: { kind: 'held', table } });
}
