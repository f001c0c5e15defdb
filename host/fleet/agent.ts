// The fleet agent: an unprivileged-by-design process beside the conntrack host. It holds the NATS
// connection and does four things:
//   1. flows: runs the flowlog plugin (DESTROY events -> NDJSON records) and publishes its output to
//      ctplug.<host>.flows (publisher.ts: batched, acked, bounded outage buffer, gap markers);
//   2. events: optionally the events plugin (-o json, chosen kinds) to ctplug.<host>.events;
//   3. the request/reply service (service.ts) behind NATS micro discovery (micro.ts);
//   4. /metrics (host/metrics), with a periodic census of the table.
// It reaches conntrack only through the library (Host, Conntrack) given by `access`: directly (root,
// as the CLI) or as a client of `ctplug daemon` (daemonAccess: unprivileged, and bounded by the
// daemon's entry for its uid on top of clients.fleet). Nothing else changes between the two.
import type { Server } from 'node:http';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { builtinPlugin } from '../builtin.js';
import { Conntrack } from '../conntrack/conntrack.js';
import type { EventKind } from '../conntrack/constants.js';
import { RemoteConntrack } from '../client/remote.js';
import { AbortError } from '../netlink/abort.js';
import { escapeText } from '../policy/untrusted-text.js';
import { PluginTimeoutError } from '../runtime/errors.js';
import { Host } from '../runtime/host.js';
import type { PluginLogLine } from '../runtime/plugin.js';
import type { RunStats } from '../runtime/protocol.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { takeCensus } from '../metrics/census.js';
import { AgentMetrics } from '../metrics/metrics.js';
import { serveMetrics, type Listen } from '../metrics/server.js';
import { openNats, type NatsAuth } from './connection.js';
import { MicroService } from './micro.js';
import { loadFleetPolicy, type FleetPolicy } from './policy.js';
import { StreamPublisher } from './publisher.js';
import { handle, type ConntrackAccess } from './service.js';
import { dataSubject, defaultHostName, HOST_RE, SERVICE, SERVICE_OPS, serviceSubject, STREAM, STREAM_SUBJECTS, type DataKind } from './subjects.js';

export interface AgentOptions extends NatsAuth {
  nats: string | string[];
  /** The host's fleet name (one subject token); default: the hostname. */
  name?: string;
  /** The local policy file (or parsed): flowlog/events grants and the `clients.fleet` entry. */
  policy: string | FleetPolicy;
  /** Where flows/events are read and the census is taken (`ip netns` name); default the agent's own. */
  netns?: string;
  /** Publish flowlog records (default true). */
  flows?: boolean;
  /** Event kinds to publish to ctplug.<host>.events (default none). */
  events?: EventKind[];
  /** Serve /metrics here. */
  metrics?: Listen;
  /** Census period (default 15 s). */
  censusMs?: number;
  /** Outage buffer per data subject (bytes, default 64 MiB). */
  bufferBytes?: number;
  /** Create the stream when it does not exist (default true). */
  createStream?: boolean;
  access?: ConntrackAccess;
  /** One line per notable thing (stderr by default); text from plugins is escaped already. */
  log?: (line: string) => void;
}

const VERSION: string = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;

/** Direct mode: this process opens conntrack itself (root, like the CLI). */
export const directAccess: ConntrackAccess = {
  host: (opts) => new Host(opts),
  conntrack: async (netns) => Conntrack.open({ netns }),
};

/** Through `ctplug daemon` at `socket`: this process needs no privilege; the daemon enforces its grant for our uid. */
export function daemonAccess(socket: string): ConntrackAccess {
  return {
    host: (opts) => new Host({ ...opts, connect: socket }),
    conntrack: (netns) => RemoteConntrack.connect(socket, { netns }),
  };
}

/** A feed's run is replaced once it has emitted this share of its output_bytes limit. */
const ROTATE_AT = 0.9;

/** One plugin run that feeds a data subject, restarted when it ends (each restart is a marked gap). */
class Feed {
  private stop = new AbortController();
  private done?: Promise<void>;
  private readonly seen = { overruns: 0, resyncs: 0, events: 0 };

  constructor(
    private readonly agent: Agent,
    readonly kind: DataKind,
    private readonly plugin: string,
    private readonly config: unknown,
    readonly publisher: StreamPublisher,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    const a = this.agent;
    let why = '';
    for (let restarts = 0; !this.stop.signal.aborted; restarts++) {
      if (restarts) this.publisher.restart(why); // events between the two runs may be missing
      this.seen.overruns = this.seen.resyncs = this.seen.events = 0;
      const host = a.access.host({ policy: a.policy.local, netns: a.netns });
      // A run may emit at most its grant's output_bytes (policy limits): a long-lived feed is
      // rotated before it reaches that, never left to have its output dropped.
      const rotate = new AbortController();
      const signal = AbortSignal.any([this.stop.signal, rotate.signal]);
      let result: 'ok' | 'failed' | 'timeout' = 'ok';
      why = 'the run ended';
      try {
        const plugin = await host.load(builtinPlugin(this.plugin), { config: this.config });
        const cap = plugin.grant.limits.output_bytes * ROTATE_AT;
        await plugin.run({
          signal,
          onOutput: (bytes, release) => {
            this.publisher.write(bytes);
            if (this.kind === 'events') this.countKinds(bytes);
            release();
          },
          onProgress: (s) => {
            this.progress(s);
            if (s.emittedBytes >= cap && !rotate.signal.aborted) {
              why = `rotated at ${s.emittedBytes} bytes of output (limits.output_bytes ${plugin.grant.limits.output_bytes})`;
              rotate.abort();
            }
          },
          onLog: (l: PluginLogLine) => {
            if (l.source === 'host' && /output limit reached/.test(l.text)) why = `${l.text} (one batch went past the rotation point)`;
            if (l.level === 'error' || l.level === 'warn') a.log(`${this.plugin}: ${l.text}`);
          },
        });
      } catch (e) {
        if (e instanceof AbortError && this.stop.signal.aborted) break;
        if (!(e instanceof AbortError && rotate.signal.aborted)) {
          result = e instanceof PluginTimeoutError ? 'timeout' : 'failed';
          why = `the run failed: ${escapeText((e as Error).message)}`;
          a.log(`${this.plugin} ended: ${escapeText((e as Error).message)}; restarting in 1 s`);
        }
      } finally {
        await host.close();
      }
      a.metrics.run(this.plugin, result, result === 'timeout');
      if (!rotate.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private progress(s: RunStats): void {
    const m = this.agent.metrics, netns = this.agent.netnsLabel;
    if (s.overruns > this.seen.overruns) {
      this.publisher.overrun(s.overruns - this.seen.overruns);
      m.overruns.inc({ netns, plugin: this.plugin }, s.overruns - this.seen.overruns);
      this.seen.overruns = s.overruns;
    }
    if (s.resyncs > this.seen.resyncs) {
      m.resyncs.inc({ netns, plugin: this.plugin }, s.resyncs - this.seen.resyncs);
      this.seen.resyncs = s.resyncs;
    }
    if (this.kind === 'flows' && s.events > this.seen.events) {
      m.events.inc({ netns, kind: 'DESTROY', stream: 'flows' }, s.events - this.seen.events);
      this.seen.events = s.events;
    }
  }

  /** events -o json lines start with "event":"new|update|destroy" (counted without parsing each line). */
  private countKinds(bytes: Uint8Array): void {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
    for (const m of text.matchAll(/\{"event":"(new|update|destroy)"/g)) {
      this.agent.metrics.events.inc({ netns: this.agent.netnsLabel, kind: m[1].toUpperCase(), stream: 'events' });
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.done;
  }
}

export class Agent {
  readonly name: string;
  readonly policy: FleetPolicy;
  readonly access: ConntrackAccess;
  readonly metrics: AgentMetrics;
  readonly netns: string | undefined;
  readonly netnsLabel: string;
  readonly log: (line: string) => void;
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private micro?: MicroService;
  private feeds: Feed[] = [];
  private server?: Server;
  private censusTimer?: NodeJS.Timeout;
  private readonly started = Date.now();

  constructor(private readonly o: AgentOptions) {
    this.name = o.name ?? defaultHostName();
    if (!HOST_RE.test(this.name)) throw new Error(`fleet name ${JSON.stringify(escapeText(this.name))} must be 1-64 letters, digits, _ or - (it is a NATS subject token)`);
    this.policy = typeof o.policy === 'string' ? loadFleetPolicy(o.policy) : o.policy;
    this.access = o.access ?? directAccess;
    this.netns = o.netns;
    this.netnsLabel = o.netns ?? '.';
    this.metrics = new AgentMetrics(this.name);
    this.log = o.log ?? ((l) => process.stderr.write(`ctplug agent ${this.name}: ${l}\n`));
  }

  /** Connects, makes sure the stream exists, starts the feeds, the service and /metrics. */
  async start(): Promise<void> {
    // Conntrack must be reachable before anything is announced (one clear error, exit 3/4).
    (await this.access.conntrack(this.netns)).close();
    this.nc = await openNats({ ...this.o, servers: this.o.nats, name: `ctplug-agent-${this.name}`, waitOnFirstConnect: true });
    this.js = jetstream(this.nc);
    void this.watchConnection(this.nc);
    if (this.o.createStream !== false) await this.ensureStream();
    const boot = Date.now();
    const feed = (kind: DataKind, plugin: string, config: unknown) => {
      const p = new StreamPublisher(this.js!, { subject: dataSubject(this.name, kind), boot, maxBufferBytes: this.o.bufferBytes });
      p.onAck = (s) => this.metrics.publishLag.observe({ subject: dataSubject(this.name, kind) }, s);
      this.metrics.publisher(dataSubject(this.name, kind), () => p.stats);
      const f = new Feed(this, kind, plugin, config, p);
      this.feeds.push(f);
      f.start();
    };
    if (this.o.flows !== false) feed('flows', 'flowlog', {});
    if (this.o.events?.length) feed('events', 'events', { output: 'json', kinds: this.o.events.map((k) => k.toLowerCase()) });

    this.micro = new MicroService(this.nc, {
      name: SERVICE, version: VERSION, description: 'ctplug fleet agent: run plugins, count, stats (bounded by the host\'s clients.fleet policy)',
      metadata: { host: this.name, netns: this.policy.fleet?.netns.join(',') ?? '' },
    });
    const ctx = { name: this.name, policy: this.policy, access: this.access, metrics: this.metrics, stats: () => this.stats() };
    for (const op of SERVICE_OPS) this.micro.endpoint(op, serviceSubject(this.name, op), async (m) => ({ body: await handle(ctx, op, m.data) }));
    await this.nc.flush(); // the subscriptions are on the server: requests from now on are answered

    if (this.o.metrics) {
      await this.census();
      this.censusTimer = setInterval(() => void this.census(), this.o.censusMs ?? 15_000);
      this.server = await serveMetrics(this.metrics, this.o.metrics);
    }
  }

  /** The address /metrics listens on (port 0 picks one). */
  get metricsAddress(): { address: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { address: a.address, port: a.port } : undefined;
  }

  /** Publishers hold still while NATS is away (their buffers are the bound, not the client's). */
  private async watchConnection(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') {
        this.log(s.type === 'disconnect' ? 'NATS connection lost; buffering' : 'NATS connection back');
        for (const f of this.feeds) f.publisher.setOffline(s.type === 'disconnect');
      }
    }
  }

  private async ensureStream(): Promise<void> {
    const jsm = await jetstreamManager(this.nc!);
    try {
      await jsm.streams.info(STREAM);
    } catch {
      try {
        await jsm.streams.add({ name: STREAM, subjects: STREAM_SUBJECTS, duplicate_window: 120_000_000_000 });
      } catch (e) {
        // Another agent may have made it in between.
        await jsm.streams.info(STREAM).catch(() => { throw e; });
      }
    }
  }

  private censusRunning = false;
  async census(): Promise<void> {
    if (this.censusRunning) return;
    this.censusRunning = true;
    try {
      const ct = await this.access.conntrack(this.netns);
      try {
        this.metrics.census(this.netnsLabel, await takeCensus(ct));
        // Through the daemon: its own counters by client entry, on the census' session.
        if (ct instanceof RemoteConntrack) this.metrics.daemon(await ct.clientCounters());
      } finally {
        ct.close();
      }
    } catch (e) {
      this.log(`census failed: ${escapeText((e as Error).message)}`);
    } finally {
      this.censusRunning = false;
    }
  }

  stats(): Record<string, unknown> {
    return {
      name: this.name, version: VERSION, uptime_s: Math.round((Date.now() - this.started) / 1000),
      nats: this.nc && !this.nc.isClosed() ? this.nc.getServer() : null,
      publishers: Object.fromEntries(this.feeds.map((f) => [f.kind, f.publisher.stats])),
    };
  }

  /** Waits until everything published so far is acked (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all(this.feeds.map((f) => f.publisher.flush()));
  }

  get publishers(): Record<string, StreamPublisher> {
    return Object.fromEntries(this.feeds.map((f) => [f.kind, f.publisher]));
  }

  async close(): Promise<void> {
    if (this.censusTimer) clearInterval(this.censusTimer);
    await Promise.all(this.feeds.map((f) => f.close()));
    // What the feeds published last gets a short chance to be acked.
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, 2000))]);
    for (const f of this.feeds) f.publisher.close();
    this.micro?.stop();
    await this.nc?.drain().catch(() => undefined);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
