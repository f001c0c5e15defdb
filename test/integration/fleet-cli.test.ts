// The fleet as operators run it: `ctplug fleet agent` as its own process (the bundled CLI, in a
// throwaway netns' view, real nats-server -js), then `ctplug fleet run|count|flows` against it.
// Also: what a rogue responder on NATS says never reaches the terminal unescaped.
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import type { NatsConnection } from '@nats-io/nats-core';
import { Conntrack } from '../../host/conntrack/conntrack.js';
import { bundledCli } from '../helpers/cli.js';
import { listen, type Listener } from '../helpers/events.js';
import { freePort, natsKernelSuite, startNats, type NatsServer } from '../helpers/nats.js';
import { conntrackIn, makeNetns, removeNetns } from '../helpers/netns.js';
import { natsClient, probe, sleep, tempDir, udpSpecs, writePolicy } from '../helpers/fleet.js';

const FILE = 'test/integration/fleet-cli.test.ts';
const { t, it, skip } = natsKernelSuite('fleet CLI (nats + kernel)', FILE);
const cli = bundledCli('fleet-cli-test');

let nats: NatsServer | undefined;
let nc: NatsConnection | undefined;
let ns = '';
let ct: Conntrack | undefined;
let agent: Listener | undefined;
let metricsPort = 0;
const dir = tempDir();

/** `ctplug ARGS` asynchronously (the agent answers while it runs). */
function ctplug(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [cli.entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CTPLUG_DEBUG: '' } });
    let stdout = '', stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

if (!skip) {
  t.before(async () => {
    await cli.build();
    nats = await startNats();
    nc = await natsClient(nats.url);
    ns = makeNetns();
    ct = Conntrack.open({ netns: ns });
    metricsPort = await freePort();
    const policy = writePolicy(dir.dir, 'edge-cli', { capabilities: { operations: ['read', 'delete'], scope: { zones: 'any' } }, netns: [ns], plugins: ['purge-remote'] });
    agent = listen([process.execPath, cli.entry, 'fleet', 'agent', '--nats', nats.url, '--name', 'edge-cli', '--policy', policy, '--netns', ns,
      '--metrics', `127.0.0.1:${metricsPort}`, '--census', '1', '-e', 'NEW,DESTROY']);
    for (let i = 0; i < 150 && !/publishing to ctplug\.edge-cli/.test(agent.err()); i++) await sleep(100);
    assert.match(agent.err(), /publishing to ctplug\.edge-cli\.\* and answering ctplug\.edge-cli\.svc\.\*; \/metrics on 127\.0\.0\.1:/);
    // Flows are flowing once a probe's record is in the stream.
    for (let i = 0; ; i++) {
      probe(ct, i);
      await sleep(150);
      const m = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      if (/ctplug_nats_published_records_total\{subject="ctplug\.edge-cli\.flows"[^}]*\} [1-9]/.test(m)) break;
      if (i > 100) throw new Error(`the agent's flows never reached the stream: ${agent.err()}`);
    }
  });
  t.after(async () => {
    if (agent) {
      agent.child.kill('SIGTERM');
      await Promise.race([agent.done, sleep(5000)]);
      agent.child.kill('SIGKILL');
    }
    ct?.close();
    if (ns) removeNetns(ns);
    await nc?.close().catch(() => undefined);
    await nats?.stop();
    dir.remove();
    cli.remove();
  });
}

it('fleet run: one line per host with its count, the total on stderr, exit 0; the entries are gone (conntrack -L)', async () => {
  ct!.createSync([...udpSpecs(9, 3, '203.0.113.9'), ...udpSpecs(4, 3, '10.9.0.1', 500)]);
  const r = await ctplug(['fleet', 'run', '--nats', nats!.url, '--plugin', 'purge-remote', '--config', '{"addr":"203.0.113.9"}', '--timeout', '20']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /^edge-cli\s+ok\s+deleted 9, entries \d+\n$/, r.stdout);
  assert.match(r.stderr, /ctplug fleet run: 1 hosts \(1 ok\); total 9 entries deleted/);
  assert.is(conntrackIn(ns, ['-L', '-s', '203.0.113.9']).trim(), '');
  assert.is(conntrackIn(ns, ['-L', '-s', '10.9.0.1']).trim().split('\n').length, 4);

  const json = await ctplug(['fleet', 'count', '--nats', nats!.url, '-o', 'json']);
  assert.is(json.code, 0, json.stderr);
  const c = JSON.parse(json.stdout) as { host: string; entries: number };
  assert.is(c.host, 'edge-cli');
  assert.is(c.entries, Number(spawnSync('ip', ['netns', 'exec', ns, 'conntrack', '-C'], { encoding: 'utf8' }).stdout.trim()));
  ct!.flushSync();
});

it('fleet run against a name that does not answer: "no answer", exit 7; a plugin the host does not list: refused, exit 6', async () => {
  const r = await ctplug(['fleet', 'run', '--nats', nats!.url, '--plugin', 'purge-remote', '--config', '{"addr":"203.0.113.9"}', '--hosts', 'edge-cli,edge-gone', '--timeout', '1']);
  assert.is(r.code, 7, r.stderr);
  assert.match(r.stdout, /^edge-cli\s+ok\s+deleted 0/m);
  assert.match(r.stdout, /^edge-gone\s+no answer /m);
  const refused = await ctplug(['fleet', 'run', '--nats', nats!.url, '--plugin', 'stale', '--config', '{}']);
  assert.is(refused.code, 6, refused.stderr);
  assert.match(refused.stdout, /^edge-cli\s+refused\s+plugin "stale" is not in this host's clients\.fleet\.plugins$/m);
});

it('fleet flows: NDJSON records with their host; conntrack-style text; events stream with -e', async () => {
  ct!.createSync(udpSpecs(5, 7, '10.7.0.1'));
  ct!.flushSync({ zone: 7 });
  await sleep(500);
  const j = await ctplug(['fleet', 'flows', '--nats', nats!.url, '-o', 'json', '--duration', '3']);
  assert.is(j.code, 0, j.stderr);
  const recs = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.zone === 7);
  assert.is(recs.length, 5);
  assert.ok(recs.every((r) => r.host === 'edge-cli' && r.proto === 'udp' && r.flow === 'end'));
  const text = await ctplug(['fleet', 'flows', '--nats', nats!.url, '--duration', '3']);
  assert.match(text.stdout, /^\[edge-cli\] \[DESTROY\] udp\s+17 src=10\.7\.0\.1 dst=10\.2\.0\.0 sport=20000 dport=53 src=10\.2\.0\.0 dst=10\.7\.0\.1 sport=53 dport=20000 zone=7$/m);
  const ev = await ctplug(['fleet', 'flows', '--nats', nats!.url, '-e', 'NEW', '-o', 'json', '--duration', '3']);
  const evs = ev.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.zone === 7);
  // The agent publishes the kinds it was started with (-e NEW,DESTROY); -e on `fleet flows` picks the events stream.
  assert.equal(evs.map((e) => e.event).sort(), [...Array(5).fill('destroy'), ...Array(5).fill('new')]);
  assert.ok(evs.every((e) => e.host === 'edge-cli'));
});

it('a rogue responder\'s host name and reason are escaped, never obeyed by the terminal', async () => {
  const evil = '\u001b]0;owned\u0007\u001b[2J';
  const subs = [
    nc!.subscribe('$SRV.PING.ctplug', { callback: (_e, m) => { m.respond(JSON.stringify({ name: 'ctplug', id: 'x', metadata: { host: 'rogue' } })); } }),
    nc!.subscribe('ctplug.rogue.svc.run', { callback: (_e, m) => { m.respond(JSON.stringify({ host: `rogue${evil}`, op: 'run', status: 'refused', reason: `no${evil}\nFORGED LINE` })); } }),
  ];
  await nc!.flush();
  try {
    const r = await ctplug(['fleet', 'run', '--nats', nats!.url, '--plugin', 'purge-remote', '--config', '{"addr":"203.0.113.9"}', '--hosts', 'rogue']);
    assert.not.match(r.stdout + r.stderr, /\u001b|\u0007/);
    assert.match(r.stdout, /^rogue\\x1b\]0;owned\\x07\\x1b\[2J\s+refused\s+no\\x1b.*\\nFORGED LINE$/m);
    assert.is(r.stdout.trim().split('\n').length, 1, 'one line for the one host');
    const j = await ctplug(['fleet', 'run', '--nats', nats!.url, '--plugin', 'purge-remote', '--config', '{"addr":"203.0.113.9"}', '--hosts', 'rogue', '-o', 'json']);
    assert.not.match(j.stdout, /\u001b|\u0007/);
    assert.is((JSON.parse(j.stdout) as { host: string }).host, `rogue${evil}`, 'JSON keeps the value, escaped as JSON');
  } finally {
    for (const s of subs) s.unsubscribe();
  }
});

t.run();
