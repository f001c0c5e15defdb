// Fuzzing the SDK parser inside Wasm with mutated real dump buffers. The probe plugin parses
// every field and renders it (JSON and extended text). Oracles: it never traps, and it behaves
// identically whatever lies after its input in memory (two poisons), i.e. it reads nothing
// outside the bytes it was given. It may reject (skip) malformed entries.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../../host/paths.js';
import { PluginRun, built, testPluginPath } from '../plugin/harness.js';
import { ITERATIONS, Rng, mutate, regressionInputs, seeds } from './mutate.js';

const PROBE = testPluginPath('probe');
const CAP = 16 * 1024;
const POISON_A = new Uint8Array(8);
// Plausible attributes of every type carrying 0xdeadbeef: a parser reading past its input would
// pick these up and print them.
const POISON_B = (() => {
  const b = new Uint8Array(8 * 30);
  for (let k = 0; k < 30; k++) b.set([8, 0, k + 1, k % 2 ? 0x80 : 0, 0xde, 0xad, 0xbe, 0xef], k * 8);
  return b;
})();

function start(): PluginRun {
  const r = new PluginRun(PROBE, { mode: 'both' }).start();
  assert.is(r.init(), 0);
  return r;
}

if (!built(PROBE)) {
  console.log('SKIP test/fuzz/sdk.test.ts: dist/test-plugins/probe.wasm is not built (npm test builds it; or node scripts/build-plugins.mjs --fixtures)');
  test.skip('SDK parser fuzz', () => {});
} else {
  test(`SDK parser in Wasm: ${ITERATIONS} mutated inputs, no trap, no read outside the input`, () => {
    const base = seeds().filter((s) => s.length <= CAP);
    const rng = new Rng(0xc0ffee);
    let a = start(), b = start();
    let crashes = 0;
    const t0 = Date.now();
    const inputs = function* () {
      for (const r of regressionInputs('sdk')) yield { kind: 'regression', data: r };
      for (let i = 0; i < ITERATIONS; i++) yield mutate(rng, base[rng.below(base.length)], base[rng.below(base.length)]);
    };
    let i = 0;
    for (const { kind, data } of inputs()) {
      i++;
      const d = data.length > CAP ? data.subarray(0, CAP) : data;
      a.output = b.output = '';
      let problem = '';
      try {
        const ra = a.feed(d, 0, CAP, POISON_A);
        const rb = b.feed(d, 0, CAP, POISON_B);
        if (ra !== rb) problem = `status differs: ${ra} vs ${rb}`;
        else if (a.output !== b.output) problem = 'output depends on bytes past the input';
        else if (/3735928559|222\.173\.190\.239|dead:beef/.test(b.output)) problem = 'poison leaked into the output';
      } catch (e) {
        problem = `trap: ${(e as Error).message}`;
        a = start(); // a trapped instance is not reused
        b = start();
      }
      if (problem) {
        crashes++;
        const file = join(packageRoot(), 'test', 'fuzz', 'regressions', `sdk-${i}.bin`);
        writeFileSync(file, d);
        console.error(`input ${i} (${kind}): ${problem}; saved to ${file}`);
      }
    }
    console.log(`fuzz sdk: ${i} inputs in ${Date.now() - t0} ms, ${crashes} failures`);
    assert.is(crashes, 0);
  });
}

test.run();
