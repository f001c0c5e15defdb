// The socket seam: the native addon in production, a fake kernel in unit tests and the test kit.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { arch, platform } from 'node:process';
import { packageRoot } from '../paths.js';
import { AbortError } from './abort.js';
import { NetlinkError } from './errors.js';
import type { FdLedger } from './fd-ledger.js';

export interface NetlinkSocketLike {
  send(data: Uint8Array): number;
  /**
   * Receives one datagram into `buf`. Blocks until the kernel answers (synchronous request/answer
   * exchanges, which the kernel answers at once); with `dontwait`, -1 when nothing is queued.
   */
  recv(buf: Uint8Array, dontwait?: boolean): number;
  /**
   * Settles once something is queued to receive: readiness on this thread's event loop (epoll),
   * so no thread waits. Rejects with AbortError when `signal` aborts or the socket is closed.
   */
  readable(signal?: AbortSignal): Promise<void>;
  setsockopt(level: number, name: number, value: number | Uint8Array): void;
  getsockopt(level: number, name: number): number;
  /** Attaches a classic BPF program (8-byte sock_filter records) to filter what is received. */
  attachFilter(program: Uint8Array): void;
  close(): void;
}

interface NativeBinding {
  open(protocol: number, netnsPath?: string): number;
  send(fd: number, data: Uint8Array): number;
  recv(fd: number, buf: Uint8Array, dontwait?: boolean): number;
  setsockopt(fd: number, level: number, name: number, value: number | Uint8Array): void;
  getsockopt(fd: number, level: number, name: number): number;
  getsockopt(fd: number, level: number, name: number, len: number): Uint8Array;
  attachFilter(fd: number, program: Uint8Array): void;
  close(fd: number): void;
  watch(fd: number, onReady: (status: number) => void): object;
  watchStart(w: object): void;
  watchStop(w: object): void;
  watchClose(w: object): void;
}

let binding: NativeBinding | undefined;

/**
 * Where the addon is looked for: a build from source (npm install in a clone, or the package's
 * install script where no prebuilt binary loads), then the prebuilt binary shipped in the package.
 */
export function addonPaths(root = packageRoot()): string[] {
  return [
    join(root, 'host', 'native', 'build', 'Release', 'ctplug_netlink.node'),
    join(root, 'prebuilds', `${platform}-${arch}`, 'ctplug_netlink.node'),
  ];
}

function native(): NativeBinding {
  if (!binding) {
    const require = createRequire(import.meta.url);
    const paths = addonPaths();
    for (const path of paths) {
      try {
        binding = require(path) as NativeBinding;
        break;
      } catch {
        // not built here, or built for another platform: try the next
      }
    }
    if (!binding) {
      throw new NetlinkError('ENOADDON', 0, `the native addon is not built (looked for ${paths.join(', ')})`);
    }
  }
  return binding;
}

/** Re-throws the addon's errno errors as NetlinkError; anything else is a bug and stays as is. */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toNetlinkError(e);
  }
}

function toNetlinkError(e: unknown): unknown {
  const err = e as { code?: string; errno?: number; message?: string };
  return typeof err?.code === 'string' && typeof err.errno === 'number'
    ? new NetlinkError(err.code, err.errno, err.message ?? err.code)
    : e;
}

let ledger: FdLedger | undefined;

/** Lists every socket this thread opens in `l` until it is closed (plugin workers; see FdLedger). */
export function recordSocketsIn(l: FdLedger): void {
  ledger = l;
}

/** Closes the sockets an exited worker left in its ledger. */
export function closeLeftovers(l: FdLedger): number {
  const fds = l.take();
  if (fds.length) {
    const n = native();
    for (const fd of fds) {
      try {
        n.close(fd);
      } catch {
        // already closed: nothing to release
      }
    }
  }
  return fds.length;
}

/**
 * getsockopt on any socket this process holds (e.g. an accepted Unix socket: its SO_PEERCRED):
 * the bytes the kernel wrote, at most `len`.
 */
export function socketOptionBytes(fd: number, level: number, name: number, len: number): Uint8Array {
  return wrap(() => native().getsockopt(fd, level, name, len));
}

/** Opens a netlink socket of `protocol`, inside the network namespace at `netnsPath` if given. */
export function openNetlinkSocket(protocol: number, netnsPath?: string): NetlinkSocketLike {
  const n = native();
  const fd = wrap(() => n.open(protocol, netnsPath));
  if (ledger && !ledger.add(fd)) {
    n.close(fd);
    throw new NetlinkError('EMFILE', 24, 'a plugin worker may hold at most 8 netlink sockets');
  }
  let open = true;
  let watcher: object | undefined;
  /** The one wait in progress: settled by the watcher, an abort, or close. */
  let wait: { resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal; onAbort: () => void } | undefined;
  const settle = (err?: unknown) => {
    const w = wait;
    if (!w) return;
    wait = undefined;
    w.signal?.removeEventListener('abort', w.onAbort);
    if (err === undefined) w.resolve();
    else w.reject(err);
  };
  // An error status is a pending socket error (POLLERR: ENOBUFS after an overrun): the next recv returns it.
  const onReady = () => settle();
  return {
    send: (data) => wrap(() => n.send(fd, data)),
    recv: (buf, dontwait) => wrap(() => n.recv(fd, buf, dontwait)),
    readable(signal) {
      if (!open) return Promise.reject(new AbortError('waiting for the kernel', 'the socket is closed'));
      if (signal?.aborted) return Promise.reject(new AbortError('waiting for the kernel', signal.reason));
      if (wait) return Promise.reject(new Error('ctplug bug: two waits on one netlink socket'));
      watcher ??= wrap(() => n.watch(fd, onReady));
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          n.watchStop(watcher!);
          settle(new AbortError('waiting for the kernel', signal!.reason));
        };
        wait = { resolve, reject, signal, onAbort };
        signal?.addEventListener('abort', onAbort, { once: true });
        wrap(() => n.watchStart(watcher!));
      });
    },
    setsockopt: (level, name, value) => wrap(() => n.setsockopt(fd, level, name, value)),
    getsockopt: (level, name) => wrap(() => n.getsockopt(fd, level, name)),
    attachFilter: (program) => wrap(() => n.attachFilter(fd, program)),
    close: () => {
      if (!open) return;
      open = false;
      if (watcher) n.watchClose(watcher); // stops the poll first: the fd may be closed after it
      watcher = undefined;
      settle(new AbortError('waiting for the kernel', 'the socket is closed'));
      ledger?.remove(fd);
      n.close(fd);
    },
  };
}
