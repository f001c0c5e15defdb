// The NATS micro-service protocol (v1), the part ctplug needs: discovery ($SRV.PING / INFO / STATS,
// answered for all services, for "ctplug", and for this instance's id) and endpoint bookkeeping.
// Written here on @nats-io/nats-core rather than taken from @nats-io/services, whose only release
// for the 3.x clients is a prerelease (3.0.0-25) pinned to a prerelease nats-core (3.0.0-50): it
// would bring a second, older copy of the client into the package. `nats micro ls` and the
// services library's clients see this service like any other.
import { headers, nuid, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';

export interface EndpointStats {
  name: string;
  subject: string;
  queue_group: string;
  num_requests: number;
  num_errors: number;
  last_error: string;
  processing_time: number;
  average_processing_time: number;
}

export interface MicroOptions {
  name: string;
  version: string;
  description: string;
  metadata: Record<string, string>;
}

/** A request handler's answer: the reply body and, for a service error, its code and text. */
export interface Reply { body: unknown; error?: { code: number; text: string } }

export class MicroService {
  readonly id = nuid.next();
  private readonly started = new Date().toISOString();
  private readonly subs: Subscription[] = [];
  private readonly endpoints: EndpointStats[] = [];

  constructor(private readonly nc: NatsConnection, private readonly o: MicroOptions) {
    const base = { name: o.name, id: this.id, version: o.version, metadata: o.metadata };
    const answers: Record<string, () => unknown> = {
      PING: () => ({ type: 'io.nats.micro.v1.ping_response', ...base }),
      INFO: () => ({
        type: 'io.nats.micro.v1.info_response', ...base, description: o.description,
        endpoints: this.endpoints.map((e) => ({ name: e.name, subject: e.subject, queue_group: e.queue_group, metadata: null })),
      }),
      STATS: () => ({ type: 'io.nats.micro.v1.stats_response', ...base, started: this.started, endpoints: this.endpoints }),
    };
    for (const [verb, answer] of Object.entries(answers)) {
      for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.${o.name}`, `$SRV.${verb}.${o.name}.${this.id}`]) {
        this.subs.push(nc.subscribe(subject, { callback: (_e, m) => { m.respond(JSON.stringify(answer())); } }));
      }
    }
  }

  /**
   * An endpoint: requests on `subject` go to `handler`; its answer is the JSON reply, with the
   * micro protocol's Nats-Service-Error headers when it reports an error.
   */
  endpoint(name: string, subject: string, handler: (m: Msg) => Promise<Reply>): void {
    const stats: EndpointStats = { name, subject, queue_group: '', num_requests: 0, num_errors: 0, last_error: '', processing_time: 0, average_processing_time: 0 };
    this.endpoints.push(stats);
    // No queue group: every instance of a host name answers (two agents claiming one name show up as two replies).
    this.subs.push(this.nc.subscribe(subject, {
      callback: (_e, m) => {
        const t0 = process.hrtime.bigint();
        stats.num_requests++;
        handler(m).catch((e: unknown) => ({ body: { error: String((e as Error)?.message ?? e) }, error: { code: 500, text: 'internal error' } }) as Reply).then((r) => {
          if (r.error) {
            stats.num_errors++;
            stats.last_error = `${r.error.code}:${r.error.text}`;
          }
          const ns = Number(process.hrtime.bigint() - t0);
          stats.processing_time += ns;
          stats.average_processing_time = Math.round(stats.processing_time / stats.num_requests);
          if (!m.reply) return;
          const h = r.error ? serviceErrorHeaders(r.error) : undefined;
          m.respond(JSON.stringify(r.body), h ? { headers: h } : undefined);
        });
      },
    }));
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
  }
}

function serviceErrorHeaders(e: { code: number; text: string }) {
  const h = headers();
  h.set('Nats-Service-Error', e.text);
  h.set('Nats-Service-Error-Code', String(e.code));
  return h;
}
