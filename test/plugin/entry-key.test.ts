// `ctplug update` matches the match plugin's JSON to the kernel's bytes by entry key (id, zone,
// original tuple; host/cli/entry-key.ts). For every entry of the recorded real-kernel dumps the
// two sides must give the same key, and two entries that share an id must not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { entryKey, jsonKey } from '../../host/cli/entry-key.js';
import { scanEntry } from '../../host/conntrack/scope.js';
import { batch } from '../helpers/ctmsg.js';
import { PluginRun, built, pluginPath, root, splitMsgs } from './harness.js';

const LIST = pluginPath('list');
const dir = join(root, 'test', 'fixtures');
const variants = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4)) : [];
const kernelKey = (m: Uint8Array) => {
  const s = scanEntry(m)!;
  return entryKey(s.id!, s.zone, s.origTuple);
};

if (!built(LIST) || variants.length === 0) {
  console.log('SKIP test/plugin/entry-key.test.ts: dist/plugins/list.wasm or test/fixtures/*.bin missing');
  test.skip('entry keys', () => {});
} else {
  for (const v of variants) {
    test(`${v}: the JSON the plugin printed and the kernel's bytes give the same key for every entry`, () => {
      const bin = new Uint8Array(readFileSync(join(dir, `${v}.bin`)));
      const msgs = splitMsgs(bin);
      const json = new PluginRun(LIST, { output: 'json' }).run(bin).lines.map((l) => JSON.parse(l));
      assert.is(json.length, msgs.length);
      const families = new Set(json.map((j) => `${j.family}/${j.proto}`));
      assert.ok(families.has('ipv6/icmpv6') && families.has('ipv4/icmp') && families.has('ipv4/tcp'), [...families].join(' '));
      assert.equal(json.map(jsonKey), msgs.map(kernelKey));
      assert.is(new Set(msgs.map(kernelKey)).size, msgs.length);
    });
  }

  test('GRE (keys, not ports, in the JSON) and a directional zone give the same key on both sides', () => {
    const bin = batch([
      { proto: 'gre', src: '10.0.0.1', dst: '10.0.0.2', sport: 0x1234, dport: 0xabcd, timeout: 60, id: 1 },
      { proto: 'udp', src: '2001:db8::1', dst: '::ffff:10.0.0.9', sport: 1, dport: 2, timeout: 60, origZone: 5, id: 2 },
      { proto: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 3, dport: 4, timeout: 60, zone: 7, id: 3 },
    ]);
    const msgs = splitMsgs(bin);
    const json = new PluginRun(LIST, { output: 'json' }).run(bin).lines.map((l) => JSON.parse(l));
    assert.ok('srckey' in json[0].orig, JSON.stringify(json[0]));
    assert.equal(json.map(jsonKey), msgs.map(kernelKey));
  });

  test('two entries with the same id (a hash collision) keep different keys', () => {
    const msgs = splitMsgs(new Uint8Array(readFileSync(join(dir, `${variants[0]}.bin`))));
    const [a, b] = [msgs[0].slice(), msgs[1].slice()];
    const sa = scanEntry(a)!, sb = scanEntry(b)!;
    b.set(a.subarray(sa.idOffset + 4, sa.idOffset + 8), sb.idOffset + 4); // b gets a's CTA_ID value
    assert.is(scanEntry(b)!.id, sa.id);
    assert.is.not(kernelKey(a), kernelKey(b));
    const ja = JSON.parse(new PluginRun(LIST, { output: 'json' }).run(a).lines[0]);
    assert.is(jsonKey(ja), kernelKey(a));
  });
}

test.run();
