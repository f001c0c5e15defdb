// match / purge-remote / stale: conntrack-CLI filter semantics, deletes handed back as the
// exact messages (one delete call per batch), dump requests pushed down to the kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PluginRun, pluginPath, testPluginPath, built, splitMsgs } from './harness.js';
import { batch, IPS, TCP, type EntrySpec } from '../helpers/ctmsg.js';

const MATCH = pluginPath('match'), PURGE = pluginPath('purge-remote'), STALE = pluginPath('stale');
const C = IPS.CONFIRMED;

// A small table; `tag` goes into sport so assertions can name entries.
const table: (EntrySpec & { tag: string })[] = [
  { tag: 'a', proto: 'tcp', src: '10.0.0.1', dst: '192.0.2.10', sport: 1001, dport: 443, timeout: 400000, tcpState: TCP.ESTABLISHED, status: C | IPS.SEEN_REPLY | IPS.ASSURED, zone: 5, mark: 0x10 },
  { tag: 'b', proto: 'tcp', src: '10.0.0.2', dst: '192.0.2.10', sport: 1002, dport: 80, timeout: 100, tcpState: TCP.TIME_WAIT, status: C | IPS.SEEN_REPLY | IPS.ASSURED, zone: 5, mark: 0x11 },
  { tag: 'c', proto: 'udp', src: '10.0.0.3', dst: '198.51.100.7', sport: 1003, dport: 53, timeout: 5, status: C, zone: 0 },
  { tag: 'd', proto: 'udp', src: '10.0.0.4', dst: '198.51.100.7', sport: 1004, dport: 53, timeout: 170, status: C | IPS.SEEN_REPLY, zone: 6 },
  { tag: 'e', proto: 'icmp', src: '10.0.0.5', dst: '203.0.113.1', icmpType: 8, icmpCode: 0, icmpId: 1005, timeout: 20, status: C, zone: 0 },
  { tag: 'f', proto: 'tcp', src: '2001:db8::5', dst: '2001:db8:1::7', sport: 1006, dport: 22, timeout: 60, tcpState: TCP.SYN_SENT, status: C, zone: 5 },
  // NATed: reply comes from a different address than the original destination
  { tag: 'g', proto: 'tcp', src: '10.0.0.7', dst: '198.51.100.99', sport: 1007, dport: 8080, timeout: 300, tcpState: TCP.ESTABLISHED, status: C | IPS.SEEN_REPLY | IPS.DST_NAT,
    reply: { src: '172.16.0.9', dst: '10.0.0.7', sport: 80, dport: 1007 }, zone: 6 },
];
const tagOfSport = (sport: number) => table.find((t) => (t.sport ?? t.icmpId) === sport)!.tag;
const specs = table.map(({ tag, ...s }) => s);
const whole = batch(specs);

function sportOf(msg: Uint8Array): number {
  // re-parse with the list renderer would be circular; find the first sport / icmp id attr instead
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  for (let p = 20; p + 4 <= msg.length; p += 2) {
    const len = v.getUint16(p, true), type = v.getUint16(p + 2, true) & 0x3fff;
    if (len === 6 && (type === 2 || type === 4) && p > 40) return v.getUint16(p + 4, false);
  }
  return -1;
}

function tagsOut(r: PluginRun): string {
  return r.lines.map((l) => {
    const m = /sport=(\d+)/.exec(l) ?? / id=(\d+) /.exec(l);
    return m ? tagOfSport(Number(m[1])) : '?';
  }).join('');
}

const matchTags = (config: object) => tagsOut(new PluginRun(MATCH, { action: 'list', ...config }).run(whole));

if (!built(MATCH) || !built(PURGE) || !built(STALE)) {
  console.log('SKIP filter tests: plugins not built (run node scripts/build.mjs plugins)');
  test.skip('plugins built', () => {});
} else {
  test('match list: --state in the table of the configured protocol (tcp, sctp, dccp; TCP without one), GRE keys as ports', () => {
    const rows: (EntrySpec & { tag: string })[] = [
      { tag: 't', proto: 'tcp', src: '10.1.0.1', dst: '10.1.1.1', sport: 2001, dport: 1, tcpState: TCP.ESTABLISHED, timeout: 9 },
      { tag: 'u', proto: 'tcp', src: '10.1.0.2', dst: '10.1.1.1', sport: 2002, dport: 1, tcpState: 9 /* SYN_SENT2 */, timeout: 9 },
      { tag: 's', proto: 'sctp', src: '10.1.0.3', dst: '10.1.1.1', sport: 2003, dport: 1, sctpState: 4 /* ESTABLISHED */, timeout: 9 },
      { tag: 'c', proto: 'sctp', src: '10.1.0.4', dst: '10.1.1.1', sport: 2004, dport: 1, sctpState: 2 /* COOKIE_WAIT */, timeout: 9 },
      { tag: 'g', proto: 'gre', src: '10.1.0.5', dst: '10.1.1.1', sport: 0x10, dport: 0x20, timeout: 9 },
      { tag: 'h', proto: 'gre', src: '10.1.0.6', dst: '10.1.1.1', sport: 5, dport: 6, timeout: 9 },
    ];
    const msgs = batch(rows.map(({ tag, ...r }) => r));
    const tags = (config: object) => new PluginRun(MATCH, { action: 'list', ...config }).run(msgs).lines
      .map((l) => rows.find((r) => l.includes(`src=${r.src} `))!.tag).join('');
    assert.is(tags({ state: 'ESTABLISHED' }), 't'); // no proto: TCP's, as before
    assert.is(tags({ proto: 'sctp', state: 'ESTABLISHED' }), 's');
    assert.is(tags({ proto: 'sctp', state: ['COOKIE_WAIT', 'established'] }), 'sc');
    assert.is(tags({ proto: ['tcp', 'sctp'], state: 'ESTABLISHED' }), 'ts');
    assert.is(tags({ proto: 'tcp', state: 'LISTEN' }), 'u'); // conntrack's other name for SYN_SENT2
    assert.is(tags({ proto: 'gre', sport: 16 }), 'g'); // --srckey 0x10
    assert.is(tags({ proto: 'gre', dport: 6 }), 'h');
    assert.is(tags({ proto: 'gre', reply_sport: 0x20 }), 'g');
  });

  test('match list: secmark (absent is 0, as the kernel leaves CTA_SECMARK out for 0) and id', () => {
    const rows: (EntrySpec & { tag: string })[] = [
      { tag: 'n', proto: 'udp', src: '10.2.0.1', dst: '10.2.1.1', sport: 1, dport: 2, timeout: 9, id: 11 },
      { tag: 'f', proto: 'udp', src: '10.2.0.2', dst: '10.2.1.1', sport: 1, dport: 2, timeout: 9, secmark: 5, id: 12 },
    ];
    const msgs = batch(rows.map(({ tag, ...r }) => r));
    const tags = (config: object) => new PluginRun(MATCH, { action: 'list', ...config }).run(msgs).lines
      .map((l) => rows.find((r) => l.includes(`src=${r.src} `))!.tag).join('');
    assert.is(tags({ secmark: 0 }), 'n');
    assert.is(tags({ secmark: 5 }), 'f');
    assert.is(tags({ secmark: [0, 5] }), 'nf');
    assert.is(tags({ secmark: 6 }), '');
    assert.is(tags({ id: 12 }), 'f');
  });

  test('match list: NAT filters (src_nat, dst_nat, any_nat), bare or to an address[:port], as conntrack -n/-g/-j', () => {
    const SNAT = IPS.SRC_NAT | (1 << 7), DNAT = IPS.DST_NAT | (1 << 8);
    const rows: (EntrySpec & { tag: string })[] = [
      { tag: 's', proto: 'tcp', src: '10.4.0.1', dst: '203.0.113.1', sport: 1000, dport: 80, status: C | SNAT, reply: { src: '203.0.113.1', dst: '198.51.100.1', sport: 80, dport: 1000 } },
      { tag: 'p', proto: 'udp', src: '10.4.0.2', dst: '203.0.113.1', sport: 1000, dport: 53, status: C | SNAT, reply: { src: '203.0.113.1', dst: '198.51.100.1', sport: 53, dport: 2000 } },
      { tag: 'd', proto: 'tcp', src: '10.4.0.3', dst: '203.0.113.1', sport: 1000, dport: 80, status: C | DNAT, reply: { src: '192.168.1.5', dst: '10.4.0.3', sport: 8080, dport: 1000 } },
      { tag: 'v', proto: 'udp', src: '2001:db8:4::2', dst: '2001:db8:4::99', sport: 1000, dport: 53, status: C | SNAT, reply: { src: '2001:db8:4::99', dst: '2001:db8:4::7', sport: 53, dport: 1000 } },
      { tag: 'w', proto: 'udp', src: '2001:db8:4::3', dst: '2001:db8:4::99', sport: 1000, dport: 53, status: C | SNAT, reply: { src: '2001:db8:4::99', dst: '2001:db8:4::8', sport: 53, dport: 1000 } },
      // a reply tuple given as is: no NAT bits, so no NAT (conntrack: none of -n/-g/-j)
      { tag: 'r', proto: 'udp', src: '10.4.0.7', dst: '203.0.113.1', sport: 1000, dport: 53, status: C, reply: { src: '192.168.7.7', dst: '10.4.0.7', sport: 53, dport: 1000 } },
      { tag: 'n', proto: 'udp', src: '10.4.0.6', dst: '203.0.113.1', sport: 1000, dport: 53, status: C },
    ];
    const msgs = batch(rows.map(({ tag, ...r }) => r));
    const tags = (config: object) => new PluginRun(MATCH, { action: 'list', ...config }).run(msgs).lines
      .map((l) => rows.find((r) => l.includes(`src=${r.src} `))!.tag).join('');
    assert.is(tags({ src_nat: true }), 'spvw');
    assert.is(tags({ dst_nat: true }), 'd');
    assert.is(tags({ any_nat: true }), 'spdvw');
    assert.is(tags({ src_nat: '198.51.100.1' }), 'sp');
    assert.is(tags({ src_nat: '198.51.100.1:2000' }), 'p');
    assert.is(tags({ dst_nat: '192.168.1.5:8080' }), 'd');
    assert.is(tags({ dst_nat: '192.168.1.5:80' }), '');
    assert.is(tags({ src_nat: '2001:db8:4::7' }), 'v'); // conntrack lists w too (it compares IPv4 addresses only)
    assert.is(tags({ src_nat: '[2001:db8:4::8]:1000' }), '');
    assert.is(tags({ any_nat: '192.168.1.5' }), 'd');
    assert.is(tags({ src_nat: false }), 'spdvwrn');
    const bad = new PluginRun(MATCH, { action: 'list', src_nat: '1.2.3.4:99999' }).start();
    assert.is(bad.init(), -1);
  });

  test('match list: single keys', () => {
    assert.is(matchTags({}), 'abcdefg');
    assert.is(matchTags({ proto: 'tcp' }), 'abfg');
    assert.is(matchTags({ proto: ['udp', 'icmp'] }), 'cde');
    assert.is(matchTags({ proto: 1 }), 'e');
    assert.is(matchTags({ family: 'ipv6' }), 'f');
    assert.is(matchTags({ family: 'ipv4' }), 'abcdeg');
    assert.is(matchTags({ src: '10.0.0.0/30' }), 'abc');
    assert.is(matchTags({ src: ['10.0.0.1', '10.0.0.5'] }), 'ae');
    assert.is(matchTags({ dst: '198.51.100.0/24' }), 'cdg');
    assert.is(matchTags({ dst: '2001:db8:1::/48' }), 'f');
    assert.is(matchTags({ reply_src: '172.16.0.9' }), 'g');
    assert.is(matchTags({ reply_dst: '10.0.0.7' }), 'g');
    assert.is(matchTags({ dport: 443 }), 'a');
    assert.is(matchTags({ dport: '1-100' }), 'bcdf');
    assert.is(matchTags({ sport: [1001, '1006-1007'] }), 'afg');
    assert.is(matchTags({ reply_sport: 80 }), 'bg');
    assert.is(matchTags({ zone: 5 }), 'abf');
    assert.is(matchTags({ zone: 0 }), 'ce', 'absent CTA_ZONE is zone 0');
    assert.is(matchTags({ zone: [0, 6] }), 'cdeg');
    assert.is(matchTags({ mark: 16 }), 'a');
    assert.is(matchTags({ mark: '0x10/0xfffffff0' }), 'ab');
    assert.is(matchTags({ state: 'ESTABLISHED' }), 'ag');
    assert.is(matchTags({ state: ['TIME_WAIT', 'SYN_SENT'] }), 'bf');
    assert.is(matchTags({ status: 'ASSURED' }), 'ab');
    assert.is(matchTags({ status: 'SEEN_REPLY,DST_NAT' }), 'g');
    assert.is(matchTags({ status: 'UNREPLIED' }), 'cef');
    assert.is(matchTags({ timeout_lt: 61 }), 'cef');
    assert.is(matchTags({ timeout_gt: 300 }), 'a');
    assert.is(matchTags({ addr: '198.51.100.7' }), 'cd');
  });

  test('match list: keys combine with AND', () => {
    assert.is(matchTags({ proto: 'tcp', zone: 5, dport: '1-1000' }), 'abf');
    assert.is(matchTags({ proto: 'tcp', zone: 5, state: 'ESTABLISHED' }), 'a');
    assert.is(matchTags({ proto: 'udp', status: 'UNREPLIED', timeout_lt: 10 }), 'c');
  });

  test('match: bad config fails init with a clear log line', () => {
    for (const [cfg, needle] of [
      [{ zone: 70000 }, 'zone must be 0..65535'],
      [{ proto: 'tcpp' }, 'unknown protocol'],
      [{ src: '10.0.0.300' }, 'not an address or CIDR'],
      [{ src: '10.0.0.0/33' }, 'not an address or CIDR'],
      [{ family: 'ipv4', src: '2001:db8::1' }, 'does not match family'],
      [{ dport: '80-20' }, 'not a port'],
      [{ state: 'ESTABLISH' }, 'unknown state'],
      [{ proto: 'udp', state: 'ESTABLISHED' }, 'the configured protocols have no states'],
      [{ status: 'ASSURED,BOGUS' }, 'unknown flag'],
      [{ mark: 'x/1' }, 'mark must be'],
      [{ action: 'explode' }, 'action must be'],
      [{ action: 'delete' }, 'refusing to delete every entry'],
      [{ action: 'delete', proto: 'udp', zon: 5 }, 'unknown key "zon"'],
    ] as [object, string][]) {
      const r = new PluginRun(MATCH, cfg).start();
      assert.is(r.init(), -1, JSON.stringify(cfg));
      assert.ok(r.logs.some((l) => l.level === 0 && l.msg.includes(needle)), `${JSON.stringify(cfg)}: ${JSON.stringify(r.logs)}`);
    }
    const r = new PluginRun(MATCH, '{"zone": ').start();
    assert.is(r.init(), -1);
    assert.ok(r.logs.some((l) => l.msg.includes('config is not valid JSON')), JSON.stringify(r.logs));
  });

  test('random configs: init returns OK or E_INVAL with a logged reason, never traps', () => {
    let seed = 99;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const pick = <T>(a: T[]) => a[Math.floor(rnd() * a.length)];
    const keys = ['family', 'proto', 'src', 'dst', 'reply_src', 'reply_dst', 'addr', 'sport', 'dport', 'reply_sport', 'reply_dport',
      'zone', 'orig_zone', 'reply_zone', 'mark', 'mark_mask', 'state', 'status', 'timeout_lt', 'timeout_gt', 'id', 'action', 'print', 'output', 'all', 'bogus'];
    const values = () => pick<unknown>([0, 1, -1, 65535, 65536, 4294967295, 4294967296, 1.5, 1e300, '', 'tcp', 'ipv6', '10.0.0.0/8', '::/0', '2001:db8::/129',
      '1-2', '2-1', 'ESTABLISHED', 'ASSURED,UNREPLIED', '0x10/0xff', 'x', true, false, null, [], [1, 'udp'], ['10.0.0.1', '::1'], {}, { a: 1 }, 'delete', 'list', 'json']);
    const rounds = process.env.CTPLUG_LONG === '1' ? 5000 : 400;
    for (let i = 0; i < rounds; i++) {
      const cfg: Record<string, unknown> = {};
      const n = Math.floor(rnd() * 5);
      for (let k = 0; k < n; k++) cfg[pick(keys)] = values();
      const r = new PluginRun(MATCH, cfg).start();
      let st: number;
      try { st = r.init(); } catch (e) { throw new Error(`${JSON.stringify(cfg)} trapped: ${(e as Error).message} ${JSON.stringify(r.logs)}`); }
      assert.ok(st === 0 || st === -1, `${JSON.stringify(cfg)} -> ${st}`);
      if (st === -1) assert.ok(r.logs.some((l) => l.level === 0), `${JSON.stringify(cfg)}: failed without a logged reason`);
      if (st === 0) { r.feed(whole); r.finish(); }
    }
  });

  test('match: dump requests push zone, family, single protocol and mark down to the kernel', () => {
    const r = new PluginRun(MATCH, { zone: [5, 6], family: 'ipv4', proto: 'udp', mark: '0x10/0xf0' }).start();
    assert.is(r.init(), 0);
    assert.equal(r.dumps, [
      { family: 2, protocol: 17, flags: 3, zone: 5, mark: 0x10, markMask: 0xf0 },
      { family: 2, protocol: 17, flags: 3, zone: 6, mark: 0x10, markMask: 0xf0 },
    ]);
    const all = new PluginRun(MATCH, { proto: ['tcp', 'udp'] }).start();
    all.init();
    assert.equal(all.dumps, [{ family: 0, protocol: 0, flags: 0, zone: 0, mark: 0, markMask: 0 }]);
  });

  test('match delete: exact messages back, one delete call per batch, printed like conntrack -D', () => {
    const r = new PluginRun(MATCH, { action: 'delete', zone: 5 }).run(whole, whole);
    assert.is(r.deleteCalls.length, 2, 'one call per batch');
    const expected = [0, 1, 5].map((i) => splitMsgs(whole)[i]);
    const got = r.deleted;
    assert.is(got.length, 6);
    for (let i = 0; i < 3; i++) assert.equal(Array.from(got[i]), Array.from(expected[i]));
    assert.is(r.lines.length, 6);
    assert.ok(r.logs.some((l) => l.msg === '6 flow entries have been deleted.'));
    const quiet = new PluginRun(MATCH, { action: 'delete', zone: 5, print: false }).run(whole);
    assert.is(quiet.output, '');
  });

  test('match delete: a refused delete is logged, the run goes on', () => {
    const r = new PluginRun(MATCH, { action: 'delete', proto: 'udp' });
    r.deleteStatus = () => -4;
    r.run(whole);
    assert.ok(r.logs.some((l) => l.level === 0 && l.msg.includes('delete refused by the host: status -4')), JSON.stringify(r.logs));
  });

  test('match count prints the number only', () => {
    const r = new PluginRun(MATCH, { action: 'count', proto: 'tcp' }).run(whole);
    assert.equal(r.lines, ['4']);
  });

  test('emit E_LIMIT stops the plugin', () => {
    const r = new PluginRun(MATCH, {}).start();
    r.emitStatus = () => -5;
    assert.is(r.init(), 0);
    let st = 0, n = 0;
    while (st === 0 && n < 10000) { st = r.feed(whole); n++; } // output is handed over in chunks
    assert.is(st, 1, 'STOP once output is refused');
    assert.ok(n > 1 && n < 10000);
  });

  test('purge-remote: one address in every tuple position, only in the given zones', () => {
    const r = new PluginRun(PURGE, { addr: '198.51.100.7', zones: [0, 6] }).run(whole);
    assert.equal(r.deleted.map(sportOf).map(tagOfSport), ['c', 'd']);
    const nat = new PluginRun(PURGE, { addr: '172.16.0.9' }).run(whole);
    assert.equal(nat.deleted.map(sportOf).map(tagOfSport), ['g'], 'reply-side (NAT) address');
    const z = new PluginRun(PURGE, { addr: '198.51.100.7', zones: [6] }).run(whole);
    assert.equal(z.deleted.map(sportOf).map(tagOfSport), ['d']);
    const v6 = new PluginRun(PURGE, { addr: ['2001:db8::/64', '10.0.0.5'] }).run(whole);
    assert.equal(v6.deleted.map(sportOf).map(tagOfSport), ['e', 'f']);
    assert.equal(z.dumps.map((d) => [d.flags, d.zone]), [[1, 6]]);
  });

  test('purge-remote: dry run prints and deletes nothing; addr is required', () => {
    const r = new PluginRun(PURGE, { addr: '192.0.2.10', dry_run: true }).run(whole);
    assert.is(r.deleteCalls.length, 0);
    assert.is(r.lines.length, 2);
    const typo = new PluginRun(PURGE, { addr: '10.0.0.1', zone5: 1 }).start();
    assert.is(typo.init(), -1);
    assert.ok(typo.logs.some((l) => l.msg.includes('unknown key "zone5"')));
    const bad = new PluginRun(PURGE, { zones: [1] }).start();
    assert.is(bad.init(), -1);
    assert.ok(bad.logs.some((l) => l.msg.includes('addr is required')));
  });

  test('updates: UpdateRecord + the exact entry message, one update call per batch', () => {
    const REMARK = testPluginPath('remark');
    const r = new PluginRun(REMARK, { match: { zone: 5 }, set_mark: 0x20, set_mask: 0xf0, set_timeout: 30 }).run(whole);
    assert.is(r.updateCalls.length, 1);
    const b = r.updateCalls[0];
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const msgs = splitMsgs(whole);
    const got: number[][] = [];
    for (let at = 0; at < b.length;) {
      got.push([v.getUint32(at, true), v.getUint32(at + 4, true), v.getUint32(at + 8, true), v.getUint32(at + 12, true)]);
      const len = v.getUint32(at + 16, true);
      const msg = b.slice(at + 16, at + 16 + len);
      assert.ok(msgs.some((m) => m.length === msg.length && m.every((x, i) => x === msg[i])), 'entry bytes as delivered');
      at += 16 + ((len + 3) & ~3);
    }
    assert.equal(got, [[3, 0x20, 0xf0, 30], [3, 0x20, 0xf0, 30], [3, 0x20, 0xf0, 30]]);
    const onlyMark = new PluginRun(REMARK, { match: { proto: 'icmp' }, set_mark: 7 }).run(whole);
    const w = new DataView(onlyMark.updateCalls[0].buffer);
    assert.equal([w.getUint32(0, true), w.getUint32(4, true), w.getUint32(8, true)], [1, 7, 0xffffffff]);
  });

  test('create and flush: CreateRecords in one call, flush request', () => {
    const r = new PluginRun(testPluginPath('seed'), {
      create: [
        { proto: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 443, zone: 5, mark: 7, timeout: 120, state: 'ESTABLISHED' },
        { proto: 'icmpv6', src: '2001:db8::1', dst: '2001:db8::2', type: 128, id: 9, timeout: 30 },
        { proto: 'udp', src: '10.0.0.1', dst: '2001:db8::2', sport: 1, dport: 2 },
      ],
      flush_zone: 9,
    }).run();
    assert.is(r.createCalls.length, 1);
    const b = r.createCalls[0];
    assert.is(b.length, 128, 'two records; the mixed-family one refused in the SDK');
    assert.ok(r.logs.some((l) => l.msg.includes('mixed-family destination')));
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    assert.equal([v.getUint8(0), v.getUint8(1), v.getUint8(2), v.getUint8(3), v.getUint16(4, true), v.getUint16(6, true), v.getUint16(8, true), v.getUint32(16, true), v.getUint32(20, true)],
      [2, 6, 3, 3, 5, 1000, 443, 7, 120]);
    assert.equal(Array.from(b.slice(32, 36)), [10, 0, 0, 1]);
    assert.equal(Array.from(b.slice(48, 52)), [10, 0, 0, 2]);
    assert.equal([v.getUint8(64), v.getUint8(65), v.getUint8(67), v.getUint16(64 + 10, true), v.getUint8(64 + 12)], [10, 58, 0, 9, 128]);
    assert.equal(Array.from(b.slice(64 + 32, 64 + 48)), [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.equal(r.flushes, [{ family: 0, protocol: 0, flags: 1, zone: 9, mark: 0, markMask: 0 }]);
  });

  test('stale: unreplied UDP close to expiry; TIME_WAIT; max_deletes; a rule is required', () => {
    const r = new PluginRun(STALE, { proto: 'udp', unreplied: true, timeout_lt: 10 }).run(whole);
    assert.equal(r.deleted.map(sportOf).map(tagOfSport), ['c']);
    const tw = new PluginRun(STALE, { state: ['TIME_WAIT', 'CLOSE'] }).run(whole);
    assert.equal(tw.deleted.map(sportOf).map(tagOfSport), ['b']);
    const na = new PluginRun(STALE, { assured: false, proto: 'tcp' }).run(whole);
    assert.equal(na.deleted.map(sportOf).map(tagOfSport), ['f', 'g']);
    const capped = new PluginRun(STALE, { unreplied: true, max_deletes: 2 }).run(whole);
    assert.is(capped.deleted.length, 2);
    const none = new PluginRun(STALE, { proto: 'udp' }).start();
    assert.is(none.init(), -1);
    assert.ok(none.logs.some((l) => l.msg.includes('at least one staleness rule')));
  });
}

test.run();
