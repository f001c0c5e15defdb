import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventFilterProgram, MAX_BPF_ZONES } from '../../host/conntrack/bpf.js';

test('no filter, no program; too many zones are left to the host scanner', () => {
  assert.is(eventFilterProgram({}), undefined);
  assert.is(eventFilterProgram({ zones: Array.from({ length: MAX_BPF_ZONES + 1 }, (_, i) => i) }), undefined);
});

test('program ends in accept/reject returns and every record is 8 bytes', () => {
  const p = eventFilterProgram({ families: [2], zones: [5], mark: { value: 1, mask: 1 } })!;
  assert.is(p.length % 8, 0);
  const v = new DataView(p.buffer);
  const n = p.length / 8;
  assert.is(v.getUint16((n - 2) * 8, true), 0x06);
  assert.is(v.getUint32((n - 2) * 8 + 4, true), 0xffffffff);
  assert.is(v.getUint32((n - 1) * 8 + 4, true), 0);
  // Every jump lands inside the program.
  for (let i = 0; i < n; i++) {
    if ((v.getUint16(i * 8, true) & 0x07) !== 0x05) continue;
    assert.ok(i + 1 + p[i * 8 + 2] < n && i + 1 + p[i * 8 + 3] < n, `jump at ${i}`);
  }
});

test.run();
