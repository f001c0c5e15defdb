// Whether this `ctplug` is a client of `ctplug daemon`, and at which socket: `--connect PATH`,
// else CTPLUG_SOCKET, else, for a non-root user, the default socket when it exists. Root without
// either works directly (the privileged core in this process), as before the daemon existed.
// A client holds no capability: plugins run here, in their workers, and every operation goes to
// the daemon, which enforces this user's entry in its policy.
import { existsSync } from 'node:fs';

export const DEFAULT_DAEMON_SOCKET = '/run/ctplug/ctplug.sock';

let chosen: string | undefined;

/** `--connect PATH` (main.ts takes it out of the command line before parsing). */
export function connectTo(path: string): void {
  chosen = path;
}

/** The daemon socket to use, or undefined: direct mode. */
export function daemonSocket(): string | undefined {
  if (chosen !== undefined) return chosen;
  if (process.env.CTPLUG_SOCKET) return process.env.CTPLUG_SOCKET;
  if (process.getuid?.() !== 0 && existsSync(DEFAULT_DAEMON_SOCKET)) return DEFAULT_DAEMON_SOCKET;
  return undefined;
}

/** Takes `--connect PATH` / `--connect=PATH` out of argv (any position); returns the rest. */
export function takeConnect(argv: string[]): string[] {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--connect' && i + 1 < argv.length) connectTo(argv[++i]);
    else if (a.startsWith('--connect=')) connectTo(a.slice('--connect='.length));
    else rest.push(a);
  }
  return rest;
}
