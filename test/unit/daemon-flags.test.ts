// `ctplug daemon`'s fleet flags (host/daemon/main.ts): they are handed to the fleet agent it runs
// beside itself, so they need --nats, and --help teaches them. Nothing here starts a daemon.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runDaemon } from '../../host/daemon/main.js';
import { AGENT_FLAGS } from '../../host/daemon/fleet-agent.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const w = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await runDaemon(argv), out, err };
  } finally {
    process.stdout.write = w.out;
    process.stderr.write = w.err;
  }
}

test('a fleet flag without --nats is one usage line, exit 2, and nothing starts', async () => {
  for (const argv of [['--name', 'edge-1'], ['--metrics', '127.0.0.1:9477'], ['--agent-user', '65534'], ['--nats-creds', 'x.creds', '--agent-netns', 'edge1']]) {
    const r = await run(argv);
    assert.is(r.code, 2, argv.join(' '));
    assert.is(r.err, 'ctplug: the fleet flags (--name, --metrics, --census, --agent-user, --agent-netns, --nats-*) need --nats URL\n');
  }
  const r = await run(['--nats']);
  assert.equal([r.code, r.err], [2, 'ctplug: --nats needs a value\n']);
});

test('--help names every flag the daemon hands to its fleet agent', async () => {
  const r = await run(['--help']);
  assert.is(r.code, 0);
  for (const flag of [...Object.keys(AGENT_FLAGS), '--agent-user']) assert.ok(r.out.includes(flag), `--help does not mention ${flag}`);
  assert.match(r.out, /ctplug fleet agent --connect SOCKET/);
});

test.run();
