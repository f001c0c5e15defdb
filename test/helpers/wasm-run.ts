// Runs a WAT plugin through the real loader and worker against the fake kernel.
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import type { Limits } from '../../host/policy/limits.js';
import { loadInline } from '../../host/runtime/inline.js';
import { loadPlugin, type LoadedPlugin, type RunResult } from '../../host/runtime/plugin.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import type { BackendSpec } from '../../host/runtime/protocol.js';
import { manifestFor, plugin, type PluginParts, statuses, wat } from './wasm.js';
import type { Harness } from './workers.js';
import { fakeBackend } from '../../sdk/testkit/fake-backend.js';

export interface WatRun {
  name?: string;
  /** What the manifest asks for and the policy grants (default: every operation, any scope). */
  capabilities?: object;
  limits?: Partial<Limits>;
  entries?: CreateSpec[];
  config?: unknown;
  /** Scripted event batches for a subscriber (fake backend). */
  events?: (Uint8Array | 'overrun')[];
  /** Run against the real kernel in this network namespace instead of the fake one. */
  netns?: string;
  /** The kernel release the fake kernel behaves as (version gates). */
  kernelRelease?: string;
  /** Fault injection (test/helpers/workers.ts must be imported for it to take effect). */
  harness?: Harness;
  /** Run on this thread (runtime/inline.ts) instead of a worker. */
  inline?: boolean;
}

export const ALL_OPS = ['read', 'delete', 'update', 'flush', 'create', 'events'];

export async function loadWat(parts: PluginParts, o: WatRun = {}): Promise<LoadedPlugin> {
  const bytes = wat(plugin(parts));
  const caps = o.capabilities ?? { operations: ALL_OPS };
  const table = Buffer.concat(o.entries ? FakeKernel.fromSpecs(o.entries).messages() : []);
  const load = o.inline ? loadInline : loadPlugin;
  return load({ manifest: manifestFor(o.name ?? 't', bytes, caps, o.limits), wasm: bytes }, {
    policy: { default: { capabilities: caps, limits: o.limits ?? {} } },
    config: o.config,
    backend: backendFor(o, table),
  });
}

function backendFor(o: WatRun, table: Uint8Array): BackendSpec {
  const spec: BackendSpec = o.netns ? { kind: 'kernel', netns: o.netns } : fakeBackend(table, { events: o.events, kernelRelease: o.kernelRelease });
  return o.harness ? ({ ...spec, harness: o.harness } as unknown as BackendSpec) : spec;
}

/** Load, run once, close. `codes` are the values the plugin emitted with $report. */
export async function runWat(parts: PluginParts, o: WatRun = {}): Promise<RunResult & { codes: number[] }> {
  const p = await loadWat(parts, o);
  try {
    const r = await p.run();
    return { ...r, codes: statuses(r.output) };
  } finally {
    await p.close();
  }
}

/** Entries in zones 5, 7 and 9 (one tcp, one udp each). */
export function sampleEntries(): CreateSpec[] {
  return [5, 7, 9].flatMap((zone) => [
    { protocol: 'tcp', src: '10.0.0.1', dst: `10.0.${zone}.2`, sport: 1234, dport: 80, zone, mark: zone, tcpState: 'ESTABLISHED', timeout: 120 },
    { protocol: 'udp', src: '10.0.0.1', dst: `10.0.${zone}.3`, sport: 5353, dport: 53, zone, timeout: 30 },
  ]);
}
