// The socket seam: the native addon in production, a fake kernel in unit tests and the test kit.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { NetlinkError } from './errors.js';

export interface NetlinkSocketLike {
  send(data: Uint8Array): number;
  /** Blocking receive into `buf` (worker threads). With `dontwait`, -1 when nothing is queued. */
  recv(buf: Uint8Array, dontwait?: boolean): number;
  /** Receive without blocking the event loop. */
  recvAsync(buf: Uint8Array): Promise<number>;
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
  recvAsync(fd: number, buf: Uint8Array): Promise<number>;
  setsockopt(fd: number, level: number, name: number, value: number | Uint8Array): void;
  getsockopt(fd: number, level: number, name: number): number;
  attachFilter(fd: number, program: Uint8Array): void;
  close(fd: number): void;
}

let binding: NativeBinding | undefined;

function native(): NativeBinding {
  if (!binding) {
    const path = join(packageRoot(), 'host', 'native', 'build', 'Release', 'ctplug_netlink.node');
    try {
      binding = createRequire(import.meta.url)(path) as NativeBinding;
    } catch (e) {
      throw new NetlinkError('ENOADDON', 0, `the native addon is not built (${path}): run \`npm install\` or \`npm run build\``);
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

/** Opens a netlink socket of `protocol`, inside the network namespace at `netnsPath` if given. */
export function openNetlinkSocket(protocol: number, netnsPath?: string): NetlinkSocketLike {
  const n = native();
  const fd = wrap(() => n.open(protocol, netnsPath));
  let open = true;
  return {
    send: (data) => wrap(() => n.send(fd, data)),
    recv: (buf, dontwait) => wrap(() => n.recv(fd, buf, dontwait)),
    recvAsync: (buf) => n.recvAsync(fd, buf).catch((e) => Promise.reject(toNetlinkError(e))),
    setsockopt: (level, name, value) => wrap(() => n.setsockopt(fd, level, name, value)),
    getsockopt: (level, name) => wrap(() => n.getsockopt(fd, level, name)),
    attachFilter: (program) => wrap(() => n.attachFilter(fd, program)),
    close: () => {
      if (open) (open = false), n.close(fd);
    },
  };
}
