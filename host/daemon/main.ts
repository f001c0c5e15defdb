// `ctplug daemon`: the privileged half of ctplug, alone in its process. It holds the ctnetlink and
// event sockets and serves clients over a Unix socket (server.ts), each within its policy entry.
// No Wasm, no plugin runtime, no CLI here: bin/ctplug.js loads this bundle (dist/daemon.js) for
// `daemon` without loading the CLI. Foreground; logs to stderr.
//   ctplug daemon [--socket PATH] [--policy FILE] [--user NAME] [--max-clients N] [--event-buffer BYTES]
// Started as root: it binds the socket, then re-executes itself under setpriv as --user (default
// the `ctplug` user) with only CAP_NET_ADMIN (+ CAP_SYS_ADMIN when the policy names namespaces),
// handing the listening socket over as a descriptor; the root parent only relays signals and the
// exit status. Started otherwise (the systemd units in systemd/): it checks it holds exactly
// those capabilities, takes a socket-activated descriptor (LISTEN_FDS) if given, and serves.
// With --nats it also runs the fleet agent beside itself, unprivileged, as its client (fleet-agent.ts):
// the root parent spawns it (it can change uid), a daemon started unprivileged spawns it itself.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import type { Server } from 'node:net';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Conntrack } from '../conntrack/conntrack.js';
import { EXIT, exitCodeOf } from '../exit-codes.js';
import { namesOtherNetns } from '../policy/clients.js';
import { loadPolicy } from '../policy/policy.js';
import { AGENT_FLAGS, AGENT_SETPRIV_UNPRIVILEGED, agentSetprivAsRoot, FleetAgentChild } from './fleet-agent.js';
import { capabilityProblem, capabilitySets, neededCapabilities, resolveUser, setprivArgs } from './privilege.js';
import { removeStaleSocket, startDaemon } from './server.js';

export const DEFAULT_SOCKET = '/run/ctplug/ctplug.sock';
export const DEFAULT_POLICY = '/etc/ctplug/policy.json';
/** The descriptor the root parent hands the dropped daemon (fd 3, as socket activation does). */
const HANDED_FD = 3;
/** The fleet agent's user when started as root and --agent-user is not given. */
const NOBODY = 65534;

const HELP = `ctplug daemon: the privileged half of ctplug (CAP_NET_ADMIN), serving unprivileged clients.

Usage: ctplug daemon [--socket PATH] [--policy FILE] [--user NAME] [--max-clients N] [--event-buffer BYTES]
                     [--nats URL [--name NAME] [--metrics ADDR:PORT] [--census S] [--agent-user NAME|UID[:GID]] [--agent-netns NS]
                      [--nats-creds FILE] [--nats-nkey FILE] [--nats-ca FILE] [--nats-cert FILE] [--nats-key FILE]]

  --socket PATH        Unix socket to serve (default ${DEFAULT_SOCKET}); clients: CTPLUG_SOCKET=PATH or --connect PATH
                       (socket-activated: where the socket unit listens, for the fleet agent to connect)
  --policy FILE        operator policy whose "clients" say who may connect and with what (default ${DEFAULT_POLICY})
  --user NAME|UID[:GID] started as root, drop to this user (default: the "ctplug" user)
  --max-clients N      connections served at once (default 64; 16 per uid)
  --event-buffer BYTES kernel receive buffer of each event subscriber (default 128 MiB)

The fleet (README "Fleet"): with --nats the daemon runs \`ctplug fleet agent --connect SOCKET\` beside
itself, a separate process without capabilities, its client like any other (restarted if it dies):
  --nats URL           NATS server(s) of the fleet; the other flags below need it
  --name NAME          this host's fleet name (default: the hostname)
  --metrics ADDR:PORT  the agent serves Prometheus /metrics here (also this daemon's requests and refusals by client)
  --census SECONDS     how often the agent takes its census for /metrics (default 15)
  --agent-user NAME|UID[:GID] started as root, the agent's user (default 65534, nobody); the policy's
                       "clients" entry for that uid bounds the fleet on top of clients.fleet
  --agent-netns NS     the namespace whose flows the agent publishes (default the daemon's own)
  --nats-creds FILE, --nats-nkey FILE, --nats-ca FILE, --nats-cert FILE, --nats-key FILE
                       NATS credentials and TLS, as for ctplug fleet agent (readable by the agent's user)

Runs in the foreground and logs to stderr. Started as root it keeps only CAP_NET_ADMIN (and
CAP_SYS_ADMIN when the policy names namespaces) under --user; see README "Daemon" for systemd.
`;

interface Flags {
  socket: string; policy: string; user?: string; maxClients?: number; eventBuffer?: number;
  /** The fleet agent's flags (AGENT_FLAGS, as the agent spells them); empty: no agent. */
  agent: string[];
  agentUser?: string;
}

class UsageError extends Error {}

function parseFlags(argv: string[]): Flags | 'help' {
  const f: Flags = { socket: DEFAULT_SOCKET, policy: DEFAULT_POLICY, agent: [] };
  const num = (k: string, v: string, max: number) => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new UsageError(`${k} ${JSON.stringify(v)}: give a number from 1 to ${max}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    if (k === '-h' || k === '--help') return 'help';
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${k} needs a value`);
      return v;
    };
    if (k === '--socket') f.socket = value();
    else if (k === '--policy') f.policy = value();
    else if (k === '--user') f.user = value();
    else if (k === '--max-clients') f.maxClients = num(k, value(), 4096);
    else if (k === '--event-buffer') f.eventBuffer = num(k, value(), 1024 * 1024 * 1024);
    else if (k === '--agent-user') f.agentUser = value();
    else if (AGENT_FLAGS[k]) f.agent.push(AGENT_FLAGS[k], value());
    else throw new UsageError(`unknown option ${JSON.stringify(argv[i])} (see ctplug daemon --help)`);
  }
  if ((f.agent.length || f.agentUser !== undefined) && !f.agent.includes('--nats')) {
    throw new UsageError('the fleet flags (--name, --metrics, --census, --agent-user, --agent-netns, --nats-*) need --nats URL');
  }
  return f;
}

const log = (line: string) => process.stderr.write(`ctplug daemon: ${line}\n`);

/** Runs the daemon until SIGTERM/SIGINT; returns the exit code. */
export async function runDaemon(argv: string[]): Promise<number> {
  let flags: Flags | 'help';
  try {
    flags = parseFlags(argv);
  } catch (e) {
    process.stderr.write(`ctplug: ${(e as Error).message}\n`);
    return EXIT.USAGE;
  }
  if (flags === 'help') {
    process.stdout.write(HELP);
    return EXIT.OK;
  }
  let policy;
  try {
    policy = loadPolicy(flags.policy);
  } catch (e) {
    process.stderr.write(`ctplug: ${(e as Error).message}; fix the policy file (see README "Daemon")\n`);
    return exitCodeOf(e);
  }
  const caps = neededCapabilities(namesOtherNetns(policy.clients));
  const handed = process.env.CTPLUG_DAEMON_FD !== undefined ? HANDED_FD
    : process.env.LISTEN_FDS === '1' && process.env.LISTEN_PID === String(process.pid) ? HANDED_FD : undefined;
  if (process.getuid?.() === 0 && handed === undefined) return dropPrivileges(flags, caps, argv);
  if (process.env.CTPLUG_DAEMON_FD === undefined && flags.agentUser !== undefined) {
    process.stderr.write('ctplug: --agent-user needs the daemon started as root (unprivileged, the agent runs as the daemon\'s own user)\n');
    return EXIT.USAGE;
  }
  const problem = capabilityProblem(capabilitySets(), caps);
  if (problem) {
    process.stderr.write(`ctplug: the daemon does not start: ${problem}\n`);
    return EXIT.PRIVILEGE;
  }
  const daemon = await startDaemon({
    socketPath: handed === undefined ? flags.socket : undefined, fd: handed, clients: policy.clients, log,
    open: (netns) => Conntrack.open({ netns }), maxClients: flags.maxClients, eventBufferBytes: flags.eventBuffer,
  });
  log(`serving ${handed === undefined ? flags.socket : `descriptor ${handed}`} as uid ${process.getuid?.()} (pid ${process.pid}), capabilities 0x${capabilitySets().eff.toString(16)}`);
  // Started as root, the root parent runs the agent (as another uid); otherwise this process does.
  const agent = flags.agent.length && process.env.CTPLUG_DAEMON_FD === undefined
    ? new FleetAgentChild({ args: flags.agent, socket: flags.socket, policy: flags.policy, setpriv: AGENT_SETPRIV_UNPRIVILEGED, log })
    : undefined;
  agent?.start();
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: stopping`);
      void (agent?.stop() ?? Promise.resolve()).then(() => daemon.close()).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM')).once('SIGINT', () => stop('SIGINT'));
  });
  return EXIT.OK;
}

/** As root: bind the socket, then run the daemon again under setpriv with it (fd 3); relay signals and the exit status. */
async function dropPrivileges(flags: Flags, caps: number[], argv: string[]): Promise<number> {
  const user = resolveUser(flags.user);
  const agentUser = flags.agent.length ? resolveUser(flags.agentUser ?? String(NOBODY)) : undefined;
  const noStart = (why: string) => {
    process.stderr.write(`ctplug: the daemon does not start: ${why}\n`);
    return EXIT.USAGE;
  };
  if (typeof user === 'string') return noStart(user);
  if (typeof agentUser === 'string') return noStart(`--agent-user: ${agentUser}`);
  const dir = dirname(flags.socket);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chownSync(dir, 0, user.gid);
  }
  removeStaleSocket(flags.socket);
  // Bound under a temporary name and renamed: closing the parent's copy (below) unlinks the name it
  // was bound to, which then no longer exists, while the socket lives on in the child.
  const bound = `${flags.socket}.${process.pid}.tmp`;
  removeStaleSocket(bound);
  const server: Server = createServer();
  await new Promise<void>((res, rej) => server.once('error', rej).listen(bound, () => res()));
  chmodSync(bound, 0o666);
  renameSync(bound, flags.socket);
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const script = process.argv[1];
  const child = spawn('setpriv', [...setprivArgs(user, caps), process.execPath, ...process.execArgv, script, ...(script.endsWith('daemon.js') ? [] : ['daemon']), ...argv], {
    stdio: ['ignore', 'inherit', 'inherit', fd],
    env: { ...process.env, CTPLUG_DAEMON_FD: String(HANDED_FD) },
  });
  server.close(); // the parent's copy only; the child serves the descriptor it inherited
  // The socket is bound: the agent's connection waits in its backlog until the daemon serves.
  const agent = agentUser ? new FleetAgentChild({ args: flags.agent, socket: flags.socket, policy: flags.policy, setpriv: agentSetprivAsRoot(agentUser), log }) : undefined;
  agent?.start();
  const relay = (sig: NodeJS.Signals) => () => {
    if (sig !== 'SIGHUP') void agent?.stop();
    child.kill(sig);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, relay(sig));
  const code = await new Promise<number>((res) => {
    child.on('error', (e) => {
      process.stderr.write(`ctplug: cannot run setpriv to drop privileges: ${e.message}; install util-linux\n`);
      res(EXIT.ENVIRONMENT);
    });
    child.on('exit', (c, s) => res(c ?? (s ? 128 + 15 : 1)));
  });
  await agent?.stop();
  removeStaleSocket(flags.socket);
  return code;
}

// `node dist/daemon.js ...` runs it too (bin/ctplug.js calls runDaemon for `ctplug daemon`).
if (process.argv[1] && /daemon\.(js|ts)$/.test(process.argv[1]) && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  runDaemon(process.argv.slice(2)).then((c) => process.exit(c), (e) => {
    process.stderr.write(`ctplug daemon: internal error: ${(e as Error)?.stack ?? e}\n`);
    process.exit(EXIT.KERNEL);
  });
}
