// heldOps: the read-only backend of `get`, the dying/unconfirmed tables and -z (entries the host
// fetched itself). The CLI no longer borrows the test kit's fake kernel for them.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { heldOps } from '../../host/conntrack/held-ops.js';
import { RECV_BUFFER_BYTES } from '../../host/netlink/connection.js';

/** `n` netlink messages of `size` bytes each (nlmsg_len little-endian, the body numbered). */
function messages(n: number, size: number): Uint8Array {
  const out = new Uint8Array(n * size);
  const v = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    v.setUint32(i * size, size, true);
    v.setUint32(i * size + 16, i, true);
  }
  return out;
}

test('a dump replays every held entry, in order, in batches of whole messages within a receive buffer', async () => {
  const table = messages(200, 1000);
  const c = heldOps(table).dump({});
  const batches = [];
  for (let b; (b = await c.next()); ) batches.push({ bytes: b.entries.slice(), count: b.count });
  assert.ok(batches.length > 1);
  for (const b of batches) assert.ok(b.bytes.length <= RECV_BUFFER_BYTES && b.bytes.length === b.count * 1000);
  assert.is(batches.reduce((n, b) => n + b.count, 0), 200);
  assert.equal(Buffer.concat(batches.map((b) => b.bytes)), Buffer.from(table));
});

test('stop ends a dump; an empty table dumps nothing', async () => {
  const c = heldOps(messages(3, 100)).dump({});
  c.stop();
  assert.is(await c.next(), null);
  assert.is(await heldOps(new Uint8Array(0)).dump({}).next(), null);
});

test('nothing held can be changed, and no event comes', async () => {
  const ops = heldOps(messages(1, 100));
  assert.throws(() => ops.delete([]), /read-only/);
  assert.throws(() => ops.update([]), /read-only/);
  assert.throws(() => ops.create([]), /read-only/);
  assert.throws(() => ops.flush({}), /read-only/);
  assert.is(await ops.subscribe([], {} as never).read(new Uint8Array(16), {}), null);
});

test('the CLI imports nothing from the test kit (issue 17: no production path through test code)', () => {
  for (const f of ['host/cli/commands/get.ts', 'host/cli/held-list.ts']) assert.not.match(readFileSync(f, 'utf8'), /sdk\/testkit/, f);
});

test.run();
