// conntrack's spellings on the command line (issue 16 item 7): long command names, getopt_long's
// unambiguous beginnings of long names (conntrack's names first), tables after the command,
// values that may be left out, repeated -l, and load files. No root, no kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgs, UsageError } from '../../host/cli/args.js';
import { parseLoadFile, splitLine } from '../../host/cli/commands/load.js';
import { outputFormat } from '../../host/cli/common.js';
import { filterFromFlags } from '../../host/cli/filter.js';
import { resolveLong } from '../../host/cli/getopt.js';
import { parseEventKinds, parseStatus } from '../../host/conntrack/validate.js';

const cmd = (line: string) => parseArgs(line.split(' '));
const usage = (line: string, pattern: RegExp) => assert.throws(() => cmd(line), (e: Error) => e instanceof UsageError && pattern.test(e.message), line);

test('conntrack\'s long command names are its commands', () => {
  const names: [string, string][] = [['--dump', 'list'], ['--delete', 'delete'], ['--update', 'update'], ['--get', 'get'], ['--flush', 'flush'],
    ['--counter', 'count'], ['--stats', 'stats'], ['--event', 'events'], ['--create', 'create'], ['--add', 'add'], ['-A', 'add']];
  for (const [flag, command] of names) assert.is(cmd(flag).command, command, flag);
  assert.equal(cmd('--load-file x').positionals, ['x']);
  assert.is(cmd('-R -').command, 'load');
  assert.ok(cmd('-V').version);
});

test('a beginning of a long name is that name; conntrack\'s names come first; ambiguous ones name their candidates', () => {
  assert.equal(cmd('-L --zo 5').opts, { zone: '5' });
  assert.equal(cmd('-L --fam ipv6').opts, { family: 'ipv6' });
  assert.equal(cmd('-L --prot tcp').opts, { proto: 'tcp' }); // --proto and --protonum are the same option
  assert.equal(cmd('-L --mar 1').opts, { mark: '1' });
  assert.equal(cmd('-L --orig-s 10.0.0.1').opts, { src: '10.0.0.1' });
  assert.is(cmd('--count').command, 'count'); // conntrack: --count is --counter
  assert.is(cmd('--du').command, 'list'); // conntrack's --dump, not ctplug's --duration
  assert.equal(cmd('events --dura 5').opts, { duration: '5' });
  usage('-L --sta ESTABLISHED', /--sta is ambiguous: it begins --state, --stats, --status/);
  usage('-L --orig-port 1', /ambiguous: it begins --orig-port-dst, --orig-port-src/);
  usage('-L --zzz', /unknown option --zzz/);
  assert.equal(resolveLong('ab', new Map([['abc', 1], ['abd', 1]])), { key: 1, name: 'abc' });
  assert.equal(resolveLong('ab', new Map([['abc', 1], ['abd', 2]])), { ambiguous: ['abc', 'abd'] });
});

test('two commands are refused; --count on events says what it means now', () => {
  usage('-L -D', /two commands given \(-L and -D\)/);
  usage('list --delete', /two commands given/);
  usage('events --count 3', /--count is conntrack's --counter.*--limit N/);
  assert.equal(cmd('events --limit 3').opts, { limit: '3' });
});

test('a table follows the command: any beginning of conntrack, expect, dying or unconfirmed', () => {
  assert.is(cmd('-L expect').table, 'expect');
  assert.is(cmd('-L exp').table, 'expect');
  assert.is(cmd('--dump dy').table, 'dying');
  assert.is(cmd('list unconfirmed').table, 'unconfirmed');
  assert.is(cmd('-L conn -p tcp').table, 'conntrack');
  usage('-L bogus', /unknown table "bogus"/);
});

test('-o, -e and -u read any beginning of conntrack\'s names, any case', () => {
  assert.is(outputFormat('ext', 'list'), 'extended');
  assert.is(outputFormat('EXTENDED,i', 'list'), 'extended,id');
  assert.is(outputFormat('timestamp', 'list'), 'text'); // accepted and ignored, as conntrack -L does
  assert.is(outputFormat('time,ext', 'events'), 'timestamp,extended');
  assert.throws(() => outputFormat('bogus', 'list'), /unknown output format "bogus"/);
  assert.equal(parseEventKinds('UPDATES'), ['UPDATE']);
  assert.equal(parseEventKinds('n,dest'), ['NEW', 'DESTROY']);
  assert.equal(parseEventKinds('ALL').sort(), ['DESTROY', 'NEW', 'UPDATE']);
  assert.throws(() => parseEventKinds('BOGUS'), /not an event type/);
  assert.equal(parseStatus('ass,seen', false), { names: ['ASSURED', 'SEEN_REPLY'], bits: 4 | 2 });
  assert.equal(parseStatus('UNSET', false), { names: [], bits: 0 });
  assert.equal(parseStatus('!ASSURED,UNREPLIED', true), { names: ['!ASSURED', 'UNREPLIED'], bits: 0 });
  assert.throws(() => parseStatus('!ASSURED', false), /not a status bit/);
});

test('-n/-g/-j: bare or with an address[:port] (the next word unless it starts with -); -j refuses -n and -g', () => {
  assert.equal(cmd('-L -n -p tcp').opts, { srcNat: '', proto: 'tcp' });
  assert.equal(cmd('-L -g 192.168.1.5:8080').opts, { dstNat: '192.168.1.5:8080' });
  assert.equal(cmd('-L --any-nat').opts, { anyNat: '' });
  assert.equal(filterFromFlags(cmd('-L -n -g 192.168.1.5').opts).config, { src_nat: true, dst_nat: '192.168.1.5' });
  assert.equal(filterFromFlags(cmd('-L --dst-nat [2001:db8::5]:5353').opts).config, { dst_nat: '[2001:db8::5]:5353' });
  assert.throws(() => filterFromFlags(cmd('-L -j -n').opts), /-j\/--any-nat cannot be combined with -n\/--src-nat/);
  assert.throws(() => filterFromFlags(cmd('-L -n 10.0.0.1:70000').opts), /not a port/);
  usage('-D -j', /-j is not an option of `ctplug delete`/);
});

test('repeated -l merges; a flag given twice is still refused', () => {
  assert.equal(cmd('-L -l web -l db').opts, { label: 'web,db' });
  usage('-L -s 10.0.0.1 -s 10.0.0.2', /given twice/);
});

test('load files: words split as conntrack splits them, every line checked before any runs', () => {
  assert.equal(splitLine('-I -p udp  "a b" "x\\"y"\t-t 1'), ['-I', '-p', 'udp', 'a b', 'x"y', '-t', '1']);
  const lines = parseLoadFile('# saved\n\n  -I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 5\n-D -w 5\n-F\n', 'blue');
  assert.equal(lines.map((p) => p.command), ['create', 'delete', 'flush']);
  assert.ok(lines.every((p) => p.opts.netns === 'blue'));
  assert.throws(() => parseLoadFile('-I -p udp\n-L\n', undefined), /line 2: cannot use command `-L`/);
  assert.throws(() => parseLoadFile('-D expect -s 1.2.3.4\n', undefined), /line 1: cannot use command `-D expect`/);
  assert.throws(() => parseLoadFile('-I --bogus\n', undefined), /line 1: unknown option --bogus/);
});

test.run();
