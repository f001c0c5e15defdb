// What a process holds, read from /proc: open sockets, threads, resident memory; and which sockets in
// a network namespace are subscribed to conntrack events. For the lifetime and soak tests.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Open file descriptors of this process that are sockets. */
export function openSockets(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed while we looked (the readdir's own fd)
    }
  }
  return n;
}

export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function status(key: string): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'));
  return m ? Number(m[1]) : NaN;
}

export const threads = () => status('Threads');
/** Resident set size, KiB. */
export const rssKiB = () => status('VmRSS');

/** NETLINK_NETFILTER sockets in `ns` that are subscribed to multicast groups (conntrack events). */
export function eventSubscribers(ns: string): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netlink'], { encoding: 'utf8' });
  return r.stdout.split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((c) => c[1] === '12' && c[3] !== undefined && !/^0+$/.test(c[3])).length;
}

/** Threads of this process blocked in a receive system call right now (/proc/self/task/N/syscall). */
export function threadsInRecv(): number {
  // recvfrom, recvmsg (x86_64: 45, 47; arm64: 207, 212)
  const recv = process.arch === 'arm64' ? ['207', '212'] : ['45', '47'];
  let n = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (recv.includes(readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8').split(' ')[0])) n++;
    } catch {
      // the thread ended while we looked
    }
  }
  return n;
}
