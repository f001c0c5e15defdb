// Fleet test pieces: a policy file per host, an agent whose flows are known to be flowing, reading
// the whole stream back, and a burst of DESTROY events.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Conntrack, CreateSpec } from '../../host/conntrack/conntrack.js';
import { Agent, type AgentOptions } from '../../host/fleet/agent.js';
import { tail, type StreamItem } from '../../host/fleet/operator.js';
import { STREAM, type DataKind } from '../../host/fleet/subjects.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Probe entries live in this zone; tests leave its records out. */
export const PROBE_ZONE = 99;

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-fleet-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A policy: the agent's own plugins allowed everything; `fleet` as given (undefined: no entry). */
export function writePolicy(dir: string, name: string, fleet?: unknown, limits?: Record<string, number>): string {
  const path = join(dir, `${name}.policy.json`);
  const doc: Record<string, unknown> = {
    default: { capabilities: { operations: ['read', 'events'], scope: { zones: 'any' } }, ...(limits ? { limits } : {}) },
  };
  if (fleet !== undefined) doc.clients = { fleet };
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

/** Starts an agent and churns probe entries until its flows are acked in the stream. */
export async function startFlowingAgent(opts: AgentOptions, ct: Conntrack): Promise<Agent> {
  const agent = new Agent({ log: () => undefined, ...opts });
  await agent.start();
  try {
    for (let i = 0; i < 150; i++) {
      probe(ct, i);
      await sleep(100);
      if ((agent.publishers.flows?.stats.records ?? 0) > 0) return agent;
    }
    throw new Error(`agent ${agent.name}: its flows never reached the stream`);
  } catch (e) {
    await agent.close();
    throw e;
  }
}

export function probe(ct: Conntrack, i: number): void {
  ct.createSync([{ family: 'ipv4', protocol: 'udp', src: '10.99.0.1', dst: '10.99.0.2', sport: 1000 + (i % 60000), dport: 9, timeout: 30, zone: PROBE_ZONE }]);
  ct.flushSync({ zone: PROBE_ZONE });
}

/** `n` UDP entries from `src` in `zone`, created then deleted: n DESTROY events. */
export function udpSpecs(n: number, zone: number, src = '10.1.0.1', base = 0): CreateSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    family: 'ipv4', protocol: 'udp', src, dst: `10.2.${(base + i) >> 8 & 255}.${(base + i) & 255}`, sport: 20000 + ((base + i) % 40000), dport: 53, timeout: 60, zone,
  }) satisfies CreateSpec);
}

export async function natsClient(url: string): Promise<NatsConnection> {
  return connect({ servers: url, name: 'ctplug-test', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
}

/** Waits until JetStream answers on `nc` (after a server restart the client reconnects first). */
export async function untilJetStream(nc: NatsConnection): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      const jsm = await jetstreamManager(nc, { timeout: 1000 });
      await jsm.streams.info(STREAM);
      return;
    } catch (e) {
      if (i >= 60) throw e;
      await sleep(250);
    }
  }
}

/** Everything in the stream for `kind`, read until it has been quiet for `idleMs`. */
export async function readStream(nc: NatsConnection, kind: DataKind = 'flows', idleMs = 1500): Promise<StreamItem[]> {
  await untilJetStream(nc);
  const out: StreamItem[] = [];
  for await (const it of tail(nc, { kind, idleMs })) out.push(it);
  return out;
}

/** Per host: records (probe zone left out), gap markers, and whether Ctplug-Seq ran 1..N without a hole. */
export function byHost(items: StreamItem[]): Map<string, { records: Record<string, unknown>[]; gaps: Record<string, unknown>[]; seqs: number[]; contiguous: boolean }> {
  const m = new Map<string, { records: Record<string, unknown>[]; gaps: Record<string, unknown>[]; seqs: number[]; contiguous: boolean }>();
  for (const it of items) {
    let h = m.get(it.host);
    if (!h) m.set(it.host, (h = { records: [], gaps: [], seqs: [], contiguous: true }));
    h.seqs.push(it.seq);
    if (it.gap) h.gaps.push(it.gap);
    for (const l of it.lines) {
      const r = JSON.parse(l) as Record<string, unknown>;
      if (r.zone !== PROBE_ZONE) h.records.push(r);
    }
  }
  for (const h of m.values()) {
    const s = [...h.seqs].sort((a, b) => a - b);
    h.contiguous = s.every((v, i) => v === i + 1);
  }
  return m;
}
