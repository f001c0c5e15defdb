// bin/ctplug.js: dist/cli.cjs compiled with V8's code cache, one cache per command word. The
// loader is run on a stand-in bundle in a scratch package (no build needed): the cache is written
// after the first run, kept while V8 accepts it, rewritten when it is corrupt, and never needed.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const bin = fileURLToPath(new URL('../../bin/ctplug.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ctplug-bin-'));
mkdirSync(join(dir, 'bin'));
mkdirSync(join(dir, 'dist'));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
copyFileSync(bin, join(dir, 'bin', 'ctplug.js'));
const cli = join(dir, 'dist', 'cli.cjs');
// A stand-in bundle: CommonJS, exports runCli, and shows it runs from dist/ (its __dirname).
writeFileSync(cli, `'use strict';
function twice(s) { return s + s; }
exports.runCli = async (argv) => { process.stdout.write(twice(argv.join(' ')) + ' ' + require('node:path').basename(__dirname) + '\\n'); };
`);
const run = (...args: string[]) => spawnSync(process.execPath, [join(dir, 'bin', 'ctplug.js'), ...args], { encoding: 'utf8' });
const cache = (word: string) => `${cli}.${word}.v8cache`;

test('first run: the bundle runs (as CommonJS from dist/) and leaves a code cache for its command word', () => {
  const r = run('list', '-w', '5');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, 'list -w 5list -w 5 dist\n');
  assert.ok(existsSync(cache('list')));
  assert.not.ok(existsSync(cache('count')));
  // Flags before the command, and anything that is not a plain word, share one cache.
  assert.is(run('--version').status, 0);
  assert.ok(existsSync(cache('other')));
});

test('a cache V8 accepts is kept (not rewritten); a corrupt one is ignored and replaced', () => {
  const before = statSync(cache('list')).mtimeMs;
  const bytes = readFileSync(cache('list'));
  assert.is(run('list').status, 0);
  assert.is(statSync(cache('list')).mtimeMs, before);
  writeFileSync(cache('list'), Buffer.from('not a code cache'));
  const r = run('list', 'x');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, 'list xlist x dist\n');
  assert.equal(readFileSync(cache('list')).length, bytes.length);
});

test('no bundle: one line saying how to build, exit 4', () => {
  rmSync(cli);
  const r = run('list');
  assert.is(r.status, 4);
  assert.match(r.stderr, /^ctplug: dist\/cli\.cjs is missing .*npm run build/);
  assert.is(r.stderr.trim().split('\n').length, 1);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
