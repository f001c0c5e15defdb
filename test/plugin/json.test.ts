// The SDK's JSON config reader (sdk/assembly/json.ts), through the probe plugin's
// "echo-config" mode (prints the parsed config re-serialised), and the WASI build's console.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PluginRun, testPluginPath, built } from './harness.js';
import { entryMessage } from '../helpers/ctmsg.js';

const PROBE = testPluginPath('probe');
const echo = (text: string) => {
  const r = new PluginRun(PROBE, text).start();
  const st = r.init();
  return { st, out: r.output.trim(), logs: r.logs.map((l) => l.msg) };
};

if (!built(PROBE)) {
  console.log('SKIP json tests: dist/test-plugins/probe.wasm missing');
  test.skip('probe built', () => {});
} else {
  test('valid documents round-trip', () => {
    for (const doc of [
      { mode: 'echo-config' },
      { mode: 'echo-config', a: [1, -2, 3.5, 1e3, true, false, null, 'x'], b: { c: { d: [] } }, e: {} },
      { mode: 'echo-config', s: 'quote " backslash \\ slash / tab \t nl \n ctl \u0001 é € 😀' },
      { mode: 'echo-config', big: 4294967295, neg: -4294967296, zero: 0 },
    ]) {
      const r = echo(JSON.stringify(doc));
      assert.is(r.st, 0, JSON.stringify(r.logs));
      assert.equal(JSON.parse(r.out), doc);
    }
  });

  test('typed config getters: integers, arrays of integers and of strings', () => {
    const got = (cfg: object) => JSON.parse(echo(JSON.stringify({ mode: 'getters', ...cfg })).out);
    assert.equal(got({ i: 7, is: [1, -2, 3], ss: ['a', 'b'] }), { int: 7, ints: [1, -2, 3], strings: ['a', 'b'] });
    assert.equal(got({ i: 5, is: 4, ss: 'one' }), { int: 5, ints: [4], strings: ['one'] }, 'one value is an array of one');
    assert.equal(got({ i: 1.5, is: [1, 2.5], ss: ['a', 1] }), { int: -1, ints: null, strings: null }, 'a fraction or a wrong item is refused');
    assert.equal(got({ i: '7', is: 'x', ss: { a: 1 } }), { int: -1, ints: null, strings: null });
    assert.equal(got({}), { int: -1, ints: null, strings: null });
  });

  test('JsonWriter: commas, nesting, escapes, UTF-8, numbers', () => {
    const s = 'quote " backslash \\ tab \t nl \n ctl \u0001 é € 😀 lone \ud800 end';
    const r = echo(JSON.stringify({ mode: 'json-writer', s }));
    assert.is(r.st, 0, JSON.stringify(r.logs));
    assert.equal(JSON.parse(r.out), { s, n: 1.5, big: 18446744073709551615, neg: -42, nested: [[], {}, [1, { a: null }]], t: true, f: false, nan: null });
    assert.match(r.out, /"big":18446744073709551615,/, 'u64 exactly');
  });

  test('whitespace, escapes and duplicate keys (last wins)', () => {
    const r = echo(' \n\t{ "mode" : "echo-config" , "k":"\\u0041\\u00e9\\ud83d\\ude00\\/", "d": 1, "d": 2 }\r\n ');
    assert.is(r.st, 0);
    const o = JSON.parse(r.out);
    assert.is(o.k, 'Aé😀/');
    assert.is(o.d, 2);
  });

  test('Plugin.config after init (the SDK dropped the parsed tree) is the same document', () => {
    for (const text of [JSON.stringify({ mode: 'echo-config', id: Array.from({ length: 1000 }, (_, i) => i * 3), o: { x: 'é' } }), '{"mode":"echo-config"}']) {
      const r = new PluginRun(PROBE, text).start();
      assert.is(r.init(), 0);
      r.finish();
      const [atInit, afterInit] = r.output.trim().split('\n');
      assert.equal(JSON.parse(afterInit), JSON.parse(text));
      assert.is(afterInit, atInit);
    }
  });

  test('empty config means {}', () => {
    const r = new PluginRun(PROBE, '').start();
    assert.is(r.init(), 0);
  });

  test('invalid documents fail init with a reason and an offset', () => {
    for (const bad of ['{', '{"a":}', '{"a" 1}', '{"a":1,}', '[1,]', '{"a":1} x', '"\\x"', '"abc', '{"a":"\u0001"}',
      'tru', 'nul', '-', '1.', '1e', '01x', '{a:1}', "{'a':1}", '"\\u12G4"', '['.repeat(40) + ']'.repeat(40)]) {
      const r = echo(bad);
      assert.is(r.st, -1, bad);
      assert.ok(r.logs.some((l) => l.startsWith('config is not valid JSON: ') && / at offset \d+$/.test(l)), `${bad}: ${JSON.stringify(r.logs)}`);
    }
  });

  test('WASI build: console.log / console.error reach fd 1 / fd 2', () => {
    const p = testPluginPath('hello');
    if (!built(p)) return;
    const r = new PluginRun(p, { x: 1 }).start();
    assert.is(r.init(), 0);
    r.feed(entryMessage({ proto: 'udp', src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2, timeout: 3 }));
    r.finish();
    assert.is(r.stdout, 'hello from wasi init, config {"x":1}\nError: console.error goes to stdout in wasi-shim\nhello saw 1 entries\n');
    assert.is(r.stderr, 'hello on stderr\n');
  });
}

test.run();
