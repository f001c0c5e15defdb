// The `clock` hostcall: `conntrack -E -o timestamp` prefixes, and delta-time= in listings
// without a `now` config key (the SDK moves its render clock to the host's time per batch).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { batch, IPS, type EntrySpec } from '../helpers/ctmsg.js';
import { built, pluginPath, PluginRun } from './harness.js';

const NEW = (1 << 8) | 0; // IPCTNL_MSG_CT_NEW
const NEW_FLAGS = 0x600; // NLM_F_CREATE | NLM_F_EXCL: a [NEW] event

const flow: EntrySpec = {
  proto: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 5353, dport: 53, timeout: 30, status: IPS.CONFIRMED,
  msgType: NEW, msgFlags: NEW_FLAGS,
};

function events(config: unknown, clock: number, b: Uint8Array): PluginRun {
  const run = new PluginRun(pluginPath('events'), config).start();
  run.clock = clock;
  assert.is(run.init(), 0);
  const ptr = run.exports.ctplug_alloc(64 * 1024);
  new Uint8Array(run.memory.buffer).set(b, ptr);
  assert.is(run.exports.ctplug_on_events(ptr, b.length, 0), 0);
  run.finish();
  return run;
}

if (!built(pluginPath('events'))) {
  console.log('SKIP test/plugin/clock.test.ts: dist/plugins is not built (npm run build)');
  test.skip('built', () => {});
} else {
  test('-o timestamp: "[seconds.micros]\\t" before each event, micros zero-padded, as conntrack prints it', () => {
    const r = events({ output: 'timestamp' }, 1_700_000_000.012345, batch([flow, { ...flow, sport: 5354 }]));
    assert.equal(r.lines.map((l) => l.split('\t')[0]), ['[1700000000.012345]', '[1700000000.012345]']);
    assert.match(r.lines[0], /^\[1700000000\.012345\]\t {4}\[NEW\] udp {6}17 30 src=10\.0\.0\.1 /);
  });

  test('without -o timestamp no prefix', () => {
    const r = events({ output: 'text' }, 1_700_000_000.5, batch([flow]));
    assert.match(r.lines[0], /^ {4}\[NEW\] udp/);
  });

  test('delta-time= follows the host clock when no `now` is configured, and a configured `now` pins it', () => {
    const start = 1_699_999_990_000_000_000n; // 10 s before the clock below
    const entry: EntrySpec = { ...flow, msgType: NEW, msgFlags: 0x2, timestamp: { start } };
    const live = new PluginRun(pluginPath('list'), { output: 'text' }).start();
    live.clock = 1_700_000_000.9;
    live.run(batch([entry]));
    assert.match(live.lines[0], / delta-time=10 /);
    const pinned = new PluginRun(pluginPath('list'), { output: 'text', now: 1_700_000_100 }).start();
    pinned.clock = 1_700_000_000.9;
    pinned.run(batch([entry]));
    assert.match(pinned.lines[0], / delta-time=110 /);
  });
}

test.run();
