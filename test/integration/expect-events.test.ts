// Expectation events from real traffic: the kernel's tftp helper (an nft ct helper rule) makes an
// expectation for each TFTP read request over lo, and `ctplug events expect` prints the same lines
// as `conntrack -E expect` for it; `ctplug delete expect` removes it. The parity harness can only
// trigger events with conntrack command lines, which make no expectation events (F11); this test
// sends the packets itself.
import { execFileSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import { bundledCli } from '../helpers/cli.js';
import { exitWithin, listen, sleep } from '../helpers/events.js';
import { conntrackIn, kernelSuite, makeNetns, removeNetns } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('expectation events (kernel, nft tftp helper)', 'test/integration/expect-events.test.ts');
const cli = bundledCli('expect-events');
const RULESET = 'table inet t {\n ct helper tftp-std { type "tftp" protocol udp; }\n chain out {\n  type filter hook output priority 0;\n  udp dport 69 ct helper set "tftp-std"\n }\n}\n';
let ns = '';

/** A TFTP read request from 127.0.0.1:PORT to port 69: the helper expects the answer to PORT. */
function tftpRequest(port: number): void {
  const js = `const s = require('dgram').createSocket('udp4'); s.bind(${port}, '127.0.0.1', () => s.send(Buffer.from('\\x00\\x01f\\x00octet\\x00', 'latin1'), 69, '127.0.0.1', () => s.close()));`;
  execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js]);
}

/** The expectation lines about PORT, as printed (the timeout may tick between the two tools: masked). */
const linesOf = (out: string, port: number) => out.split('\n').filter((l) => l.includes(` dport=${port} `)).map((l) => l.replace(/\] \d+ proto=/, '] T proto='));

if (!skip) {
  t.before(async () => {
    await cli.build();
    ns = makeNetns();
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: RULESET });
  });
  t.after(() => {
    removeNetns(ns);
    cli.remove();
  });
}

it('ctplug events expect prints what conntrack -E expect prints for a TFTP request; delete expect removes it', async () => {
  const theirs = listen(['ip', 'netns', 'exec', ns, 'conntrack', '-E', 'expect']);
  const ours = listen([process.execPath, cli.entry, 'events', 'expect', '--netns', ns]);
  try {
    // Listening once both saw a probe request's expectation.
    let ready = false;
    for (let port = 41000; port < 41100 && !ready; port++) {
      tftpRequest(port);
      await sleep(100);
      ready = linesOf(theirs.out(), port).length > 0 && linesOf(ours.out(), port).length > 0;
    }
    assert.ok(ready, `listeners never saw a probe: ${ours.err()}`);
    tftpRequest(42069);
    await sleep(300);
    const del = cli.run(['delete', 'expect', '--netns', ns, '-s', '127.0.0.1', '-d', '127.0.0.1', '-p', 'udp', '--sport', '0', '--dport', '42069']);
    assert.is(del.code, 0, del.stderr);
    await sleep(500);
  } finally {
    theirs.child.kill('SIGINT');
    ours.child.kill('SIGINT');
  }
  const mine = linesOf(ours.out(), 42069);
  assert.equal(mine, linesOf(theirs.out(), 42069));
  // The helper's NEW; on this kernel the helper replaces it at once (NEW, DESTROY, NEW), and the
  // deletion by request below reports nothing to either listener.
  assert.is(mine[0]?.trim().split(' ')[0], '[NEW]', mine.join('\n'));
  assert.match(mine[0], /proto=17 src=127\.0\.0\.1 dst=127\.0\.0\.1 sport=0 dport=42069 .* master-src=127\.0\.0\.1 .* sport=42069 dport=69 class=0 helper=tftp$/);
  assert.is(await exitWithin(ours, 5000), 0, ours.err());
  assert.match(ours.err(), /\d+ expectation events have been shown\./);
  // deleted: conntrack no longer lists it (the probes' expectations may remain)
  assert.not.match(conntrackIn(ns, ['-L', 'expect']), / dport=42069 /);
});

t.run();
