// The embedder's entry point: one policy and one network namespace, any number of plugins.
//   const host = new Host({ policy: '/etc/ctplug/policy.json', netns: 'tenant-a' });
//   (unprivileged: new Host({ policy, netns, connect: '/run/ctplug/ctplug.sock' }))
//   const result = await host.run('plugins/zone-gc/manifest.json', { config: { zone: 5 } });
import type { Limits } from '../policy/limits.js';
import { loadPolicy, parsePolicy, type Policy, type PolicyDocument } from '../policy/policy.js';
import { loadPlugin, type Plugin, type PluginSource, type RunOptions, type RunResult } from './plugin.js';
import type { BackendSpec } from './protocol.js';

export interface HostOptions {
  /** The operator policy: a file path or its JSON content. */
  policy: string | Policy | PolicyDocument;
  netns?: string;
  /** Caps on top of the policy's limits for every plugin of this host. */
  limits?: Partial<Limits>;
  backend?: BackendSpec;
  /** `ctplug daemon`'s socket: plugins run here, unprivileged, and their operations go through it. */
  connect?: string;
}

export interface PluginOptions { config?: unknown; limits?: Partial<Limits> }

/** Per-plugin caps can only tighten the host's caps. */
function tighter(a: Partial<Limits> = {}, b: Partial<Limits> = {}): Partial<Limits> {
  const out: Partial<Limits> = { ...a };
  for (const [k, v] of Object.entries(b) as [keyof Limits, number][]) out[k] = Math.min(v, a[k] ?? Infinity);
  return out;
}

export class Host {
  readonly policy: Policy;
  private readonly plugins = new Set<Plugin>();

  constructor(private readonly opts: HostOptions) {
    this.policy = typeof opts.policy === 'string' ? loadPolicy(opts.policy) : parsePolicy(opts.policy);
  }

  /** Checks the plugin against the policy and starts its worker; throws a typed error when refused. */
  async load(src: PluginSource, opts: PluginOptions = {}): Promise<Plugin> {
    // Plugins closed by the embedder are let go of here, so a long-lived Host holds only live ones.
    for (const q of this.plugins) if (q.isClosed) this.plugins.delete(q);
    const p = await loadPlugin(src, {
      policy: this.policy, netns: this.opts.netns, backend: this.opts.backend, connect: this.opts.connect, config: opts.config,
      limits: tighter(this.opts.limits, opts.limits),
    });
    this.plugins.add(p);
    return p;
  }

  /** Load, run once, close. */
  async run(src: PluginSource, opts: PluginOptions & RunOptions = {}): Promise<RunResult> {
    const p = await this.load(src, opts);
    try {
      return await p.run(opts);
    } finally {
      this.plugins.delete(p);
      await p.close();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.plugins].map((p) => p.close()));
    this.plugins.clear();
  }
}
