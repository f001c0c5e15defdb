// The icmp_type / icmp_code / icmp_id filter keys (CLI --icmp-type/--icmp-code/--icmp-id): matched
// on the original tuple of ICMP and ICMPv6 entries, in the match, list and events plugins.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { batch, type EntrySpec } from '../helpers/ctmsg.js';
import { built, pluginPath, PluginRun } from './harness.js';

const icmp = (dst: string, icmpType: number, icmpCode: number, icmpId: number, extra: Partial<EntrySpec> = {}): EntrySpec =>
  ({ proto: 'icmp', src: '10.0.0.1', dst, icmpType, icmpCode, icmpId, timeout: 30, ...extra });
const table: EntrySpec[] = [
  icmp('10.0.0.11', 8, 0, 1111),
  icmp('10.0.0.12', 8, 0, 2222),
  icmp('10.0.0.13', 13, 0, 1111),
  icmp('10.0.0.14', 3, 1, 1111, { reply: { src: '10.0.0.14', dst: '10.0.0.1', icmpType: 0, icmpCode: 0, icmpId: 1111 } }),
  { proto: 'icmpv6', src: '2001:db8::1', dst: '2001:db8::15', icmpType: 128, icmpCode: 0, icmpId: 1111, timeout: 30 },
  { proto: 'udp', src: '10.0.0.1', dst: '10.0.0.16', sport: 1111, dport: 8, timeout: 30 },
];
/** The last octet (or hex group) of each listed entry's original destination. */
const dsts = (r: PluginRun) => r.lines.map((l) => l.match(/dst=\S+[.:](\w+) /)![1]).join(' ');
const list = (config: object) => dsts(new PluginRun(pluginPath('match'), { action: 'list', ...config }).run(batch(table)));

if (!built(pluginPath('match')) || !built(pluginPath('events'))) {
  console.log('SKIP test/plugin/filter-icmp.test.ts: dist/plugins is not built (npm run build)');
  test.skip('built', () => {});
} else {
  test('icmp_type, icmp_code, icmp_id match the original tuple of ICMP and ICMPv6 entries only', () => {
    assert.is(list({ icmp_type: 8 }), '11 12');
    assert.is(list({ icmp_type: [8, 13] }), '11 12 13');
    assert.is(list({ icmp_type: 0 }), '', 'echo reply is the reply tuple\'s type');
    assert.is(list({ icmp_code: 1 }), '14');
    assert.is(list({ icmp_id: 1111 }), '11 13 14 15', 'a udp port 1111 is no ICMP id');
    assert.is(list({ icmp_type: 128 }), '15');
    assert.is(list({ proto: 'icmp', icmp_type: 8, icmp_code: 0, icmp_id: 1111 }), '11');
    assert.is(list({ proto: 'icmpv6', icmp_id: '1111' }), '15');
  });

  test('out-of-range or malformed ICMP values fail init with the key and its range', () => {
    for (const [config, text] of [[{ icmp_type: 256 }, 'icmp_type must be 0..255, got 256'], [{ icmp_code: -1 }, 'icmp_code must be 0..255'],
      [{ icmp_id: 65536 }, 'icmp_id must be 0..65535, got 65536'], [{ icmp_id: [] }, 'icmp_id must not be an empty list'], [{ icmp_type: 'echo' }, 'icmp_type must be 0..255']] as const) {
      const r = new PluginRun(pluginPath('match'), config).start();
      assert.is(r.init(), -1, JSON.stringify(config));
      assert.ok(r.logs.some((l) => l.level === 0 && l.msg.includes(text)), `${JSON.stringify(config)}: ${JSON.stringify(r.logs)}`);
    }
  });

  test('events: only matching ICMP events are printed', () => {
    const r = new PluginRun(pluginPath('events'), { proto: 'icmp', icmp_type: 8, icmp_id: 2222 }).start();
    assert.is(r.init(), 0, JSON.stringify(r.logs));
    const ev = batch(table.map((s) => ({ ...s, msgFlags: 0x600 })));
    const ptr = r.exports.ctplug_alloc(ev.length);
    new Uint8Array(r.memory.buffer).set(ev, ptr);
    assert.is(r.exports.ctplug_on_events(ptr, ev.length, 0), 0);
    assert.is(r.lines.length, 1);
    assert.match(r.lines[0], /^\s+\[NEW\] icmp .* dst=10\.0\.0\.12 type=8 code=0 id=2222 /);
  });
}

test.run();
