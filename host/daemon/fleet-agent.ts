// `ctplug daemon --nats URL` runs the fleet agent BESIDE the daemon, never in it: a child process
// (`ctplug fleet agent --connect SOCKET ...`, the CLI bundle) with no capability at all, a client of
// this daemon like any other, so the daemon's entry for the agent's uid bounds what the fleet can do
// on top of the policy's clients.fleet. This module only spawns and watches it: the daemon process
// never loads NATS, prom-client or the plugin runtime (test/unit/daemon-bundle.test.ts).
// Which uid the agent runs as: started as root, the root parent spawns it under setpriv as
// --agent-user (default 65534, nobody: not the daemon's own uid, so it can neither signal nor trace
// the daemon); started unprivileged (systemd), the daemon cannot change uid, so the agent runs as the
// daemon's user with every capability set it could inherit cleared. Either way: no new privileges.
// An agent that exits is restarted with a growing delay (1 s doubling to 30 s; back to 1 s after a
// minute up), except after a usage error (exit 2), which a restart would only repeat.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { EXIT } from '../exit-codes.js';

/** The agent's flags `ctplug daemon` takes and hands on, by the daemon's name -> the agent's. */
export const AGENT_FLAGS: Record<string, string> = {
  '--nats': '--nats', '--name': '--name', '--metrics': '--metrics', '--census': '--census', '--agent-netns': '--netns',
  '--nats-creds': '--nats-creds', '--nats-nkey': '--nats-nkey', '--nats-ca': '--nats-ca', '--nats-cert': '--nats-cert', '--nats-key': '--nats-key',
};

export interface AgentSpec {
  /** The agent's own flags (AGENT_FLAGS mapped), --nats among them. */
  args: string[];
  /** The daemon's socket (the agent connects to it) and policy file (the agent reads clients.fleet there). */
  socket: string;
  policy: string;
  /** setpriv's arguments before the command: the uid and the capability sets to drop to. */
  setpriv: string[];
  log: (line: string) => void;
}

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30_000;
const STABLE_MS = 60_000;

/** The CLI beside this daemon: bin/ctplug.js, or cli.cjs next to daemon.js in a bundle folder. */
function cliEntry(script = process.argv[1]): string {
  return script.endsWith('daemon.js') ? join(dirname(script), 'cli.cjs') : script;
}

/** setpriv arguments, started as root: `user`, no groups, no capability in any set. */
export function agentSetprivAsRoot(user: { uid: number; gid: number }): string[] {
  return [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
}

/** setpriv arguments, started unprivileged: this uid; the inheritable and ambient sets cleared (so execve leaves none). */
export const AGENT_SETPRIV_UNPRIVILEGED = ['--inh-caps=-all', '--ambient-caps=-all', '--no-new-privs', '--'];

export class FleetAgentChild {
  private child?: ChildProcess;
  private stopped = false;
  private delay = MIN_DELAY_MS;
  private timer?: NodeJS.Timeout;
  private exited?: Promise<void>;

  constructor(private readonly spec: AgentSpec) {}

  /** The running agent's pid (tests read its /proc status). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopped) return;
    const { spec } = this;
    const argv = [...spec.setpriv, process.execPath, cliEntry(), 'fleet', 'agent', '--connect', resolve(spec.socket), '--policy', resolve(spec.policy), ...spec.args];
    const env = { ...process.env };
    for (const k of ['CTPLUG_DAEMON_FD', 'CTPLUG_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET']) delete env[k];
    const started = Date.now();
    const child = spawn('setpriv', argv, { stdio: ['ignore', 'ignore', 'inherit'], env });
    this.child = child;
    this.exited = new Promise<void>((done) => {
      child.once('error', (e) => {
        spec.log(`fleet agent: cannot run setpriv (${e.message}); install util-linux. Not restarted.`);
        this.child = undefined;
        done();
      });
      child.once('spawn', () => spec.log(`fleet agent started (pid ${child.pid}), without capabilities`));
      child.once('exit', (code, signal) => {
        this.child = undefined;
        done();
        if (this.stopped) return;
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        if (code === EXIT.USAGE) {
          spec.log(`fleet agent (pid ${child.pid}) ${how} (a usage error: see its line above); not restarted, fix the daemon's fleet flags`);
          return;
        }
        if (Date.now() - started >= STABLE_MS) this.delay = MIN_DELAY_MS;
        spec.log(`fleet agent (pid ${child.pid}) ${how}; restarting in ${this.delay / 1000} s`);
        this.timer = setTimeout(() => this.start(), this.delay);
        this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
      });
    });
  }

  /** Stops the agent (SIGTERM, SIGKILL after 5 s) and its restarts. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const c = this.child;
    if (!c) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}
