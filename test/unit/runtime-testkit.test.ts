// The test kit with the first-party AssemblyScript plugins (dist/plugins, built by
// `node scripts/build.mjs plugins`): what a plugin author's test looks like.
import { existsSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GrantError } from '../../host/policy/errors.js';
import { PluginTrapError } from '../../host/runtime/errors.js';
import { describeEntry, entryMessages, runPlugin } from '../../sdk/testkit/index.js';

const built = existsSync('dist/plugins/list.manifest.json') && existsSync('dist/plugins/match.manifest.json');
const it = built ? test : test.skip;
if (!built) console.log('SKIP runtime-testkit: dist/plugins is not built (node scripts/build.mjs abi plugins)');

const entries = [
  { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1234, dport: 80, zone: 5, mark: 1, tcpState: 'ESTABLISHED', timeout: 120 },
  { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.3', sport: 1234, dport: 53, zone: 7, timeout: 120 },
  { family: 'ipv6' as const, protocol: 'udp', src: 'fd00::1', dst: 'fd00::2', sport: 1234, dport: 53, zone: 9, timeout: 120 },
];

it('list renders every entry like conntrack -L and logs the summary', async () => {
  const r = await runPlugin('dist/plugins/list.manifest.json', { entries });
  assert.is(r.output.split('\n').filter(Boolean).length, 3);
  assert.match(r.output, /^tcp {6}6 120 ESTABLISHED src=10\.0\.0\.1 dst=10\.0\.0\.2 sport=1234 dport=80 /);
  assert.equal(r.logs, [{ level: 'info', source: 'log', text: '3 flow entries have been shown.' }]);
  assert.equal(r.deleted, []);
});

it('match deletes what its filter selects; deleted lists the entries as given', async () => {
  const r = await runPlugin('dist/plugins/match.manifest.json', { entries, config: { action: 'delete', proto: 'udp' } });
  assert.equal(r.deleted, [entries[1], entries[2]]);
  assert.is(r.stats.deleted, 2);
});

it('the operator policy narrows what the plugin sees; over-asking fails at load', async () => {
  const policy = { default: { capabilities: { operations: ['read', 'delete'], scope: { zones: [7] } } } };
  const r = await runPlugin('dist/plugins/match.manifest.json', { entries, policy, config: { action: 'delete' , all: true } });
  assert.equal(r.deleted, [entries[1]], 'only zone 7 is reachable');
  try {
    await runPlugin('dist/plugins/match.manifest.json', { entries, policy: { default: { capabilities: { operations: ['read'] } } } });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, GrantError);
    assert.match((e as Error).message, /^plugin "match" asks for more than the policy default allows: operations: asks \[read, delete\], allows \[read\]$/);
  }
});

it('events from plain objects: new, update and destroy reach a subscribed plugin as the kernel sends them', async () => {
  const flow = { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1234, dport: 80, zone: 5, tcpState: 'ESTABLISHED', timeout: 120 };
  const r = await runPlugin('dist/plugins/events.manifest.json', {
    config: { output: 'id' },
    events: [[{ kind: 'new', ...flow }, { kind: 'update', ...flow, mark: 7 }], [{ kind: 'destroy', ...flow }]],
  });
  const lines = r.output.trim().split('\n');
  assert.equal(lines.map((l) => l.match(/^\s*\[(\w+)\]/)?.[1]), ['NEW', 'UPDATE', 'DESTROY']);
  assert.equal(new Set(lines.map((l) => l.match(/ id=(\d+)$/)?.[1])).size, 1, 'one flow, one id');
  assert.match(lines[1], / mark=7 /);
  assert.is(r.stats.events, 3);
  assert.equal(describeEntry(entryMessages([flow])[0]), { family: 'ipv4', protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1234, dport: 80, zone: 5, mark: 0, timeout: 120, tcpState: 'ESTABLISHED' });
});

it('a trap carries the abort message and its source position', async () => {
  const err = await runPlugin('dist/test-plugins/probe.manifest.json', { entries, config: { mode: 'abort' } }).catch((e) => e);
  assert.instance(err, PluginTrapError);
  assert.match(err.message, /^plugin "probe" trapped in ctplug_init: abort: config asked for it at test\/plugin\/fixtures-src\/probe\.ts:\d+:\d+ \(unreachable\)$/);
  assert.match(err.abort, /^abort: config asked for it at /);
});

test.run();
