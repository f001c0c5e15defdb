// Receiving without blocking the event loop or a thread: take what is queued (recv with dontwait),
// and when nothing is, wait for readiness (the addon's uv_poll watcher) and try again.
import { AbortError, throwIfAborted } from './abort.js';
import type { NetlinkSocketLike } from './socket.js';

/**
 * Receives after this many datagrams in a row that were already queued, the next one only after
 * the event loop had a turn: a big dump is mostly queued data, and must not starve timers and I/O.
 */
const TURN_EVERY = 16;

export class Receiver {
  private inARow = 0;

  constructor(private readonly sock: NetlinkSocketLike) {}

  /** One datagram into `buf`: its length. Rejects with AbortError once `signal` aborts. */
  async next(buf: Uint8Array, signal?: AbortSignal, what = 'receive'): Promise<number> {
    for (;;) {
      throwIfAborted(signal, what);
      if (++this.inARow > TURN_EVERY) {
        this.inARow = 0;
        await new Promise((r) => setImmediate(r));
        throwIfAborted(signal, what);
      }
      const n = this.sock.recv(buf, true);
      if (n >= 0) return n;
      this.inARow = 0;
      try {
        await this.sock.readable(signal);
      } catch (e) {
        throw e instanceof AbortError ? new AbortError(what, signal?.aborted ? signal.reason : 'the socket is closed') : e;
      }
    }
  }
}
