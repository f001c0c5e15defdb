// conntrack parity (issue 16): every case of test/parity/cases on twin namespaces, conntrack 1.4.7
// in one and ctplug with the same arguments in the other. A `same` case must be identical (stdout,
// summary line, exit code as mapped in test/parity/normalize.ts, the tables afterwards); a
// `differs` case must show ctplug's documented behaviour and conntrack's; a `todo` case (parity not
// built yet) is not a test: it runs nowhere here and is listed on a TODO line naming its issue item
// (a skip would hide a broken environment, so CI=true fails on skips). All cases, todo included:
//   node --import ./scripts/ts-register.mjs test/parity/run.ts --report
import * as assert from 'uvu/assert';
import { ITEMS, type Case } from '../parity/case.js';
import { CASES } from '../parity/cases/index.js';
import { describeResult, runCases, tally, type Result } from '../parity/run.js';
import { bundledCli } from '../helpers/cli.js';
import { kernelSuite } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('conntrack parity (twin namespaces, conntrack 1.4.7 as the oracle)', 'test/integration/parity.test.ts');
const cli = bundledCli('parity-test');
const results = new Map<Case, Result>();
const asserted = CASES.filter((c) => c.status !== 'todo');

if (!skip) {
  t.before(async () => {
    await cli.build();
    const t0 = Date.now();
    for (const r of await runCases(asserted, cli.entry, { lanes: Number(process.env.PARITY_LANES ?? 3) })) results.set(r.case, r);
    const n = tally([...results.values()]);
    process.stdout.write(`parity: ${n.run} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${n.identical} identical, ${n.documented} deliberately different, ${n.failed.length} not as they should be; ${CASES.length - asserted.length} todo\n`);
    // A case that passed only on its second run says so, on the line CI shows.
    for (const r of n.flaky) process.stdout.write(`FLAKY parity case, passed on its second run: ${describeResult(r).replace(/\n\s*/g, ' | ')}\n`);
  });
  t.after(() => cli.remove());
}

for (const c of CASES) {
  if (c.status === 'todo') {
    if (!skip) process.stdout.write(`TODO parity #${c.item} (${ITEMS[c.item!].split(' (')[0]}): ${c.name.length > 110 ? `${c.name.slice(0, 107)}...` : c.name}\n`);
    continue;
  }
  it(`${c.status}: ${c.name}`, () => {
    const r = results.get(c);
    assert.ok(r, 'the case did not run');
    if (r.diffs.length) assert.unreachable(describeResult(r));
  });
}

t.run();
