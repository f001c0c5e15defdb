// The list plugin's text output against lines the real `conntrack -L` printed, and its JSON.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PluginRun, pluginPath, testPluginPath, built, root } from './harness.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { batch, entryMessage, IPS, TCP } from '../helpers/ctmsg.js';
import { renderCases } from './cases.js';

const LIST = pluginPath('list');
const run = (config: unknown, ...b: Uint8Array[]) => new PluginRun(LIST, config).run(...b);

if (!built(LIST)) {
  console.log('SKIP plugin tests: dist/plugins/list.wasm missing (run node scripts/build.mjs plugins)');
  test.skip('list plugin built', () => {});
} else {
  for (const c of renderCases) {
    test(`text: ${c.name}`, () => {
      const r = run({}, entryMessage(c.spec));
      assert.equal(r.lines, [c.text]);
    });
    test(`extended,id: ${c.name}`, () => {
      const r = run({ output: 'extended,id' }, entryMessage(c.spec));
      assert.equal(r.lines, [`${c.l3}${c.text} id=${c.spec.id}`]);
    });
  }

  test('all cases in one batch, one emit call, order kept', () => {
    const r = run({ output: 'text' }, batch(renderCases.map((c) => c.spec)));
    assert.equal(r.lines, renderCases.map((c) => c.text));
    assert.is(r.emitCalls, 1);
    assert.ok(r.logs.some((l) => l.msg === `${renderCases.length} flow entries have been shown.`));
  });

  test('ordering of optional fields: zone-orig, secmark, secctx, helper, delta-time, [OFFLOAD]', () => {
    const spec = {
      proto: 'tcp' as const, src: '10.1.1.1', dst: '10.2.2.2', sport: 40000, dport: 21, timeout: 7, tcpState: TCP.ESTABLISHED,
      status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED | IPS.OFFLOAD, zone: 9, mark: 0xffffffff, use: 2,
      secmark: 7, secctx: 'system_u:object_r:x_t:s0', helper: 'ftp', timestamp: { start: 1_000_000_000_000n },
      counters: { orig: [12345678901234n, 99n] as [bigint, bigint], reply: [1n, 2n] as [bigint, bigint] }, reply: { src: '10.2.2.2', dst: '10.1.1.1', sport: 21, dport: 40000, zone: 3 },
      origZone: 4, // a kernel entry has one zone; every place conntrack can print one is filled here to test the order
    };
    const r = run({ now: 1030 }, entryMessage({ ...spec, src: spec.src, zone: 9 }));
    assert.equal(r.lines, [
      'tcp      6 7 ESTABLISHED src=10.1.1.1 dst=10.2.2.2 sport=40000 dport=21 zone-orig=4 packets=12345678901234 bytes=99 ' +
      'src=10.2.2.2 dst=10.1.1.1 sport=21 dport=40000 zone-reply=3 packets=1 bytes=2 [OFFLOAD] mark=4294967295 secmark=7 ' +
      'secctx=system_u:object_r:x_t:s0 zone=9 delta-time=30 helper=ftp use=2',
    ]);
  });

  test('HW_OFFLOAD wins over OFFLOAD and ASSURED; 32-bit counters', () => {
    const r = run({}, entryMessage({ proto: 'udp', src: '1.2.3.4', dst: '5.6.7.8', sport: 1, dport: 2, timeout: 1,
      status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED | IPS.OFFLOAD | IPS.HW_OFFLOAD, counters: { orig: [5, 6], reply: [7, 8] }, counters32: true }));
    assert.equal(r.lines, ['udp      17 1 src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2 packets=5 bytes=6 src=5.6.7.8 dst=1.2.3.4 sport=2 dport=1 packets=7 bytes=8 [HW_OFFLOAD] mark=0 use=1']);
  });

  test('labels as bit numbers with output labels', () => {
    const labels = new Uint8Array(16); labels[0] = 0b100010; labels[15] = 0x80;
    const r = run({ output: 'labels' }, entryMessage({ proto: 'udp', src: '1.2.3.4', dst: '5.6.7.8', sport: 1, dport: 2, timeout: 1, labels }));
    assert.ok(r.lines[0].endsWith('use=1 labels=1,5,127'), r.lines[0]);
    const plain = run({}, entryMessage({ proto: 'udp', src: '1.2.3.4', dst: '5.6.7.8', sport: 1, dport: 2, timeout: 1, labels }));
    assert.ok(plain.lines[0].endsWith('use=1'), 'conntrack prints no labels without a connlabel map');
  });

  test('json: every field', () => {
    const labels = new Uint8Array(16); labels[0] = 2;
    const r = run({ output: 'json' }, entryMessage({
      proto: 'tcp', src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 443, timeout: 300, tcpState: TCP.ESTABLISHED, tcpWscale: [7, 8],
      status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED, mark: 42, zone: 4097, use: 3, id: 4000000000, secmark: 5,
      counters: { orig: [10n, 1000n], reply: [20n, 2000n] }, timestamp: { start: 1700000000000000000n, stop: 1700000001000000000n },
      labels, helper: 'sip"x', secctx: 'ctx\\y',
      master: { src: '2001:db8::9', dst: '2001:db8::8', sport: 5060, dport: 5060 },
    }));
    assert.is(r.lines.length, 1);
    const o = JSON.parse(r.lines[0]);
    assert.equal(o, {
      family: 'ipv6', l3num: 10, proto: 'tcp', protonum: 6, timeout: 300, state: 'ESTABLISHED',
      orig: { src: '2001:db8::1', dst: '2001:db8::2', protonum: 6, sport: 1, dport: 443 },
      reply: { src: '2001:db8::2', dst: '2001:db8::1', protonum: 6, sport: 443, dport: 1 },
      master: { src: '2001:db8::9', dst: '2001:db8::8', protonum: 6, sport: 5060, dport: 5060 },
      status: 14, flags: ['SEEN_REPLY', 'ASSURED', 'CONFIRMED'], mark: 42, secmark: 5, zone: 4097, use: 3, id: 4000000000,
      counters: { orig: { packets: 10, bytes: 1000 }, reply: { packets: 20, bytes: 2000 } },
      timestamp: { start: 1700000000000000000, stop: 1700000001000000000 },
      tcp: { wscale_orig: 7, wscale_reply: 8, flags_orig: 0x23, flags_reply: 0x23 },
      labels: [1], helper: 'sip"x', secctx: 'ctx\\y',
    });
  });

  test('json: icmp, zone 0 when CTA_ZONE absent, unknown family fields', () => {
    const r = run({ output: 'json' }, entryMessage({ proto: 'icmp', src: '1.1.1.1', dst: '2.2.2.2', icmpType: 8, icmpCode: 0, icmpId: 77, timeout: 29 }));
    const o = JSON.parse(r.lines[0]);
    assert.is(o.zone, 0);
    assert.equal(o.orig, { src: '1.1.1.1', dst: '2.2.2.2', protonum: 1, type: 8, code: 0, id: 77 });
    assert.equal(o.reply.type, 0);
  });

  test('limit stops the run', () => {
    const specs = Array.from({ length: 10 }, (_, i) => ({ proto: 'udp' as const, src: '1.1.1.1', dst: '2.2.2.2', sport: i + 1, dport: 53, timeout: 5 }));
    const r = new PluginRun(LIST, { limit: 3 }).start();
    assert.is(r.init(), 0);
    assert.is(r.feed(batch(specs)), 1, 'STOP');
    assert.is(r.feed(batch(specs)), 1, 'still STOP');
    r.finish();
    assert.is(r.lines.length, 3);
  });

  test('filters apply to list (proto + dport) and the dump request carries family/proto', () => {
    const specs = [
      { proto: 'tcp' as const, src: '1.1.1.1', dst: '2.2.2.2', sport: 1000, dport: 443, timeout: 5, tcpState: TCP.ESTABLISHED },
      { proto: 'tcp' as const, src: '1.1.1.1', dst: '2.2.2.2', sport: 1001, dport: 80, timeout: 5, tcpState: TCP.ESTABLISHED },
      { proto: 'udp' as const, src: '1.1.1.1', dst: '2.2.2.2', sport: 1002, dport: 443, timeout: 5 },
    ];
    const r = run({ proto: 'tcp', dport: 443, family: 'ipv4' }, batch(specs));
    assert.is(r.lines.length, 1);
    assert.ok(r.lines[0].includes('sport=1000 dport=443'));
    assert.equal(r.dumps, [{ family: 2, protocol: 6, flags: 0, zone: 0, mark: 0, markMask: 0 }]);
  });

  test('events: conntrack -E prefixes, resync flag visible to the plugin', () => {
    const r = new PluginRun(testPluginPath('probe'), {}).start();
    assert.is(r.init(), 0);
    const base = { proto: 'tcp' as const, src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2, timeout: 120, tcpState: TCP.SYN_SENT };
    const ev = batch([
      { ...base, msgFlags: 0x600 },
      { ...base, msgFlags: 0, status: IPS.CONFIRMED | IPS.SEEN_REPLY },
      { ...base, msgType: (1 << 8) | 2, msgFlags: 0 },
    ]);
    const mem = new Uint8Array(r.memory.buffer);
    const ptr = r.exports.ctplug_alloc(ev.length);
    mem.set(ev, ptr);
    assert.is(r.exports.ctplug_on_events(ptr, ev.length, 0), 0);
    const tail = 'tcp      6 120 SYN_SENT src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2';
    assert.equal(r.lines.map((l) => l.slice(0, 10 + tail.length)), [`    [NEW] ${tail}`, ` [UPDATE] ${tail}`, `[DESTROY] ${tail}`]);
    r.output = '';
    assert.is(r.exports.ctplug_on_events(ptr, ev.length, 1), 0);
    assert.is(r.lines[0], 'RESYNC');
  });

  test('subscribe: one request with the filter scope and event kinds; no default dump', () => {
    const r = new PluginRun(testPluginPath('watch'), { zone: 5, proto: 'udp', kinds: ['new', 'destroy'] }).start();
    assert.is(r.init(), 0, JSON.stringify(r.logs));
    assert.equal(r.subscriptions, [{ family: 0, protocol: 17, flags: 1 | 4 | 16, zone: 5, mark: 0, markMask: 0 }]);
    assert.equal(r.dumps, []);
  });

  test('ipv6 text equals glibc inet_ntop for 420 addresses (table from python socket.inet_ntop)', () => {
    const table: [string, string][] = JSON.parse(readFileSync(join(root, 'test', 'plugin', 'ipv6-ntop.json'), 'utf8'));
    const hexToAddr = (h: string) => h.match(/..../g)!.map((w) => parseInt(w, 16).toString(16)).join(':');
    const specs = table.map(([h]) => ({ proto: 'udp' as const, src: hexToAddr(h), dst: '::1', sport: 1, dport: 2, timeout: 1 }));
    const r = run({ output: 'json' }, batch(specs));
    assert.equal(r.lines.map((l) => JSON.parse(l).orig.src), table.map(([, t]) => t));
  });

  test('ipv4 octets and numbers at their widths', () => {
    const r = run({}, batch([
      { proto: 'udp', src: '255.255.255.255', dst: '0.0.0.0', sport: 65535, dport: 0, timeout: 4294967295, mark: 4294967295, use: 1000000000, status: 8 },
      { proto: 'udp', src: '10.100.1.99', dst: '9.99.100.200', sport: 9, dport: 10, timeout: 0, mark: 99, use: 100, status: 8 },
    ]));
    assert.equal(r.lines, [
      'udp      17 4294967295 src=255.255.255.255 dst=0.0.0.0 sport=65535 dport=0 [UNREPLIED] src=0.0.0.0 dst=255.255.255.255 sport=0 dport=65535 mark=4294967295 use=1000000000',
      'udp      17 0 src=10.100.1.99 dst=9.99.100.200 sport=9 dport=10 [UNREPLIED] src=9.99.100.200 dst=10.100.1.99 sport=10 dport=9 mark=99 use=100',
    ]);
  });

  test('events plugin: subscribe request, conntrack -E lines, JSON event field, resync entries', () => {
    const EVENTS = pluginPath('events');
    const r = new PluginRun(EVENTS, { kinds: ['new', 'destroy'], proto: 'tcp', zone: 3 }).start();
    assert.is(r.init(), 0, JSON.stringify(r.logs));
    assert.equal(r.subscriptions, [{ family: 0, protocol: 6, flags: 1 | 4 | 16, zone: 3, mark: 0, markMask: 0 }]);
    assert.equal(r.dumps, [], 'no dump: events only');
    const base = { proto: 'tcp' as const, src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2, timeout: 120, tcpState: TCP.SYN_SENT, zone: 3 };
    const ev = batch([{ ...base, msgFlags: 0x600 }, { ...base, zone: 4, msgFlags: 0x600 }, { ...base, msgType: (1 << 8) | 2, msgFlags: 0 }]);
    const ptr = r.exports.ctplug_alloc(ev.length);
    new Uint8Array(r.memory.buffer).set(ev, ptr);
    assert.is(r.exports.ctplug_on_events(ptr, ev.length, 0), 0);
    const tail = 'tcp      6 120 SYN_SENT src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 zone=3 use=1';
    assert.equal(r.lines, [`    [NEW] ${tail}`, `[DESTROY] ${tail}`]);
    r.output = '';
    assert.is(r.feed(batch([base]), 1), 0);
    assert.equal(r.lines, [tail], 'resync entries print as conntrack -L lines');
    const j = new PluginRun(EVENTS, { output: 'json' }).start();
    assert.is(j.init(), 0);
    const p2 = j.exports.ctplug_alloc(ev.length);
    new Uint8Array(j.memory.buffer).set(ev, p2);
    j.exports.ctplug_on_events(p2, ev.length, 0);
    j.feed(batch([base]), 1);
    assert.equal(j.lines.map((l) => JSON.parse(l).event), ['new', 'new', 'destroy', 'resync']);
    assert.is(JSON.parse(j.lines[3]).family, 'ipv4');
  });

  test('bad output value fails init with a logged reason', () => {
    for (const output of ['bogus', 'save,id', 'json,extended']) {
      const r = new PluginRun(LIST, { output }).start();
      assert.is(r.init(), -1, output);
      assert.ok(r.logs.some((l) => l.level === 0 && /unknown output|cannot be combined/.test(l.msg)), JSON.stringify(r.logs));
    }
  });

  // The formats below are compared with conntrack itself by the parity cases (test/parity/cases/outputs.ts);
  // these pin them without root.
  const NATTED = {
    proto: 'tcp' as const, src: '10.4.0.1', dst: '203.0.113.1', sport: 1000, dport: 80, timeout: 7, tcpState: TCP.ESTABLISHED, zone: 9, mark: 5, id: 42,
    status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED | IPS.SRC_NAT | 128 /* SRC_NAT_DONE */,
    reply: { src: '203.0.113.1', dst: '198.51.100.1', sport: 80, dport: 1000 },
  };

  test('save: the -A line that makes the entry again (no mark, as conntrack); -D for a deleted one (match plugin)', () => {
    const r = run({ output: 'save' }, entryMessage(NATTED));
    assert.equal(r.lines, ['-A -t 7 -u SEEN_REPLY,ASSURED -w 9 -s 10.4.0.1 -d 203.0.113.1 -r 203.0.113.1 -n 198.51.100.1 -p tcp --sport 1000 --dport 80 --reply-port-src 80 --reply-port-dst 1000 --state ESTABLISHED']);
    const d = new PluginRun(pluginPath('match'), { action: 'delete', proto: 'tcp', output: 'save' }).run(entryMessage(NATTED));
    assert.ok(d.lines[0].startsWith('-D -t 7 -u SEEN_REPLY,ASSURED -w 9 '), d.lines[0]);
  });

  test('xml: header, one <flow> line per entry, footer; nothing at all for no entry', () => {
    const r = run({ output: 'xml' }, entryMessage(NATTED));
    assert.equal(r.lines, [
      '<?xml version="1.0" encoding="utf-8"?>', '<conntrack>',
      '<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>10.4.0.1</src><dst>203.0.113.1</dst></layer3>' +
      '<layer4 protonum="6" protoname="tcp"><sport>1000</sport><dport>80</dport></layer4></meta>' +
      '<meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>203.0.113.1</src><dst>198.51.100.1</dst></layer3>' +
      '<layer4 protonum="6" protoname="tcp"><sport>80</sport><dport>1000</dport></layer4></meta>' +
      '<meta direction="independent"><state>ESTABLISHED</state><timeout>7</timeout><mark>5</mark><zone>9</zone><use>1</use><id>42</id><assured/></meta></flow>',
      '</conntrack>',
    ]);
    assert.equal(run({ output: 'xml' }).lines, []);
  });

  test('ktimestamp: start and stop in the local time the host hands over (utc_offset)', () => {
    const spec = { proto: 'udp' as const, src: '1.2.3.4', dst: '5.6.7.8', sport: 1, dport: 2, timeout: 1, timestamp: { start: 1_000_000_000_000n, stop: 1_000_000_000_000n + 86_400_000_000_000n * 40n } };
    const r = run({ output: 'ktimestamp', utc_offset: 3600 }, entryMessage(spec));
    // 1000 s after the epoch is 01:16:40 at UTC+1, a Thursday; 40 days later, Feb 10
    assert.match(r.lines[0], / \[start=Thu Jan  1 01:16:40 1970\] \[stop=Tue Feb 10 01:16:40 1970\] /);
  });
}

test.run();
