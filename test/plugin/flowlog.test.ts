// flowlog against constructed DESTROY events (test/helpers/ctmsg.ts), through the plain harness:
// one NDJSON record per finished flow, zones and min_bytes from config, counters and times only
// when the kernel sent them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { batch, IPS, TCP, type EntrySpec } from '../helpers/ctmsg.js';
import { flagBit } from '../../host/policy/abi.js';
import { built, pluginPath, PluginRun } from './harness.js';

const DESTROY = (1 << 8) | 2; // IPCTNL_MSG_CT_DELETE
const NEW_FLAGS = 0x600; // NLM_F_CREATE | NLM_F_EXCL

/** init, one ctplug_on_events call per batch, finish. */
function runEvents(config: unknown, ...batches: Uint8Array[]): { run: PluginRun; codes: number[] } {
  const run = new PluginRun(pluginPath('flowlog'), config).start();
  const codes = [run.init()];
  if (codes[0] !== 0) return { run, codes };
  const cap = 256 * 1024;
  const ptr = run.exports.ctplug_alloc(cap);
  for (const b of batches) {
    new Uint8Array(run.memory.buffer).set(b, ptr);
    codes.push(run.exports.ctplug_on_events(ptr, b.length, 0));
  }
  codes.push(run.finish());
  return { run, codes };
}

const flow = (i: number, extra: Partial<EntrySpec> = {}): EntrySpec => ({
  proto: 'tcp', src: '10.0.0.1', dst: `10.0.1.${i}`, sport: 40000 + i, dport: 443, tcpState: TCP.TIME_WAIT,
  status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED, zone: 5, mark: 7, id: 100 + i,
  msgType: DESTROY, msgFlags: 0, ...extra,
});
const records = (r: PluginRun) => r.lines.map((l) => JSON.parse(l));

if (!built(pluginPath('flowlog'))) {
  console.log('SKIP flowlog plugin tests: dist/plugins/flowlog.wasm missing (run node scripts/build.mjs plugins)');
  test.skip('built', () => {});
} else {
  test('subscribes to DESTROY only; one record per destroyed flow with tuples, zone, mark, state, counters, times', () => {
    const start = 1_700_000_000_000_000_000n, stop = start + 2_500_000_000n;
    const ev = batch([
      flow(1, { counters: { orig: [10, 1000], reply: [8, 5000] }, timestamp: { start, stop } }),
      { ...flow(2), msgType: (1 << 8) | 0, msgFlags: NEW_FLAGS }, // a NEW that slipped through: ignored
    ]);
    const { run, codes } = runEvents({}, ev);
    assert.equal(codes, [0, 0, 0]);
    assert.is(run.subscriptions.length, 1);
    assert.is(run.subscriptions[0].flags, flagBit('DumpRequest', 'flags', 'EVENT_DESTROY'), 'DESTROY only, no zone filter');
    assert.equal(records(run), [{
      flow: 'end', family: 'ipv4', proto: 'tcp', protonum: 6, state: 'TIME_WAIT',
      orig: { src: '10.0.0.1', dst: '10.0.1.1', sport: 40001, dport: 443 },
      reply: { src: '10.0.1.1', dst: '10.0.0.1', sport: 443, dport: 40001 },
      zone: 5, mark: 7, id: 101, packets_orig: 10, bytes_orig: 1000, packets_reply: 8, bytes_reply: 5000,
      start_ns: Number(start), stop_ns: Number(stop), duration_ms: 2500,
    }]);
    assert.ok(run.lines[0].includes(`"start_ns":${start}`), 'u64 nanoseconds printed exactly');
    assert.ok(run.logs.some((l) => l.msg.startsWith('1 flows logged')), JSON.stringify(run.logs));
  });

  test('without accounting and timestamps the fields are omitted, and the summary says what is missing', () => {
    const { run } = runEvents({}, batch([flow(1, { proto: 'udp', tcpState: undefined, sport: 5000, dport: 53, zone: 0, mark: 0 })]));
    const [r] = records(run);
    assert.equal(Object.keys(r).sort(), ['family', 'flow', 'id', 'mark', 'orig', 'proto', 'protonum', 'reply', 'zone'].sort());
    assert.is(r.zone, 0);
    assert.equal(r.orig, { src: '10.0.0.1', dst: '10.0.1.1', sport: 5000, dport: 53 });
    const summary = run.logs.map((l) => l.msg).join('\n');
    assert.match(summary, /without counters \(turn on nf_conntrack_acct\)/);
    assert.match(summary, /without start\/stop times \(turn on nf_conntrack_timestamp\)/);
  });

  test('config zones: one zone is a kernel-side subscription filter; several are filtered in the plugin', () => {
    const ev = batch([flow(1, { zone: 5 }), flow(2, { zone: 7 }), flow(3, { zone: 0 }), flow(4, { zone: 9 })]);
    const one = runEvents({ zones: [5] }, ev).run;
    assert.ok(one.subscriptions[0].flags & flagBit('DumpRequest', 'flags', 'ZONE'), 'ZONE flag set');
    assert.is(one.subscriptions[0].zone, 5);
    assert.equal(records(one).map((r) => r.zone), [5]);
    const many = runEvents({ zones: [0, 7] }, ev).run;
    assert.is(many.subscriptions[0].flags & flagBit('DumpRequest', 'flags', 'ZONE'), 0, 'all granted zones');
    assert.equal(records(many).map((r) => r.zone), [7, 0]);
    assert.ok(many.logs.some((l) => l.msg.includes('2 in other zones')));
  });

  test('min_bytes counts both directions; flows without counters are logged with one warning', () => {
    const ev = batch([
      flow(1, { counters: { orig: [1, 400], reply: [1, 500] } }), // 900 < 1000
      flow(2, { counters: { orig: [1, 400], reply: [1, 600] } }), // 1000
      flow(3), flow(4), // no counters
    ]);
    const { run } = runEvents({ zones: 5, min_bytes: 1000 }, ev);
    assert.equal(records(run).map((r) => r.id), [102, 103, 104]);
    assert.is(run.logs.filter((l) => l.msg.includes('min_bytes cannot be applied')).length, 1);
    assert.ok(run.logs.some((l) => l.msg.includes('1 below min_bytes')));
  });

  test('IPv6 and ICMP tuples; 32-bit counters; limit stops the run', () => {
    const ev = batch([
      { proto: 'icmpv6', src: 'fd00::1', dst: 'fd00::2', icmpType: 128, icmpCode: 0, icmpId: 9, reply: { src: 'fd00::2', dst: 'fd00::1', icmpType: 129, icmpCode: 0, icmpId: 9 }, msgType: DESTROY, msgFlags: 0, counters: { orig: [1, 64], reply: [1, 64] }, counters32: true },
      flow(2), flow(3),
    ]);
    const { run, codes } = runEvents({ limit: 2 }, ev);
    assert.is(codes[1], 1, 'STATUS_STOP after the limit');
    const rs = records(run);
    assert.is(rs.length, 2);
    assert.equal(rs[0].orig, { src: 'fd00::1', dst: 'fd00::2', type: 128, code: 0, id: 9 });
    assert.is(rs[0].family, 'ipv6');
    assert.is(rs[0].bytes_orig, 64);
  });

  test('bad config fails init with a message naming the key', () => {
    for (const [cfg, re] of [
      [{ zone: 5 }, /unknown key "zone"/], [{ zones: [70000] }, /zones must be numbers 0\.\.65535/], [{ zones: [] }, /zones is empty/],
      [{ min_bytes: -1 }, /min_bytes must be a byte count/], [{ min_bytes: '1k' }, /min_bytes/], [[1], /config must be an object/],
    ] as [unknown, RegExp][]) {
      const { run, codes } = runEvents(cfg);
      assert.ok(codes[0] < 0, `${JSON.stringify(cfg)} refused`);
      assert.match(run.logs.map((l) => l.msg).join('\n'), re);
      assert.is(run.subscriptions.length, 0);
    }
  });
}

test.run();
