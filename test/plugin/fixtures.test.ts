// Recorded real-kernel dumps (test/fixtures/<variant>.bin, by scripts/record-fixtures.ts)
// through the list plugin, compared line for line with what `conntrack -L`, `-o extended` and
// `-o id` printed for the same table at the same moment.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PluginRun, pluginPath, built, root, splitMsgs } from './harness.js';

const LIST = pluginPath('list');
const dir = join(root, 'test', 'fixtures');
const variants = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4)).sort() : [];
const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);

/** Latest CTA_TIMESTAMP start (seconds) in the dump: conntrack computed delta-time against its clock then. */
function latestStartSeconds(bin: Uint8Array): number {
  let best = 0n;
  for (const m of splitMsgs(bin)) {
    const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
    for (let p = 20; p + 4 <= m.length;) {
      const len = v.getUint16(p, true), type = v.getUint16(p + 2, true) & 0x3fff;
      if (len < 4) break;
      if (type === 20) for (let q = p + 4; q + 12 <= p + len; q += 12) {
        if ((v.getUint16(q + 2, true) & 0x3fff) === 1) { const s = v.getBigUint64(q + 4, false); if (s > best) best = s; }
      }
      p += (len + 3) & ~3;
    }
  }
  return Number(best / 1_000_000_000n);
}

if (!built(LIST) || variants.length === 0) {
  console.log(`SKIP fixture tests: ${built(LIST) ? 'no test/fixtures/*.bin' : 'dist/plugins/list.wasm missing'}`);
  test.skip('fixtures', () => {});
} else {
  for (const v of variants) {
    const bin = new Uint8Array(readFileSync(join(dir, `${v}.bin`)));
    // conntrack's clock when it listed the table (recorded), else the newest flow's start.
    const nowFile = join(dir, `${v}.now`);
    const now = existsSync(nowFile) ? Number(readFileSync(nowFile, 'utf8')) : latestStartSeconds(bin);
    if (existsSync(nowFile)) {
      test(`${v}: the fixture's delta-times differ between entries, so they test the computation`, () => {
        const deltas = new Set(lines(readFileSync(join(dir, `${v}.conntrack-L.txt`), 'utf8')).map((l) => / delta-time=(\d+)/.exec(l)?.[1]));
        assert.ok(deltas.size >= 2 && !deltas.has(undefined) && [...deltas].some((d) => Number(d) > 0), [...deltas].join(','));
      });
    }
    for (const [output, file] of [['text', 'conntrack-L'], ['extended', 'conntrack-L-extended'], ['id', 'conntrack-L-id']]) {
      const expected = join(dir, `${v}.${file}.txt`);
      if (!existsSync(expected)) continue;
      test(`${v}: list output=${output} equals ${v}.${file}.txt`, () => {
        const r = new PluginRun(LIST, now ? { output, now } : { output }).run(bin);
        assert.equal(r.lines, lines(readFileSync(expected, 'utf8')));
      });
    }
    test(`${v}: json has one object per entry with the ids conntrack printed`, () => {
      const r = new PluginRun(LIST, { output: 'json' }).run(bin);
      const ids = lines(readFileSync(join(dir, `${v}.conntrack-L-id.txt`), 'utf8')).map((l) => Number(/ id=(\d+)$/.exec(l)![1]));
      assert.equal(r.lines.map((l) => JSON.parse(l).id), ids);
    });
  }
}

test.run();
