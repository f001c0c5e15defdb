// A grant limited by mark. Zone, family and protocol are part of the kernel's lookup key, so
// bytes that lie about them find nothing; the mark is not. So under a mark-limited grant a
// delete or update must name (by CTA_ID) an entry the host delivered to the plugin.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abi } from '../../host/policy/abi.js';
import { describeEntry } from '../../sdk/testkit/describe.js';
import { FakeKernel } from '../../sdk/testkit/fake-kernel.js';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { runWat } from '../helpers/wasm-run.js';
import { dataString } from '../helpers/wasm.js';

const { E_SCOPE } = abi.status;
const flow = (i: number, mark: number): CreateSpec => ({ protocol: 'udp', src: '10.0.0.1', dst: `10.0.0.${i}`, sport: 1000 + i, dport: 53, timeout: 60, mark });
const entries = [flow(1, 0x10), flow(2, 0x20)];
const GRANT = { operations: ['read', 'delete'], scope: { mark: { value: 0x10, mask: 0xf0 } } };

/** The mark-0x20 entry as the kernel would send it, with its CTA_MARK rewritten to 0x10. */
function forgedOutOfScope(): Uint8Array {
  const k = FakeKernel.fromSpecs(entries);
  const b = k.messages().find((m) => describeEntry(m).mark === 0x20)!.slice();
  const at = Buffer.from(b).indexOf(Buffer.from([8, 0, 8, 0, 0, 0, 0, 0x20])); // nla_len 8, CTA_MARK, be32 0x20
  assert.ok(at > 0);
  b[at + 7] = 0x10;
  return b;
}

test('a mark-0x20 entry relabelled 0x10 in the bytes is refused: it was never delivered', async () => {
  const forged = forgedOutOfScope();
  const r = await runWat({
    init: `(drop (call $dump (i32.const 65536) (i32.const 16)))
      (call $report (call $delete (i32.const 0) (i32.const ${forged.length}))) (i32.const 0)`,
    onEntries: `(call $report (call $delete (i32.const 0) (i32.const ${forged.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(forged)})`,
    memory: '3 3',
  }, { capabilities: GRANT, entries });
  assert.equal(r.codes, [E_SCOPE, E_SCOPE], 'refused in init and after a batch was delivered');
  assert.match(r.logs.map((l) => l.text).join('\n'), /was not delivered to this plugin \(mark-limited grant\)/);
  assert.equal(r.table!.map((m) => describeEntry(m).mark).sort(), [0x10, 0x20], 'both entries are still there');
});

test('update: a delivered id on another entry\'s tuple is refused (updates are found by tuple alone)', async () => {
  const forged = forgedOutOfScope();
  // Give the mark-0x20 entry's bytes the id of the mark-0x10 entry the plugin is shown.
  const at = Buffer.from(forged).indexOf(Buffer.from([8, 0, 12, 0, 0, 0, 0, 2])); // nla_len 8, CTA_ID, be32 2
  assert.ok(at > 0);
  forged[at + 7] = 1;
  const rec = Buffer.alloc(16);
  rec.writeUInt32LE(1, 0); // flags: MARK
  rec.writeUInt32LE(0x01, 4); // mark bits
  rec.writeUInt32LE(0x0f, 8); // mask
  const payload = Buffer.concat([rec, forged]);
  const r = await runWat({
    init: '(drop (call $dump (i32.const 65536) (i32.const 16))) (i32.const 0)',
    onEntries: `(call $report (call $update (i32.const 0) (i32.const ${payload.length}))) (i32.const 0)`,
    extra: `(data (i32.const 0) ${dataString(payload)})`,
    memory: '3 3',
  }, { capabilities: { operations: ['read', 'update'], scope: { ...GRANT.scope, markBits: 0x0f } }, entries });
  assert.match(r.logs.map((l) => l.text).join('\n'), /with this tuple was not delivered/);
  assert.equal(r.codes, [E_SCOPE]);
  assert.equal(r.table!.map((m) => describeEntry(m).mark).sort(), [0x10, 0x20], 'no mark changed');
});

test('the same plugin deletes what it was shown inside its mark scope', async () => {
  const r = await runWat({
    init: '(drop (call $dump (i32.const 65536) (i32.const 16))) (i32.const 0)',
    onEntries: '(call $report (call $delete (local.get $ptr) (local.get $len))) (i32.const 0)',
    memory: '3 3',
  }, { capabilities: GRANT, entries });
  assert.equal(r.codes, [1], 'one entry delivered (mark 0x10), one deleted');
  assert.equal(r.table!.map((m) => describeEntry(m).mark), [0x20]);
});

test.run();
