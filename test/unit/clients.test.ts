// The policy's "clients" section (host/policy/clients.ts): who may connect to the daemon, keyed by
// what the kernel says (uid, gid, groups), and the rule for which entry applies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clientEntryFor, namesOtherNetns } from '../../host/policy/clients.js';
import { PolicyError } from '../../host/policy/errors.js';
import { parsePolicy } from '../../host/policy/policy.js';
import { fleetRunPolicy, parseFleetPolicy } from '../../host/fleet/policy.js';

const ids = { uid: (n: string) => ({ alice: 1000 } as Record<string, number>)[n], gid: (n: string) => ({ ctops: 500 } as Record<string, number>)[n] };
const parse = (clients: unknown) => parsePolicy({ clients }, 'policy', ids).clients;
const peer = (uid: number, gid: number, groups: number[] = []) => ({ pid: 1, uid, gid, groups });

test("the issue's example parses (netns inside capabilities), and the uid gets exactly that", () => {
  const c = parse({ 'uid:65534': { capabilities: { operations: ['read', 'delete'], scope: { zones: [1] }, netns: ['edge1'] } } });
  const e = clientEntryFor(c, peer(65534, 65534))!;
  assert.is(e.key, 'uid:65534');
  assert.equal(e.netns, ['edge1']);
  assert.equal(e.capabilities.operations, ['read', 'delete']);
  assert.equal(e.capabilities.scope.zones, [{ from: 1, to: 1 }]);
  assert.is(clientEntryFor(c, peer(1000, 1000)), undefined, 'no entry: refused');
  assert.ok(namesOtherNetns(c));
});

test('uid entries win over groups; groups in file order by gid or supplementary group; netns defaults to "."', () => {
  const c = parse({
    'group:ctops': { capabilities: { operations: ['read'] } },
    'gid:42': { capabilities: { operations: ['read', 'delete'] } },
    'user:alice': { capabilities: { operations: ['flush'] }, netns: ['.', 'edge2'] },
  });
  assert.is(clientEntryFor(c, peer(1000, 500))!.key, 'user:alice');
  assert.is(clientEntryFor(c, peer(7, 42, [500]))!.key, 'group:ctops');
  assert.is(clientEntryFor(c, peer(7, 42))!.key, 'gid:42');
  assert.equal(clientEntryFor(c, peer(7, 42))!.netns, ['.']);
  assert.is(clientEntryFor(c, peer(7, 8, [9])), undefined);
  assert.not.ok(namesOtherNetns(parse({ 'uid:1': { capabilities: { operations: ['read'] } } })));
});

test('bad clients sections are policy errors naming the key', () => {
  const bad: [unknown, RegExp][] = [
    [{ 'root': { capabilities: { operations: ['read'] } } }, /a client key is uid:N/],
    [{ 'uid:x': { capabilities: { operations: ['read'] } } }, /not a numeric uid/],
    [{ 'user:bob': { capabilities: { operations: ['read'] } } }, /no user named "bob"/],
    [{ 'uid:1000': { capabilities: { operations: ['read'] } }, 'user:alice': { capabilities: { operations: ['read'] } } }, /one entry per uid/],
    [{ 'uid:1': { capabilities: { operations: ['read'] }, netns: [] } }, /non-empty list/],
    [{ 'uid:1': { capabilities: { operations: ['read'] }, netns: ['../x'] } }, /not a namespace name/],
    [{ 'uid:1': { capabilities: { operations: ['read'], netns: ['a'] }, netns: ['b'] } }, /given twice/],
    [{ 'uid:1': { capabilities: { operations: ['sudo'] } } }, /sudo/],
    [[], /"clients" must be an object/],
  ];
  for (const [clients, re] of bad) {
    try {
      parse(clients);
      assert.unreachable(`accepted ${JSON.stringify(clients)}`);
    } catch (e) {
      assert.instance(e, PolicyError, String(e));
      assert.match((e as Error).message, re);
    }
  }
});

const PIN = 'sha256:' + 'ab'.repeat(32);
const FLEET = { capabilities: { operations: ['read', 'delete'], scope: { zones: [1, 2] } }, netns: ['edge1'], plugins: ['purge-remote', PIN] };

test('clients.fleet is parsed by the one policy parser, beside the uid/gid entries', () => {
  const c = parse({ fleet: FLEET, 'uid:65534': { capabilities: { operations: ['read'] }, netns: ['edge1'] } });
  assert.equal(c.fleet!.netns, ['edge1']);
  assert.equal(c.fleet!.plugins, ['purge-remote', PIN]);
  assert.equal(c.fleet!.capabilities.operations, ['read', 'delete']);
  assert.equal(c.fleet!.capabilities.scope.zones, [{ from: 1, to: 2 }]);
  assert.is(clientEntryFor(c, peer(65534, 65534))!.key, 'uid:65534');
  // The fleet entry is no connecting client: it neither matches a peer nor needs setns in the daemon.
  assert.is(clientEntryFor(parse({ fleet: FLEET }), peer(0, 0)), undefined);
  assert.not.ok(namesOtherNetns(parse({ fleet: FLEET })));
  assert.is(parse(undefined).fleet, null);
  assert.is(parse({ 'uid:1': { capabilities: { operations: ['read'] } } }).fleet, null);
  // The spelling (netns inside capabilities), netns defaulting to ".", duplicates dropped.
  assert.equal(parse({ fleet: { capabilities: { operations: ['read'], netns: ['a'] }, plugins: [] } }).fleet!.netns, ['a']);
  assert.equal(parse({ fleet: { capabilities: { operations: ['read'] }, plugins: ['count', 'count'] } }).fleet, { capabilities: parse({ fleet: { capabilities: { operations: ['read'] }, plugins: [] } }).fleet!.capabilities, netns: ['.'], plugins: ['count'] });
  // The fleet agent reads the same parse: no second parser.
  const fp = parseFleetPolicy({ default: { capabilities: { operations: ['events'] } }, clients: { fleet: FLEET } });
  assert.equal(fp.fleet, parsePolicy({ clients: { fleet: FLEET } }).clients.fleet);
  assert.equal(fp.local.default!.capabilities.operations, ['events']);
});

test('bad fleet entries are one policy error naming clients.fleet', () => {
  const bad: [unknown, RegExp][] = [
    [{ ...FLEET, plugins: ['../x'] }, /clients\.fleet\.plugins\[0\]: "\.\.\/x" is neither a plugin name nor "sha256:"/],
    [{ ...FLEET, plugins: ['sha256:' + 'AB'.repeat(32)] }, /plugins\[0\].*neither/],
    [{ ...FLEET, plugins: ['sha256:abc'] }, /plugins\[0\].*neither/],
    [{ ...FLEET, plugins: [7] }, /plugins\[0\].*neither/],
    [{ ...FLEET, plugins: 'purge-remote' }, /clients\.fleet\.plugins must be a list/],
    [{ capabilities: FLEET.capabilities, netns: ['edge1'] }, /clients\.fleet\.plugins must be a list/],
    [{ ...FLEET, netns: ['a/b'] }, /clients\.fleet\.netns\[0\].*not a namespace name/],
    [{ ...FLEET, netns: [] }, /clients\.fleet\.netns must be a non-empty list/],
    [{ ...FLEET, capabilities: { operations: ['read'], netns: ['a'] } }, /given twice/],
    [{ ...FLEET, extra: 1 }, /clients\.fleet: unknown key "extra"/],
    [{ ...FLEET, capabilities: { operations: ['fly'] } }, /fly/],
    ['purge-remote', /clients\.fleet must be an object/],
  ];
  for (const [fleet, re] of bad) {
    for (const parseIt of [() => parse({ fleet }), () => parseFleetPolicy({ clients: { fleet } }, 'p.json')]) {
      try {
        parseIt();
        assert.unreachable(`accepted ${JSON.stringify(fleet)}`);
      } catch (e) {
        assert.instance(e, PolicyError, String(e));
        assert.match((e as Error).message, re);
      }
    }
  }
  // "plugins" belongs to the fleet entry only.
  assert.throws(() => parse({ 'uid:1': { capabilities: { operations: ['read'] }, plugins: [] } }), /unknown key "plugins"/);
});

test('a fleet run\'s policy parses again (new Host and loadPlugin parse it): the fleet entry for that plugin, the local limits', () => {
  const fp = parseFleetPolicy({ default: { capabilities: { operations: ['read'] }, limits: { timeout_ms: 500 } }, clients: { fleet: FLEET, 'uid:65534': { capabilities: { operations: ['read'] } } } });
  const run = parsePolicy(fleetRunPolicy(fp, 'purge-remote'));
  assert.is(run.default, null);
  assert.equal(run.plugins['purge-remote'], { capabilities: fp.fleet!.capabilities, limits: { timeout_ms: 500 } });
  assert.is(run.clients.fleet, null, 'a plugin\'s grant owes nothing to the clients section');
});

test.run();
