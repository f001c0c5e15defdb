// The agent's Prometheus metrics (prom-client 15: the text format, label escaping, histograms and
// process metrics are its job, not ours). One Registry per agent, so an embedder's own registry is
// left alone. Counts that live elsewhere (publisher stats, the last census) are read at scrape time.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { type Census, splitCensusKey } from './census.js';

/** What a stream publisher reports (fleet/publisher.ts PublisherStats has these and more). */
export interface PublisherStats {
  records: number; messages: number; outageGaps: number; overrunGaps: number; restartGaps: number;
  lostRecords: number; retries: number; bufferedBytes: number; oldestUnackedMs: number;
}

/** What `ctplug daemon` counts per client entry (its CLIENTS reply). */
export interface DaemonClientCounts { requests: number; refusals: number }

export type RunResult = 'ok' | 'failed' | 'timeout' | 'refused';

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly censuses = new Map<string, Census>();
  private readonly publishers = new Map<string, () => PublisherStats>();
  /** The daemon's own counters by client entry, as last read (an agent that is a daemon client). */
  private daemonClients: Record<string, DaemonClientCounts> = {};
  readonly events: Counter<'netns' | 'kind' | 'stream'>;
  readonly overruns: Counter<'netns' | 'plugin'>;
  readonly resyncs: Counter<'netns' | 'plugin'>;
  readonly pluginRuns: Counter<'plugin' | 'result'>;
  readonly pluginFailures: Counter<'plugin'>;
  readonly deadlineKills: Counter<'plugin'>;
  readonly requests: Counter<'client' | 'op'>;
  readonly refusals: Counter<'client' | 'op'>;
  readonly publishLag: Histogram<'subject'>;

  constructor(readonly host: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ host });
    collectDefaultMetrics({ register: this.registry, prefix: 'ctplug_agent_' });
    this.events = new Counter({ name: 'ctplug_events_total', help: 'Conntrack events received by the agent\'s subscriptions, by kind and by the stream they feed', labelNames: ['netns', 'kind', 'stream'], registers });
    this.overruns = new Counter({ name: 'ctplug_event_overruns_total', help: 'Times the kernel dropped events (ENOBUFS) for one of the agent\'s subscriptions', labelNames: ['netns', 'plugin'], registers });
    this.resyncs = new Counter({ name: 'ctplug_event_resyncs_total', help: 'Dumps run after an overrun to resync a subscriber', labelNames: ['netns', 'plugin'], registers });
    this.pluginRuns = new Counter({ name: 'ctplug_plugin_runs_total', help: 'Plugin runs by result (ok, failed, timeout, refused)', labelNames: ['plugin', 'result'], registers });
    this.pluginFailures = new Counter({ name: 'ctplug_plugin_failures_total', help: 'Plugin runs that failed (trap, exit, host error, deadline)', labelNames: ['plugin'], registers });
    this.deadlineKills = new Counter({ name: 'ctplug_plugin_deadline_kills_total', help: 'Plugin workers terminated past their call deadline', labelNames: ['plugin'], registers });
    this.requests = new Counter({ name: 'ctplug_client_requests_total', help: 'Requests from clients (the fleet over NATS) by operation', labelNames: ['client', 'op'], registers });
    this.refusals = new Counter({ name: 'ctplug_client_refusals_total', help: 'Client requests refused by the local policy', labelNames: ['client', 'op'], registers });
    this.publishLag = new Histogram({
      name: 'ctplug_nats_publish_lag_seconds', help: 'Time from a message being sealed to its JetStream acknowledgement',
      labelNames: ['subject'], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60], registers,
    });

    const self = this;
    new Gauge({
      name: 'ctplug_conntrack_entries', help: 'Entries by zone, protocol and TCP state, from the last census (a kernel-filtered dump)',
      labelNames: ['netns', 'zone', 'protocol', 'state'], registers,
      collect() {
        this.reset();
        for (const [netns, c] of self.censuses) {
          for (const [k, n] of c.counts) this.set({ netns, ...splitCensusKey(k) }, n);
        }
      },
    });
    new Gauge({
      name: 'ctplug_census_seconds', help: 'How long the last census dump took', labelNames: ['netns'], registers,
      collect() { this.reset(); for (const [netns, c] of self.censuses) this.set({ netns }, c.ms / 1000); },
    });
    new Gauge({
      name: 'ctplug_census_timestamp_seconds', help: 'When the last census ended (epoch seconds)', labelNames: ['netns'], registers,
      collect() { this.reset(); for (const [netns, c] of self.censuses) this.set({ netns }, (c as Census & { at: number }).at / 1000); },
    });
    new Gauge({
      name: 'ctplug_conntrack_max', help: 'net.netfilter.nf_conntrack_max: the table\'s size limit (one for the host)', registers,
      collect() {
        try { this.set(Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim())); } catch { /* nf_conntrack not loaded: no sample */ }
      },
    });
    const fromPublishers = (name: string, help: string, read: (s: PublisherStats) => number, type: 'counter' | 'gauge') => {
      const collect = function (this: Counter<'subject'> | Gauge<'subject'>) {
        this.reset();
        for (const [subject, stats] of self.publishers) {
          const v = read(stats());
          if (this instanceof Counter) this.inc({ subject }, v);
          else (this as Gauge<'subject'>).set({ subject }, v);
        }
      };
      if (type === 'counter') new Counter({ name, help, labelNames: ['subject'], registers, collect });
      else new Gauge({ name, help, labelNames: ['subject'], registers, collect });
    };
    // The daemon's counters (it loads no prom-client): read with each census, shown as they were read.
    const fromDaemon = (name: string, help: string, read: (c: DaemonClientCounts) => number) => new Counter({
      name, help, labelNames: ['client'], registers,
      collect() { this.reset(); for (const [client, c] of Object.entries(self.daemonClients)) this.inc({ client }, read(c)); },
    });
    fromDaemon('ctplug_daemon_client_requests_total', 'Requests the ctplug daemon received, by client entry of its policy (the agent\'s own entry unless its grant reads everything)', (c) => c.requests);
    fromDaemon('ctplug_daemon_client_refusals_total', 'Requests and connections the ctplug daemon refused, by client entry of its policy', (c) => c.refusals);
    fromPublishers('ctplug_nats_published_records_total', 'Records JetStream acknowledged', (s) => s.records, 'counter');
    fromPublishers('ctplug_nats_published_messages_total', 'Messages JetStream acknowledged (records are batched)', (s) => s.messages, 'counter');
    fromPublishers('ctplug_nats_gaps_total', 'Gap markers published (outage: buffer full while NATS was away; overrun: kernel dropped events; restart: the feeding plugin run was restarted)', (s) => s.outageGaps + s.overrunGaps + s.restartGaps, 'counter');
    fromPublishers('ctplug_nats_lost_records_total', 'Records not kept because the outage buffer was full (each loss is in a gap marker)', (s) => s.lostRecords, 'counter');
    fromPublishers('ctplug_nats_publish_retries_total', 'Publishes that were not acknowledged and were sent again', (s) => s.retries, 'counter');
    fromPublishers('ctplug_nats_buffered_bytes', 'Bytes waiting for a JetStream acknowledgement', (s) => s.bufferedBytes, 'gauge');
    fromPublishers('ctplug_nats_oldest_unacked_seconds', 'Age of the oldest message not yet acknowledged (publish lag now)', (s) => s.oldestUnackedMs / 1000, 'gauge');
  }

  census(netns: string, c: Census): void {
    this.censuses.set(netns, { ...c, at: Date.now() } as Census);
  }

  daemon(clients: Record<string, DaemonClientCounts>): void {
    this.daemonClients = clients;
  }

  publisher(subject: string, stats: () => PublisherStats): void {
    this.publishers.set(subject, stats);
  }

  /** A plugin run's end, from its stats and how it ended. */
  run(plugin: string, result: RunResult, timedOut = false): void {
    this.pluginRuns.inc({ plugin, result });
    if (result === 'failed' || result === 'timeout') this.pluginFailures.inc({ plugin });
    if (timedOut) this.deadlineKills.inc({ plugin });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
