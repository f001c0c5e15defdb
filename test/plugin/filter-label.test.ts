// The `label` filter key (CLI -l): entries must carry every listed connlabel bit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { batch, type EntrySpec } from '../helpers/ctmsg.js';
import { built, pluginPath, PluginRun } from './harness.js';

const labels = (...bits: number[]) => {
  const b = new Uint8Array(16);
  for (const n of bits) b[n >> 3] |= 1 << (n & 7);
  return b;
};
const flow = (i: number, extra: Partial<EntrySpec>): EntrySpec => ({ proto: 'udp', src: '10.0.0.1', dst: `10.0.0.${i}`, sport: i, dport: 53, timeout: 30, ...extra });

if (!built(pluginPath('list'))) {
  console.log('SKIP test/plugin/filter-label.test.ts: dist/plugins is not built (npm run build)');
  test.skip('built', () => {});
} else {
  test('label: all listed bits must be set; entries without labels never match', () => {
    const entries = [flow(1, { labels: labels(3) }), flow(2, { labels: labels(3, 64) }), flow(3, { labels: labels(64) }), flow(4, {})];
    const one = new PluginRun(pluginPath('list'), { label: [3] }).run(batch(entries));
    assert.equal(one.lines.map((l) => l.match(/dst=10\.0\.0\.(\d)/)![1]), ['1', '2']);
    const both = new PluginRun(pluginPath('list'), { label: '3,64' }).run(batch(entries));
    assert.equal(both.lines.map((l) => l.match(/dst=10\.0\.0\.(\d)/)![1]), ['2']);
  });

  test('label: out-of-range bits fail init with a clear reason', () => {
    const r = new PluginRun(pluginPath('list'), { label: [128] }).start();
    assert.is.not(r.init(), 0);
    assert.match(r.logs.map((l) => l.msg).join('\n'), /label must be a bit number 0\.\.127/);
  });
}

test.run();
