// The CLI's parser, its error reporting and its tables, without root or a kernel.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMANDS, OPTIONS, parseArgs, UsageError } from '../../host/cli/args.js';
import { describe } from '../../host/cli/errors.js';
import { EXIT, EXIT_TABLE, exitTableText } from '../../host/exit-codes.js';
import { filterFromFlags } from '../../host/cli/filter.js';
import { parseStatus } from '../../host/conntrack/validate.js';
import { commandHelp, mainHelp } from '../../host/cli/help.js';
import { main } from '../../host/cli/main.js';
import { narrowScope, resolvePluginFile } from '../../host/cli/plugins.js';
import { readConfig } from '../../host/cli/commands/run.js';
import { VERSION } from '../../host/cli/version.js';
import { CtError } from '../../host/conntrack/errors.js';
import { GrantError } from '../../host/policy/errors.js';
import { ModuleCheckError, PluginHostError, PluginTimeoutError, PluginTrapError } from '../../host/runtime/errors.js';
import { AbortError } from '../../host/netlink/abort.js';

const usage = (argv: string[], pattern: RegExp) => {
  try {
    parseArgs(argv);
  } catch (e) {
    assert.instance(e, UsageError);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`${argv.join(' ')} should be a usage error`);
};

test('long, short, --x=v, -xV forms and aliases all land on the same key', () => {
  for (const argv of [['list', '--zone', '5'], ['list', '--zone=5'], ['list', '-w', '5'], ['list', '-w5']]) {
    const p = parseArgs(argv);
    assert.is(p.command, 'list');
    assert.equal(p.opts, { zone: '5' });
  }
  assert.equal(parseArgs(['list', '--orig-src', '10.0.0.1', '--orig-port-dst', '53']).opts, { src: '10.0.0.1', dport: '53' });
  assert.equal(parseArgs(['delete', '-r', '1.2.3.4', '-q', '5.6.7.8', '--reply-port-src', '1', '--reply-port-dst', '2']).opts, {
    replySrc: '1.2.3.4', replyDst: '5.6.7.8', replySport: '1', replyDport: '2',
  });
  assert.equal(parseArgs(['list', '-m', '0x10/0xff', '-u', 'ASSURED', '-o', 'id', '--netns', 'blue']).opts, { mark: '0x10/0xff', status: 'ASSURED', output: 'id', netns: 'blue' });
});

test('flags may come before the command; conntrack letters pick the command', () => {
  assert.is(parseArgs(['--netns', 'x', 'count']).command, 'count');
  assert.is(parseArgs(['-L', '-w', '5']).command, 'list');
  assert.is(parseArgs(['-D', '-p', 'udp']).command, 'delete');
  assert.is(parseArgs(['-C']).command, 'count');
  assert.is(parseArgs(['-I', '-p', 'udp']).command, 'create');
});

test('plugin subcommands, --plugin alone means run', () => {
  assert.equal(parseArgs(['plugin', 'inspect', 'a.wasm']).positionals, ['a.wasm']);
  assert.is(parseArgs(['plugin', 'new', 'x']).command, 'plugin new');
  const r = parseArgs(['--plugin', 'p.wasm', '--config', '{"a":1}', '--policy', 'pol.json']);
  assert.is(r.command, 'run');
  assert.equal(r.opts, { plugin: 'p.wasm', config: '{"a":1}', policy: 'pol.json' });
  assert.is(parseArgs(['run', 'p.wasm']).opts.plugin, 'p.wasm');
});

test('strict: unknown flags, missing values, duplicates, wrong command, stray words', () => {
  usage(['list', '--bogus'], /unknown option --bogus/);
  usage(['list', '-Z', '1'], /unknown option -Z/);
  usage(['list', '-w'], /-w needs a value/);
  usage(['list', '-w', '--proto', 'tcp'], /-w needs a value/);
  usage(['list', '-w', '1', '--zone', '2'], /given twice/);
  usage(['stats', '-w', '1'], /not an option of `ctplug stats`/);
  usage(['count', '--plugin', 'x'], /not an option/);
  usage(['list', 'extra'], /unknown table "extra"/);
  usage(['list', 'expect', 'extra'], /unexpected argument "extra"/);
  usage(['plugin'], /needs a subcommand/);
  usage(['plugin', 'frob'], /unknown subcommand/);
  usage(['plugin', 'inspect'], /needs FILE/);
  usage(['nope'], /unknown command "nope"/);
  usage(['list', '--help=yes'], /takes no value/);
});

test('negative numbers are values (validation then rejects them)', () => {
  assert.is(parseArgs(['list', '-w', '-1']).opts.zone, '-1');
});

test('--zone= with an empty value is a usage error at validation', () => {
  const p = parseArgs(['list', '--zone=']);
  assert.is(p.opts.zone, '');
  assert.throws(() => filterFromFlags(p.opts), (e: CtError) => e.kind === 'usage');
});

test('every command has help with its options and an example', () => {
  for (const c of Object.keys(COMMANDS)) {
    const h = commandHelp(c);
    assert.match(h, /^Usage: /);
    assert.match(h, /Examples:/, c);
    for (const k of COMMANDS[c].options) assert.ok(h.includes(`--${OPTIONS[k].long[0]}`), `${c} help lacks --${OPTIONS[k].long[0]}`);
  }
  assert.match(commandHelp('plugin'), /plugin inspect FILE/);
});

test('the exit-code table is complete, unique, and printed by --help', () => {
  const codes = EXIT_TABLE.map((r) => r.code);
  assert.equal(codes, [0, 1, 2, 3, 4, 5, 6, 7, 130]);
  assert.equal(new Set(Object.values(EXIT)).size, Object.values(EXIT).length);
  assert.ok(mainHelp(VERSION).includes(exitTableText()));
});

test('VERSION matches package.json', () => {
  assert.is(VERSION, JSON.parse(readFileSync('package.json', 'utf8')).version);
});

test('errors become one line and the documented exit code', () => {
  const cases: [unknown, number, RegExp][] = [
    [new UsageError('unknown option --x', 'list'), EXIT.USAGE, /see `ctplug list --help`/],
    [new CtError('zone', 'EINVAL', 'usage', '"70000" is not a zone'), EXIT.USAGE, /ctplug: zone: "70000"/],
    [new CtError('dump', 'EPERM', 'privilege', 'EPERM', { hint: 'needs CAP_NET_ADMIN' }), EXIT.PRIVILEGE, /permission denied \(EPERM\); needs CAP_NET_ADMIN$/],
    [new CtError('netns', 'ENOENT', 'environment', 'network namespace "x" does not exist', { hint: 'create it with `ip netns add`' }), EXIT.ENVIRONMENT, /does not exist; create it/],
    [new CtError('create', 'EINVAL', 'kernel', 'EINVAL: bad attr'), EXIT.KERNEL, /EINVAL: bad attr; /],
    [new GrantError('p', 'plugin "p" asks for more than the policy allows: zones: asks [1], allows [2]'), EXIT.PLUGIN_REFUSED, /allows: zones: asks/],
    [new ModuleCheckError('p', 'plugin "p": import env.x is not allowed'), EXIT.PLUGIN_REFUSED, /env\.x/],
    [new PluginTimeoutError('p', 1000, 'ctplug_on_entries'), EXIT.PLUGIN_FAILED, /exceeded 1000 ms.*timeout_ms/],
    [new PluginTrapError('p', 'unreachable', 'ctplug_init'), EXIT.PLUGIN_FAILED, /trapped/],
    [new PluginHostError('p', 'worker exited unexpectedly (code 1)'), EXIT.PLUGIN_FAILED, /worker exited unexpectedly \(code 1\); please report/],
    [new AbortError('plugin "p" run', 'Ctrl-C'), EXIT.ABORTED, /run was aborted: Ctrl-C; it was cancelled/],
    [new Error('boom'), EXIT.KERNEL, /internal error: boom; please report/],
  ];
  for (const [e, code, pattern] of cases) {
    const r = describe(e, 'list');
    assert.is(r.exit, code, r.line);
    assert.not.match(r.line, /\n/);
    assert.match(r.line, /^ctplug: .+; .+/);
    assert.match(r.line, pattern);
  }
});

test('filter flags -> plugin config, kernel filter and grant scope', () => {
  const f = filterFromFlags({ zone: '5', proto: 'tcp', src: '10.0.0.0/8', dport: '53', mark: '0x10/0xf0', state: 'established', status: 'ASSURED,UNREPLIED' });
  assert.equal(f.config, { proto: 'tcp', src: '10.0.0.0/8', family: 'ipv4', dport: 53, zone: 5, mark: 16, mark_mask: 0xf0, state: 'ESTABLISHED', status: 'ASSURED,UNREPLIED' });
  assert.equal(f.kernel, { zone: 5, mark: 16, markMask: 0xf0, tuple: { protocol: 6, dport: 53 } }); // a CIDR stays with the plugin
  assert.equal(f.scope, { protocols: ['tcp'], zones: [{ from: 5, to: 5 }], mark: { value: 16, mask: 0xf0 } });
  // --state is the -p protocol's (conntrack: an option of the tcp, sctp and dccp extensions)
  assert.equal(filterFromFlags({ proto: 'sctp', state: 'cookie_wait' }).config, { proto: 'sctp', state: 'COOKIE_WAIT' });
  assert.equal(filterFromFlags({ proto: 'tcp', state: 'LISTEN' }).config, { proto: 'tcp', state: 'LISTEN' });
  assert.throws(() => filterFromFlags({ proto: 'udp', state: 'ESTABLISHED' }), /udp has no states/);
  assert.throws(() => filterFromFlags({ proto: 'dccp', state: 'ESTABLISHED' }), /not a DCCP state/);
  assert.equal(filterFromFlags({ proto: 'esp' }).config, { proto: 50 }); // a protocol without an extension: its number
  assert.equal(filterFromFlags({ proto: 'esp' }).kernel.tuple, { protocol: 50 });
  assert.not.ok(f.empty);
  assert.not.ok(f.zoneOnly);
  assert.ok(filterFromFlags({ zone: '0' }).zoneOnly);
  assert.ok(filterFromFlags({}).empty);
  assert.throws(() => filterFromFlags({ zone: '65536' }), (e: CtError) => e.kind === 'usage');
  assert.throws(() => filterFromFlags({ src: '10.0.0.1', dst: '2001:db8::1' }), (e: CtError) => e.kind === 'usage' && /ipv4/.test(e.message));
  assert.throws(() => filterFromFlags({ family: 'ipv6', proto: 'icmp' }), /icmp is ipv4/);
  assert.throws(() => parseStatus('ASSURED,NOPE', true), /NOPE/);
  assert.throws(() => parseStatus('UNREPLIED', false), /UNREPLIED/);
  assert.is(parseStatus('assured,seen_reply', false).bits, 4 | 2);
});

test('--orig-zone / --reply-zone are plugin filters only (not the kernel zone filter, not the grant)', () => {
  const p = parseArgs(['list', '--orig-zone', '5', '--reply-zone=6']);
  const f = filterFromFlags(p.opts);
  assert.equal(f.config, { orig_zone: 5, reply_zone: 6 });
  assert.equal(f.kernel, {});
  assert.equal(f.scope, {});
  assert.throws(() => filterFromFlags({ origZone: '70000' }), (e: CtError) => e.kind === 'usage' && /orig-zone/.test(e.message));
});

test('--icmp-type/--icmp-code/--icmp-id (and --icmpv6-*) filter list, delete, update and events; -p icmp or icmpv6 required', () => {
  for (const cmd of ['list', 'delete', 'update', 'events']) {
    const p = parseArgs([cmd, '-p', 'icmpv6', '--icmpv6-type', '128', '--icmp-code', '0', '--icmpv6-id=1111']);
    assert.equal(filterFromFlags(p.opts).config, { proto: 'icmpv6', icmp_type: 128, icmp_code: 0, icmp_id: 1111 });
  }
  assert.throws(() => filterFromFlags({ icmpType: '8' }), (e: CtError) => e.kind === 'usage' && /--icmp-type filters icmp and icmpv6 entries: give -p icmp or -p icmpv6/.test(e.message));
  assert.throws(() => filterFromFlags({ proto: 'udp', icmpId: '1' }), (e: CtError) => e.kind === 'usage' && /give -p icmp/.test(e.message));
  assert.throws(() => filterFromFlags({ proto: 'icmp', icmpType: '256' }), (e: CtError) => e.kind === 'usage' && /icmp type: "256" is out of range/.test(e.message));
  assert.throws(() => filterFromFlags({ proto: 'icmp', icmpId: '65536' }), (e: CtError) => e.kind === 'usage' && /icmp id/.test(e.message));
  usage(['flush', '--icmp-type', '8'], /not an option of `ctplug flush`/);
});

test('-l/--label is a plugin filter of label bits (all must be set)', () => {
  assert.equal(filterFromFlags(parseArgs(['delete', '-l', '3,64']).opts).config, { label: [3, 64] });
  assert.throws(() => filterFromFlags({ label: '128' }), (e: CtError) => e.kind === 'usage' && /0\.\.127/.test(e.message));
});

test('a grant is the manifest scope narrowed to the flags', () => {
  const base = { zones: 'any' as const, families: ['ipv4', 'ipv6'] as ('ipv4' | 'ipv6')[], protocols: 'any' as const, mark: null, markBits: null };
  assert.equal(narrowScope(base, { zones: [{ from: 5, to: 5 }], families: ['ipv6'] }), {
    zones: [{ from: 5, to: 5 }], families: ['ipv6'], protocols: 'any', mark: null, markBits: null,
  });
  assert.equal(narrowScope({ ...base, zones: [{ from: 1, to: 10 }] }, { zones: [{ from: 8, to: 20 }] }).zones, [{ from: 8, to: 10 }]);
  assert.throws(() => narrowScope({ ...base, zones: [{ from: 1, to: 2 }] }, { zones: [{ from: 5, to: 5 }] }), /zones/);
});

test('--config: JSON text or @file; bad JSON and unreadable files are usage errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-args-'));
  try {
    writeFileSync(join(dir, 'c.json'), '{"zone": 5}');
    assert.equal(readConfig('{"a":[1]}'), { a: [1] });
    assert.equal(readConfig(`@${join(dir, 'c.json')}`), { zone: 5 });
    assert.equal(readConfig(undefined), {});
    assert.throws(() => readConfig('{a:1}'), (e: Error) => e instanceof UsageError && /not valid JSON/.test(e.message));
    assert.throws(() => readConfig(`@${join(dir, 'nope.json')}`), (e: Error) => e instanceof UsageError && /cannot read/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--plugin FILE: a manifest, a .wasm with NAME.manifest.json beside it, or a first-party name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-args-'));
  try {
    writeFileSync(join(dir, 'x.wasm'), '');
    writeFileSync(join(dir, 'x.manifest.json'), '{}');
    assert.equal(resolvePluginFile(join(dir, 'x.wasm')), { manifestPath: join(dir, 'x.manifest.json'), builtin: false });
    assert.equal(resolvePluginFile(join(dir, 'x.manifest.json')), { manifestPath: join(dir, 'x.manifest.json'), builtin: false });
    writeFileSync(join(dir, 'y.wasm'), '');
    assert.throws(() => resolvePluginFile(join(dir, 'y.wasm')), (e: CtError) => e.kind === 'usage' && /no manifest/.test(e.message));
    assert.throws(() => resolvePluginFile(join(dir, 'z.wasm')), (e: CtError) => e.kind === 'usage' && /no such file/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('main(): --help exits 0 on stdout; no command exits 2 on stderr; usage errors are one line', async () => {
  const sink = () => {
    let text = '';
    return { write: (s: string | Uint8Array) => ((text += String(s)), true), get text() { return text; } };
  };
  let out = sink(), err = sink();
  assert.is(await main(['--help'], { out: out as never, err: err as never }), 0);
  assert.match(out.text, /Exit codes:/);
  out = sink(); err = sink();
  assert.is(await main([], { out: out as never, err: err as never }), 2);
  assert.match(err.text, /Usage: ctplug/);
  out = sink(); err = sink();
  assert.is(await main(['list', '-w', '70000'], { out: out as never, err: err as never }), 2);
  assert.is(err.text.trim().split('\n').length, 1);
  assert.match(err.text, /^ctplug: zone: "70000" is not a zone.*; see `ctplug list --help`/);
  out = sink(); err = sink();
  assert.is(await main(['--version'], { out: out as never, err: err as never }), 0);
  assert.is(out.text, `ctplug v${VERSION}\n`);
});

test.run();
