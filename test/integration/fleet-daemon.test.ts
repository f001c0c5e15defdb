// The fleet beside the daemon (issues 14 + 18): `ctplug daemon --nats URL` (started as root, real
// nats-server -js, throwaway namespaces) runs `ctplug fleet agent --connect SOCKET` as a separate
// process, uid 65534 with no capability, a client of the daemon like any other. Fleet requests act
// within BOTH the policy's clients.fleet entry and the daemon's entry for uid 65534; what either
// refuses is refused by the host with the tables intact (`conntrack -L` is the oracle).
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import type { NatsConnection } from '@nats-io/nats-core';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { serviceSubject } from '../../host/fleet/subjects.js';
import { bundledCli } from '../helpers/cli.js';
import { CLIENT_UID, procCaps, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { natsClient, sleep } from '../helpers/fleet.js';
import { freePort, natsKernelSuite, startNats, type NatsServer } from '../helpers/nats.js';
import { conntrackIn, listingLines, makeNetns, removeNetns, seedNetns } from '../helpers/netns.js';

const FILE = 'test/integration/fleet-daemon.test.ts';
const { t, it, skip } = natsKernelSuite('fleet agent beside the daemon (nats + kernel)', FILE);
const cli = bundledCli('fleet-daemon-test');
const HOST = 'edge-d';
const ADDR = '203.0.113.7';
/** Third-party plugins (test fixtures): `probe` is pinned by its sha256 in clients.fleet, `seed` is not. */
const PINNED = 'dist/test-plugins/probe.wasm', UNPINNED = 'dist/test-plugins/seed.wasm';
const pin = (file: string) => `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;

let nats: NatsServer | undefined;
let nc: NatsConnection | undefined;
/** `ns`: in both grants; `ns2`: in clients.fleet only, not in the daemon's entry for uid 65534. */
let ns = '', ns2 = '';
let d: TestDaemon | undefined;
let metricsPort = 0;

/** Zone 1 (both grants): 4 entries of ADDR, 2 of others; zone 2 (neither): 3 of ADDR. */
const SPECS: CreateSpec[] = [
  ...[1, 2, 3, 4].map((i): CreateSpec => ({ protocol: 'udp', src: ADDR, dst: '198.51.100.53', sport: 50000 + i, dport: 53, timeout: 600, zone: 1 })),
  ...[1, 2].map((i): CreateSpec => ({ protocol: 'udp', src: `10.1.0.${i}`, dst: '198.51.100.53', sport: 50000 + i, dport: 53, timeout: 600, zone: 1 })),
  ...[1, 2, 3].map((i): CreateSpec => ({ protocol: 'udp', src: ADDR, dst: '198.51.100.53', sport: 51000 + i, dport: 53, timeout: 600, zone: 2 })),
];

const table = (n: string) => listingLines(conntrackIn(n, ['-L']));
const ofAddr = (lines: string[], zone: number) => lines.filter((l) => l.includes(`src=${ADDR} `) && new RegExp(`zone=${zone}\\b`).test(l)).length;

/** The running agent's pid, from the daemon's log (the last one started). */
function agentPid(): number | undefined {
  const all = [...d!.log().matchAll(/fleet agent started \(pid (\d+)\)/g)];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

/** `ctplug fleet run --plugin PLUGIN --config CONFIG` against this test's agent (the operator's side). */
function fleetRun(plugin: string, config: unknown, extra: string[] = []): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli.entry, 'fleet', 'run', '--nats', nats!.url, '--hosts', HOST, '--plugin', plugin, '--config', JSON.stringify(config), '--timeout', '20', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.setEncoding('utf8').on('data', (s) => (out += s));
    p.stderr.setEncoding('utf8').on('data', (s) => (err += s));
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

async function request(op: string, body: unknown): Promise<Record<string, unknown>> {
  const m = await nc!.request(serviceSubject(HOST, op as never), JSON.stringify(body), { timeout: 20_000 });
  return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
}

/** Until the agent answers `count` (it is connected to NATS and, through the daemon, to conntrack). */
async function untilAnswering(): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      if ((await request('count', { netns: [ns] })).status === 'ok') return;
    } catch {
      // no responder yet
    }
    if (i > 100) throw new Error(`the agent never answered: ${d!.log()}`);
    await sleep(200);
  }
}

if (!skip) {
  t.before(async () => {
    await cli.build();
    nats = await startNats();
    nc = await natsClient(nats.url);
    ns = makeNetns();
    ns2 = makeNetns();
    metricsPort = await freePort();
    d = await startTestDaemon(cli.daemon, {
      // The agent's own feeds (flowlog) run under the default, through the daemon as well.
      default: { capabilities: { operations: ['read', 'events'], scope: { zones: [1] } } },
      clients: {
        fleet: { capabilities: { operations: ['read', 'delete'], scope: { zones: [1] } }, netns: [ns, ns2], plugins: ['purge-remote', pin(PINNED)] },
        [`uid:${CLIENT_UID}`]: { capabilities: { operations: ['read', 'delete', 'events'], scope: { zones: [1] } }, netns: [ns] },
      },
    }, ['--nats', nats.url, '--name', HOST, '--agent-netns', ns, '--metrics', `127.0.0.1:${metricsPort}`, '--census', '1']);
    await untilAnswering();
  });
  t.after(async () => {
    const agents = d ? [...d.log().matchAll(/fleet agent started \(pid (\d+)\)/g)].map((m) => m[1]) : [];
    await d?.stop();
    for (const pid of agents) spawnSync('kill', ['-9', pid]); // gone already, unless the daemon failed to stop them
    await nc?.close().catch(() => undefined);
    await nats?.stop();
    for (const n of [ns, ns2]) if (n) removeNetns(n);
    cli.remove();
  });
  t.before.each(() => {
    seedNetns(ns, SPECS);
    seedNetns(ns2, SPECS);
  });
}

it('ctplug daemon --nats runs the agent beside it: another process, uid 65534, no capability in any set', () => {
  const pid = agentPid()!;
  assert.ok(pid && pid !== d!.pid, d!.log());
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '), /cli\.cjs fleet agent --connect \S+ --policy \S+ --nats nats:\/\/127\.0\.0\.1:\d+ --name edge-d --netns /);
  assert.match(status, new RegExp(`^Uid:\\s+${CLIENT_UID}\\s+${CLIENT_UID}\\s+${CLIENT_UID}\\s+${CLIENT_UID}$`, 'm'));
  assert.match(status, new RegExp(`^Gid:\\s+${CLIENT_UID}\\s`, 'm'));
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  const caps = procCaps(pid);
  assert.equal([caps.CapEff, caps.CapPrm, caps.CapInh, caps.CapAmb, caps.CapBnd], [0n, 0n, 0n, 0n, 0n]);
  // The daemon itself holds its capabilities and no NATS connection: the agent's is its own.
  assert.ok(procCaps(d!.pid).CapEff !== 0n);
  assert.match(d!.log(), /ctplug agent edge-d: publishing to ctplug\.edge-d\.\* .*; through the daemon at /);
});

it('a fleet purge through the daemon deletes the address in its namespace, within both grants (zone 1 only)', async () => {
  const before = table(ns), before2 = table(ns2);
  assert.is(ofAddr(before, 1), 4);
  const r = await request('run', { plugin: 'purge-remote', config: { addr: ADDR }, netns: [ns] });
  assert.is(r.status, 'ok', JSON.stringify(r));
  assert.is(r.deleted, 4, JSON.stringify(r));
  const after = table(ns);
  assert.is(ofAddr(after, 1), 0, after.join('\n'));
  assert.is(ofAddr(after, 2), 3, 'zone 2 is outside the grants');
  assert.is(after.length, before.length - 4);
  assert.equal(table(ns2), before2);
});

it('beyond the daemon\'s entry for uid 65534 (a namespace clients.fleet lists): refused by the host, both tables intact', async () => {
  const before = table(ns), before2 = table(ns2);
  const r = await request('run', { plugin: 'purge-remote', config: { addr: ADDR }, netns: [ns2] });
  assert.is(r.status, 'refused', JSON.stringify(r));
  assert.match(String(r.reason), /the ctplug daemon at .* refused \(E_DENIED\)/);
  const c = await request('count', { netns: [ns2] });
  assert.is(c.status, 'refused', JSON.stringify(c));
  // No namespace named: all of clients.fleet's, ns first. Refused before anything ran: ns is intact too.
  const cliRun = await fleetRun('purge-remote', { addr: ADDR });
  assert.is(cliRun.code, 6, cliRun.err);
  assert.match(cliRun.out, /^edge-d\s+refused\s+.*refused \(E_DENIED\)/m);
  assert.equal(table(ns), before);
  assert.equal(table(ns2), before2);
});

it('fleet run --plugin FILE: a third-party module pinned by its sha256 runs (through the daemon, zone 1 only); one not pinned is refused', async () => {
  // ns is the only namespace both grants allow: name it (the fleet entry also lists ns2).
  const before = table(ns);
  const refusedRun = await fleetRun(UNPINNED, { create: [] }, ['--netns', ns]);
  assert.is(refusedRun.code, 6, refusedRun.err);
  assert.match(refusedRun.out, new RegExp(`^edge-d\\s+refused\\s+plugin ${pin(UNPINNED)} is not pinned in this host's clients\\.fleet\\.plugins$`, 'm'));
  assert.equal(table(ns), before);
  const r = await fleetRun(PINNED, { mode: 'none', verdict: 'delete' }, ['--netns', ns]);
  assert.is(r.code, 0, r.err + r.out);
  assert.match(r.out, /^edge-d\s+ok\s+deleted 6, entries 6$/m);
  const after = table(ns);
  assert.equal(after.filter((l) => /zone=1\b/.test(l)), [], 'zone 1 emptied');
  assert.is(after.length, before.length - 6, 'zone 2 (outside both grants) untouched');
});

it('/metrics shows the daemon\'s own counters for the agent\'s entry: its refusals are exactly those the daemon logged', async () => {
  // Refused as the test before did: a namespace outside uid 65534's entry (logged by the daemon).
  const r = await request('count', { netns: [ns2] });
  assert.is(r.status, 'refused');
  const logged = () => d!.log().split('\n').filter((l) => l.includes(`(uid:${CLIENT_UID}): refused:`)).length;
  const sample = (text: string, name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`client="uid:${CLIENT_UID}"`) && l.includes(`host="${HOST}"`));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  let text = '';
  // The agent reads the daemon's counters with each census (every second here).
  for (let i = 0; i < 100; i++) {
    text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    if (sample(text, 'ctplug_daemon_client_refusals_total') === logged()) break;
    await sleep(200);
  }
  assert.ok(logged() >= 4, d!.log());
  assert.is(sample(text, 'ctplug_daemon_client_refusals_total'), logged(), text);
  assert.ok(sample(text, 'ctplug_daemon_client_requests_total')! > logged(), text);
  // Its grant does not read everything: it sees its own entry only.
  assert.not.match(text, /ctplug_daemon_client_requests_total\{client="(?!uid:65534)/);
});

it('the agent dying is logged and it is restarted, again unprivileged, and answers again', async () => {
  const first = agentPid()!;
  spawnSync('kill', ['-9', String(first)]);
  for (let i = 0; i < 100 && (agentPid() === first || !new RegExp(`fleet agent \\(pid ${first}\\) was killed by SIGKILL; restarting in 1 s`).test(d!.log())); i++) await sleep(100);
  assert.match(d!.log(), new RegExp(`fleet agent \\(pid ${first}\\) was killed by SIGKILL; restarting in 1 s`));
  const second = agentPid()!;
  assert.ok(second && second !== first, d!.log());
  await untilAnswering();
  assert.is(procCaps(second).CapEff, 0n);
  assert.match(readFileSync(`/proc/${second}/status`, 'utf8'), new RegExp(`^Uid:\\s+${CLIENT_UID}\\s`, 'm'));
});

t.run();
