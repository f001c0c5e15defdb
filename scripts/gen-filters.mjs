#!/usr/bin/env node
// Everything that follows from sdk/filters.json, the single definition of the filter keys:
//   sdk/assembly/filter-keys.ts   the SDK's key list, key numbers and config parser (each key parsed by
//                                 its kind's parser in filter-values.ts); generated, never committed
//   expandManifest()              a plugin manifest whose config says "filterKeys": "all" gets the
//                                 table's keys documented in its config (build-plugins.mjs)
//   readmeBlock()                 the README's filter-key table (between its filter-keys markers)
// It also checks the table (kinds, flags, verbs) and that sdk/assembly/filter.ts has a matcher for
// every key, so a row without its matcher fails the build instead of matching everything.
//   node scripts/gen-filters.mjs            write sdk/assembly/filter-keys.ts (only when it changes)
//   node scripts/gen-filters.mjs --check    exit 1 when that file is stale
//   node scripts/gen-filters.mjs --readme   rewrite the README's filter-key table
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tablePath = join(root, 'sdk', 'filters.json');
const outPath = join(root, 'sdk', 'assembly', 'filter-keys.ts');
const valuesPath = join(root, 'sdk', 'assembly', 'filter-values.ts');
const filterPath = join(root, 'sdk', 'assembly', 'filter.ts');
const readmePath = join(root, 'README.md');
const README_START = '<!-- filter-keys:start (generated from sdk/filters.json by node scripts/gen-filters.mjs --readme) -->';
const README_END = '<!-- filter-keys:end -->';

/** The original-tuple fields a row's "tuple" may name (kernel-filter.ts TupleMatch), with the kind that reads them. */
const TUPLE_KINDS = { protocol: 'protocol', src: 'cidr', dst: 'cidr', sport: 'port', dport: 'port' };

/** A Filter's configured keys are bits of a u64. */
const MAX_KEYS = 64;
/** A key's number in filter-keys.ts; filter.ts imports them as K (K.ZONE). */
const constName = (key) => key.toUpperCase();

/** The table, checked; throws with every problem found. */
export function loadTable(text = readFileSync(tablePath, 'utf8')) {
  const t = JSON.parse(text);
  const problems = [];
  const keys = Object.keys(t.keys);
  if (keys.length > MAX_KEYS) problems.push(`${keys.length} keys: a Filter holds at most ${MAX_KEYS}`);
  const longs = new Map(), shorts = new Map();
  for (const [key, row] of Object.entries(t.keys)) {
    const at = `keys.${key}`;
    if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(key)) problems.push(`${at}: a key is snake_case`);
    const kind = t.kinds[row.kind];
    if (!kind) problems.push(`${at}: unknown kind ${JSON.stringify(row.kind)}`);
    if (typeof row.doc !== 'string' || !row.doc) problems.push(`${at}: needs a doc`);
    if (row.with !== undefined) {
      const main = t.keys[row.with];
      if (!main) problems.push(`${at}: "with" names no key`);
      else if (keys.indexOf(row.with) > keys.indexOf(key)) problems.push(`${at}: comes after ${row.with}, which reads it`);
      if (row.cli || row.verbs || row.kernel || row.scope) problems.push(`${at}: a "with" key is read by ${row.with}: no cli, verbs, kernel or scope of its own`);
    }
    if (row.tuple !== undefined && TUPLE_KINDS[row.tuple] !== row.kind) {
      problems.push(`${at}: tuple ${JSON.stringify(row.tuple)} is not an original-tuple field of kind ${row.kind} (${Object.entries(TUPLE_KINDS).map(([f, k]) => `${f}: ${k}`).join(', ')})`);
    }
    if (!!row.cli !== !!row.verbs?.length) problems.push(`${at}: a flag (cli) and the verbs that take it come together`);
    for (const x of row.excludes ?? []) if (!t.keys[x]?.cli) problems.push(`${at}: excludes ${x}, which is no key with a flag`);
    for (const v of row.verbs ?? []) {
      if (!t.verbs.includes(v)) problems.push(`${at}: unknown verb ${v}`);
      if ((v === 'flush' || v === 'count') && !row.kernel) problems.push(`${at}: ${v} filters in the kernel only, and this key has no kernel filter`);
    }
    if (row.cli) {
      for (const l of row.cli.long ?? []) {
        if (longs.has(l)) problems.push(`${at}: --${l} is also ${longs.get(l)}'s`);
        longs.set(l, key);
      }
      if (!row.cli.long?.length) problems.push(`${at}: cli.long needs a name`);
      if (row.cli.short !== undefined) {
        if (shorts.has(row.cli.short)) problems.push(`${at}: -${row.cli.short} is also ${shorts.get(row.cli.short)}'s`);
        shorts.set(row.cli.short, key);
      }
      for (const f of ['value', 'help']) if (typeof row.cli[f] !== 'string') problems.push(`${at}: cli.${f} is required`);
    }
  }
  for (const [name, kind] of Object.entries(t.kinds)) {
    const parsed = Object.values(t.keys).some((r) => r.kind === name && r.with === undefined);
    if (parsed && !/^[a-zA-Z]\w*$/.test(kind.sdk ?? '')) problems.push(`kinds.${name}: sdk names its parser in filter-values.ts`);
    if (kind.max !== undefined && !(Number.isInteger(kind.max) && kind.max > 0 && kind.max <= 0xffffffff)) problems.push(`kinds.${name}: max is a u32`);
  }
  if (problems.length) throw new Error(`sdk/filters.json:\n  ${problems.join('\n  ')}`);
  return t;
}

/** The keys that need a matcher of their own in filter.ts (a "with" key is read by its main key). */
const matched = (t) => Object.keys(t.keys).filter((k) => t.keys[k].with === undefined);

/** sdk/assembly/filter-keys.ts. */
export function sdkSource(t) {
  const keys = Object.keys(t.keys);
  const parsers = [...new Set(Object.values(t.keys).filter((r) => r.with === undefined).map((r) => t.kinds[r.kind].sdk))].sort();
  const out = [];
  const line = (s = '') => out.push(s);
  line('// GENERATED by scripts/gen-filters.mjs from sdk/filters.json. Do not edit; do not commit.');
  line('// Change sdk/filters.json (and the key\'s matcher in filter.ts) and run `node scripts/build.mjs filters`.');
  line('import { JsonValue } from "./json";');
  line(`import { FilterValues, ${parsers.join(', ')} } from "./filter-values";`);
  line();
  line('/** How many filter keys there are: bit ZONE, ... of a Filter\'s key set is that key. */');
  line(`export const FILTER_KEY_COUNT: i32 = ${keys.length};`);
  line();
  line('/** Keys Filter.fromConfig understands (plugins may use others for themselves). */');
  line('export const FILTER_KEYS: StaticArray<string> = [');
  for (let i = 0; i < keys.length; i += 8) line(`  ${keys.slice(i, i + 8).map((k) => JSON.stringify(k)).join(', ')},`);
  line('];');
  line();
  keys.forEach((k, i) => line(`export const ${constName(k)}: i32 = ${i};`));
  line();
  line('/** Reads every filter key of `cfg` into `f`, each by the parser of its kind, in table order. */');
  line('export function parseFilterKeys(f: FilterValues, cfg: JsonValue): void {');
  line('  let v: JsonValue | null;');
  for (const key of keys) {
    const row = t.keys[key];
    if (row.with !== undefined) continue;
    const kind = t.kinds[row.kind];
    const args = ['f', constName(key), JSON.stringify(key), 'v!'];
    if (kind.max !== undefined) args.push(String(kind.max));
    for (const c of keys.filter((c) => t.keys[c].with === key)) args.push(`cfg.get(${JSON.stringify(c)})`, JSON.stringify(c));
    line(`  v = cfg.get(${JSON.stringify(key)}); if (v) ${kind.sdk}(${args.join(', ')});`);
  }
  line('}');
  line();
  return out.join('\n');
}

/** What the generated code relies on in the hand-written SDK: each kind's parser, each key's matcher. */
export function checkSdk(t) {
  const problems = [];
  const values = existsSync(valuesPath) ? readFileSync(valuesPath, 'utf8') : '';
  for (const [name, kind] of Object.entries(t.kinds)) {
    if (kind.sdk !== undefined && !new RegExp(`export function ${kind.sdk}\\(`).test(values)) problems.push(`kind ${name}: sdk/assembly/filter-values.ts exports no ${kind.sdk}()`);
  }
  const filter = existsSync(filterPath) ? readFileSync(filterPath, 'utf8') : '';
  for (const key of matched(t)) {
    if (!filter.includes(`case K.${constName(key)}:`)) problems.push(`key ${key}: sdk/assembly/filter.ts has no matcher (case K.${constName(key)}: in Filter.matchKey)`);
  }
  if (problems.length) throw new Error(`gen-filters: the SDK lacks what sdk/filters.json needs:\n  ${problems.join('\n  ')}`);
}

const flags = (row) => (row.cli ? [row.cli.short && `-${row.cli.short}`, ...row.cli.long.map((l) => `--${l}`)].filter(Boolean) : []);

/** The table's keys as a manifest documents config keys. */
export function manifestProperties(t) {
  const props = {};
  for (const [key, row] of Object.entries(t.keys)) {
    const kind = t.kinds[row.kind];
    const p = { type: kind.json.length === 1 ? kind.json[0] : kind.json };
    if (kind.max !== undefined) Object.assign(p, { minimum: 0, maximum: kind.max });
    const f = flags(row);
    p.doc = `${f.length ? `${f.slice(0, 2).join('/')}: ` : ''}${row.doc}; ${kind.value}`;
    props[key] = p;
  }
  return props;
}

/**
 * A source manifest as built: `"config": {"filterKeys": "all", "properties": {...its own keys}}` gets
 * the table's keys added to its properties (the marker goes). Its own keys must not redefine one.
 */
export function expandManifest(manifest, t = loadTable()) {
  const cfg = manifest.config;
  if (!cfg || cfg.filterKeys === undefined) return manifest;
  if (cfg.filterKeys !== 'all') throw new Error(`${manifest.name}: config.filterKeys must be "all" (every key of sdk/filters.json)`);
  const own = cfg.properties ?? {};
  const table = manifestProperties(t);
  const clash = Object.keys(own).filter((k) => k in table);
  if (clash.length) throw new Error(`${manifest.name}: config keys ${clash.join(', ')} are filter keys: document them in sdk/filters.json only`);
  const { filterKeys: _all, ...rest } = cfg;
  return { ...manifest, config: { ...rest, properties: { ...own, ...table } } };
}

/** The README's table (between the markers, markers included). */
export function readmeBlock(t) {
  const esc = (s) => s.replace(/\|/g, '\\|');
  const rows = Object.entries(t.keys).map(([key, row]) => {
    const kind = t.kinds[row.kind];
    const host = [row.kernel && 'kernel filter', row.scope && 'grant'].filter(Boolean).join(', ');
    const verbs = row.with ? `with \`${row.with}\`` : row.verbs?.join(', ') ?? 'plugin config only';
    return `| \`${key}\` | ${flags(row).map((f) => `\`${f}\``).join(', ')} | ${esc(kind.value)}${kind.list ? ' (list)' : ''} | ${verbs} | ${host} | ${esc(row.doc)} |`;
  });
  return [
    README_START,
    '| config key | flags | value | filter of | host narrows | selects |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    README_END,
  ].join('\n');
}

/** README text with its filter-key table replaced by `block`; throws when the markers are missing. */
export function withReadmeBlock(readme, block) {
  const a = readme.indexOf(README_START), b = readme.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`README.md has no filter-keys markers (${README_START} ... ${README_END})`);
  return readme.slice(0, a) + block + readme.slice(b + README_END.length);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t = loadTable();
  if (process.argv.includes('--readme')) {
    const before = readFileSync(readmePath, 'utf8');
    const after = withReadmeBlock(before, readmeBlock(t));
    if (after !== before) writeFileSync(readmePath, after);
  } else {
    checkSdk(t);
    const text = sdkSource(t);
    const cur = existsSync(outPath) ? readFileSync(outPath, 'utf8') : '';
    if (process.argv.includes('--check')) {
      if (cur !== text) { process.stderr.write('gen-filters: sdk/assembly/filter-keys.ts is stale\n'); process.exit(1); }
    } else if (cur !== text) {
      writeFileSync(outPath, text);
    }
  }
}
