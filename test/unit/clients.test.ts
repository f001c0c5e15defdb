// The policy's "clients" section (host/policy/clients.ts): who may connect to the daemon, keyed by
// what the kernel says (uid, gid, groups), and the rule for which entry applies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clientEntryFor, namesOtherNetns } from '../../host/policy/clients.js';
import { PolicyError } from '../../host/policy/errors.js';
import { parsePolicy } from '../../host/policy/policy.js';

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

test.run();
