#!/usr/bin/env node
// `npm run demo`: the ctplug story in a throwaway network namespace.
//   1. seed a realistic table (zones 5/6/7, tcp/udp/icmp, IPv4+IPv6, marks) with `ctplug create --from -`
//   2. list it (the first-party list plugin), like `conntrack -L`, and as JSON
//   3. match: delete the UDP flows of zone 6 (the match plugin, granted zone 6 only)
//   4. purge-remote: an operator policy grants zones 5 and 6; the remote's state there goes, zone 7 keeps it
//   5. an out-of-scope request (zone 7) is refused by the host at run time; a plugin asking for more than
//      the policy allows is refused at load
// The namespace is removed at the end, on error, and on Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'ctplug.js');
const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s);

if (process.getuid?.() !== 0) {
  process.stderr.write('demo: needs root: it creates a network namespace and conntrack entries in it. Run `sudo npm run demo`.\n');
  process.exit(3);
}
for (const need of ['dist/cli.cjs', 'dist/worker.js', 'dist/plugins/list.wasm', 'dist/plugins/match.wasm', 'dist/plugins/purge-remote.wasm', 'dist/plugins/stale.wasm']) {
  if (!existsSync(join(root, need))) {
    process.stderr.write(`demo: ${need} is missing: ctplug is not built; run \`npm install\` (or \`npm run build\`) first.\n`);
    process.exit(4);
  }
}
if (spawnSync('ip', ['-V']).status !== 0) {
  process.stderr.write('demo: the `ip` command (iproute2) is missing; install it (apt-get install -y iproute2).\n');
  process.exit(4);
}

const ns = `ctplug-demo-${randomBytes(3).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'ctplug-demo-'));
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  spawnSync('ip', ['netns', 'del', ns]);
  rmSync(work, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    child?.kill('SIGTERM');
    cleanup();
    process.stderr.write(`\ndemo: interrupted; namespace ${ns} removed\n`);
    process.exit(130);
  });
}
process.on('exit', cleanup);

let step = 0;
function say(title, text) {
  step++;
  process.stdout.write(`\n${bold(`${step}. ${title}`)}\n${text ? `${dim(text)}\n` : ''}`);
}

let child;
/** `ctplug ARGS` as a child process; async so that Ctrl-C is handled while it runs. */
function exec(args, input) {
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => { child = undefined; resolve({ status, stdout, stderr }); });
    child.stdin.end(input ?? '');
  });
}

/** Runs `ctplug ARGS` as a user would, shows the command, its output and its exit code. */
async function ctplug(args, { input, expect = 0, maxLines = 14 } = {}) {
  const shown = args.map((a) => (/[\s{}"']/.test(a) ? `'${a}'` : a)).join(' ');
  process.stdout.write(`${bold('$')} ctplug ${shown}\n`);
  const r = await exec(args, input);
  const lines = r.stdout.split('\n').filter(Boolean);
  for (const l of lines.slice(0, maxLines)) process.stdout.write(`  ${l}\n`);
  if (lines.length > maxLines) process.stdout.write(`  ... (${lines.length - maxLines} more lines)\n`);
  for (const l of r.stderr.split('\n').filter(Boolean)) process.stdout.write(`  ${dim(l)}\n`);
  process.stdout.write(`  ${dim(`exit ${r.status}`)}\n`);
  if (r.status !== expect) throw new Error(`ctplug ${shown} exited ${r.status}, expected ${expect}`);
  return r;
}

function seedLines() {
  const out = ['# zone 5: a tenant with web and DNS traffic; zone 6: another tenant; zone 7: infrastructure'];
  const remote = '203.0.113.7';
  for (const zone of [5, 6, 7]) {
    for (let i = 1; i <= 6; i++) {
      out.push(`-p tcp -s 10.${zone}.0.${i} -d ${i % 3 === 0 ? remote : `198.51.100.${i}`} --sport ${40000 + i} --dport 443 --state ESTABLISHED -t 3600 -w ${zone} -m ${zone * 16 + (i % 2)}`);
      out.push(`-p udp -s 10.${zone}.0.${i} -d 198.51.100.53 --sport ${50000 + i} --dport 53 -t 30 -w ${zone}`);
    }
    out.push(`-p udp -s 2001:db8:${zone}::1 -d 2001:db8:ffff::53 --sport 5353 --dport 53 -t 30 -w ${zone} -m 0x100`);
    out.push(`-p tcp -s 2001:db8:${zone}::2 -d 2001:db8:ffff::80 --sport 40100 --dport 80 --state TIME_WAIT -t 60 -w ${zone}`);
    out.push(`-p icmp -s 10.${zone}.0.9 -d ${remote} --icmp-type 8 --icmp-code 0 --icmp-id ${zone} -t 30 -w ${zone}`);
    out.push(`-p icmpv6 -s 2001:db8:${zone}::9 -d 2001:db8:ffff::1 --icmp-type 128 --icmp-code 0 --icmp-id ${zone} -t 30 -w ${zone}`);
    out.push(`-p udp -s ${remote} -d 10.${zone}.0.1 --sport 123 --dport 123 -t 30 -w ${zone} -u ASSURED`);
  }
  return out.join('\n') + '\n';
}

try {
  spawnSync('ip', ['netns', 'add', ns], { stdio: 'inherit' });
  process.stdout.write(`${bold('ctplug demo')} in the throwaway network namespace ${ns} (removed at the end, or on Ctrl-C)\n`);

  const seed = seedLines();
  const n = seed.split('\n').filter((l) => l && !l.startsWith('#')).length;
  say('Seed a realistic table', `zones 5, 6, 7; tcp/udp/icmp/icmpv6; IPv4 and IPv6; marks. ${n} entries from conntrack -I style lines, created in one batch.`);
  await ctplug(['create', '--netns', ns, '--from', '-'], { input: seed });
  await ctplug(['count', '--netns', ns]);

  say('List zone 5 (the first-party `list` plugin, granted read access to zone 5 only)', 'Same text as `conntrack -L -w 5`; -w is filtered by the kernel, the rest inside the sandboxed plugin.');
  await ctplug(['list', '--netns', ns, '-w', '5']);
  await ctplug(['list', '--netns', ns, '-p', 'icmp', '-o', 'json']);

  say('match: delete the UDP flows of zone 6', 'ctplug delete = the `match` plugin with action "delete", granted read+delete on zone 6 and nothing else.');
  await ctplug(['delete', '--netns', ns, '-w', '6', '-p', 'udp', '--dport', '53']);
  await ctplug(['delete', '--netns', ns, '-w', '6', '-p', 'udp', '--dport', '53'], { expect: 1 });
  process.stdout.write(`  ${dim('(nothing left to match: exit 1, exactly like conntrack -D)')}\n`);

  say('update: re-stamp the tenant bits of the mark in zone 5 (like conntrack -U)', 'Only the bits in the mask change (0xff00); the match plugin selects, the host updates the entries the kernel sent, in batches.');
  await ctplug(['update', '--netns', ns, '-w', '5', '-p', 'tcp', '-m', '0x500/0xff00']);
  await ctplug(['list', '--netns', ns, '-w', '5', '-p', 'tcp', '--state', 'ESTABLISHED'], { maxLines: 3 });

  const policy = join(work, 'policy.json');
  writeFileSync(policy, JSON.stringify({
    $comment: 'Operator policy: purge-remote may read and delete in tenant zones 5 and 6; stale may only read.',
    plugins: {
      'purge-remote': { capabilities: { operations: ['read', 'delete'], scope: { zones: [5, 6] } }, limits: { timeout_ms: 2000 } },
      stale: { capabilities: { operations: ['read'], scope: { zones: [5, 6] } } },
    },
  }, null, 2));
  say('purge-remote: forget everything about 203.0.113.7', `The operator policy (${policy}) grants zones 5 and 6. The plugin's dumps are narrowed to them by the host; zone 7 is never shown to it.`);
  await ctplug(['list', '--netns', ns, '-s', '203.0.113.7'], { maxLines: 4 });
  await ctplug(['--plugin', 'purge-remote', '--config', '{"addr":"203.0.113.7"}', '--policy', policy, '--netns', ns]);
  await ctplug(['list', '--netns', ns, '-d', '203.0.113.7', '-o', 'extended']);
  process.stdout.write(`  ${dim('(only zone 7 still has state for 203.0.113.7: it was outside the grant)')}\n`);

  say('Out of scope: the same plugin asked to purge zone 7', 'The host refuses the dump (E_SCOPE) at run time; the table is untouched; exit 7.');
  await ctplug(['--plugin', 'purge-remote', '--config', '{"addr":"203.0.113.7","zones":[7]}', '--policy', policy, '--netns', ns], { expect: 7 });
  await ctplug(['count', '--netns', ns, '-w', '7']);

  say('Denied at load: a plugin that asks for more than the policy allows', 'stale declares read+delete; the policy allows it read only. Refused before any plugin code runs: exit 6.');
  await ctplug(['--plugin', 'stale', '--config', '{"proto":"udp","unreplied":true}', '--policy', policy, '--netns', ns], { expect: 6 });

  say('Inspect a plugin before trusting it', '');
  await ctplug(['plugin', 'inspect', join(root, 'dist', 'plugins', 'purge-remote.wasm')], { maxLines: 30 });

  process.stdout.write(`\n${bold('Done.')} Try it yourself: sudo npx ctplug --help\n`);
} catch (e) {
  process.stderr.write(`\ndemo: FAILED: ${e.message}\n`);
  process.exitCode = 1;
} finally {
  cleanup();
}
