// Event-listening helpers for kernel tests that run `conntrack -E` and `ctplug events` side by side.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Conntrack } from '../../host/conntrack/conntrack.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Listener { child: ChildProcess; out: () => string; err: () => string; done: Promise<number> }

/** Spawns `argv` and collects its stdout/stderr as it comes. */
export function listen(argv: string[]): Listener {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return { child, out: () => out, err: () => err, done };
}

/** The exit code, or -2 when the process has not ended within `ms`. */
export const exitWithin = (l: Listener, ms: number) => Promise.race([l.done, sleep(ms).then(() => -2)]);

/**
 * Churns a zone-99 probe entry through `ct` until every `ready()` says its listener saw one (then
 * they are all subscribed). Tests drop the probe's lines with eventLines.
 */
export async function untilListening(ct: Conntrack, ready: (() => boolean)[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    ct.createSync([{ family: 'ipv4', protocol: 'udp', src: '10.99.0.1', dst: '10.99.0.2', sport: 1000 + i, dport: 9, timeout: 30, zone: 99 }]);
    ct.flushSync({ zone: 99 });
    await sleep(100);
    if (ready.every((r) => r())) return;
  }
  throw new Error('listeners never saw the probe events');
}

/** Saw a zone-99 probe line. */
export const sawProbe = (out: () => string) => () => / zone=99\b/.test(out());

/**
 * Event lines comparable across the two tools: probe lines dropped, the timeout removed (the two
 * listeners may print it a tick apart). Both print " [USERSPACE] portid=N" on events a netlink
 * request caused; conntrack 1.4.7 then adds " progname=NAME" when it finds the process in /proc
 * (a plugin cannot), so that is cut.
 */
export const eventLines = (text: string) => text.split('\n').filter((l) => /^\s*\[(NEW|UPDATE|DESTROY)\]/.test(l) && !/ zone=99\b/.test(l))
  .map((l) => l.replace(/^(\s*\[\w+\]\s+(?:ipv[46]\s+\d+\s+)?\S+\s+\d+ )\d+ /, '$1').replace(/ progname=\S+$/, ''));
