// sdk/filters.json, the one definition of the filter keys, and what follows from it: the CLI's
// filter flags and their translation to plugin config / kernel filter / grant, the SDK's generated
// parser, and the README table. No root, no kernel.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMANDS, OPTIONS, parseArgs } from '../../host/cli/args.js';
import { filterFromFlags } from '../../host/cli/filter.js';
import { FILTER_ROWS, FLAG_ROWS, type Kind } from '../../host/cli/filter-table.js';
import { IPPROTO } from '../../host/conntrack/constants.js';
import { CtError } from '../../host/conntrack/errors.js';
// @ts-expect-error: plain ESM script without typings
import { loadTable, readmeBlock } from '../../scripts/gen-filters.mjs';

const source = readFileSync('sdk/filters.json', 'utf8');

test('the README table is the one gen-filters.mjs makes from sdk/filters.json', () => {
  const readme = readFileSync('README.md', 'utf8');
  const block = readmeBlock(loadTable());
  const start = readme.indexOf(block.split('\n')[0]);
  const end = readme.indexOf('<!-- filter-keys:end -->');
  assert.ok(start >= 0 && end > start, 'README.md has the filter-keys markers');
  assert.fixture(readme.slice(start, end + '<!-- filter-keys:end -->'.length), block); // else: node scripts/gen-filters.mjs --readme
});

test('sdk/assembly/filter-keys.ts is what gen-filters.mjs generates (and filter.ts has a matcher per key)', () => {
  const r = spawnSync(process.execPath, ['scripts/gen-filters.mjs', '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

test('every flag row is an option, spelled as the table spells it, of exactly the commands its verbs name', () => {
  for (const row of FLAG_ROWS) {
    assert.equal(OPTIONS[row.opt], row.cli);
    for (const verb of ['list', 'delete', 'update', 'events', 'flush', 'count'] as const) {
      // update takes -m, -u and --state as new values, not as filters
      if (verb === 'update' && (row.key === 'mark' || row.key === 'status' || row.key === 'state')) continue;
      assert.is(COMMANDS[verb].options.includes(row.opt), row.verbs.includes(verb), `${verb} ${row.key}`);
    }
    for (const long of row.cli.long) assert.equal(parseArgs([row.verbs[0], `--${long}`, 'v']).opts, { [row.opt]: 'v' });
    if (row.cli.short) assert.equal(parseArgs([row.verbs[0], `-${row.cli.short}v`]).opts, { [row.opt]: 'v' });
  }
});

test('no two options share a spelling', () => {
  const longs = Object.values(OPTIONS).flatMap((o) => o.long);
  const shorts = Object.values(OPTIONS).flatMap((o) => (o.short ? [o.short] : []));
  assert.is(new Set(longs).size, longs.length);
  assert.is(new Set(shorts).size, shorts.length);
});

/** A valid flag value of each kind. */
const SAMPLE: Record<Kind, string> = {
  family: 'ipv6', protocol: 'udp', cidr: '2001:db8::/32', port: '53', zone: '7', u8: '8', u16: '1000', u32: '5', mask: '255',
  mark: '0x10/0xff', 'tcp-state': 'established', status: 'ASSURED', label: '3', seconds: '10',
};

test('each filter flag becomes its config key, and its kernel filter / grant where the row says so', () => {
  for (const row of FLAG_ROWS) {
    // A protocol's own fields need -p: what -p alone derives is not the row's.
    const proto = row.protocols ? { proto: row.protocols[0] } : {};
    const base = filterFromFlags(proto);
    const f = filterFromFlags({ ...proto, [row.opt]: SAMPLE[row.kind] });
    assert.ok(f.config[row.key] !== undefined, row.key);
    assert.not.ok(f.empty, row.key);
    assert.is(Object.keys(f.kernel).length > Object.keys(base.kernel).length, row.kernel, `${row.key}: kernel`);
    if (row.kind !== 'protocol') assert.is(Object.keys(f.scope).length > Object.keys(base.scope).length, row.scope, `${row.key}: scope`);
  }
});

test('kernel and grant rows are of the kinds the host can narrow; protocol rows name known protocols', () => {
  for (const row of FILTER_ROWS) {
    if (row.kernel) assert.ok(['family', 'zone', 'mark'].includes(row.kind), row.key);
    if (row.scope) assert.ok(['family', 'protocol', 'zone', 'mark'].includes(row.kind), row.key);
    for (const p of row.protocols ?? []) assert.ok(p in IPPROTO, `${row.key}: ${p}`);
  }
});

test('a bad value is a usage error from the kind\'s validator', () => {
  for (const [opts, text] of [[{ zone: '70000' }, 'zone'], [{ origZone: 'x' }, 'orig-zone'], [{ sport: '70000' }, 'source port'], [{ replySrc: '10.0.0.300' }, 'reply source address']] as const) {
    assert.throws(() => filterFromFlags(opts), (e: CtError) => e.kind === 'usage' && e.message.includes(text), text);
  }
});

test('gen-filters.mjs refuses a table with a broken row', () => {
  const broken: [string, (t: any) => void, RegExp][] = [
    ['flush without a kernel filter', (t) => t.keys.state.verbs.push('flush'), /flush filters in the kernel only/],
    ['a spelling twice', (t) => t.keys.dst.cli.long.push('src'), /--src is also src's/],
    ['an unknown kind', (t) => (t.keys.id.kind = 'ids'), /unknown kind "ids"/],
    ['a flag without verbs', (t) => delete t.keys.state.verbs, /come together/],
    ['"with" naming nothing', (t) => (t.keys.mark_mask.with = 'marks'), /"with" names no key/],
  ];
  assert.ok(loadTable(source));
  for (const [what, edit, message] of broken) {
    const t = JSON.parse(source);
    edit(t);
    assert.throws(() => loadTable(JSON.stringify(t)), message, what);
  }
});

test.run();
