// The sockets a plugin worker holds, listed where the main thread can read them. File descriptors
// belong to the process, not the thread: a worker that is terminated (a plugin past its deadline,
// Plugin.close during a run) runs no cleanup of its own, so once it has exited the main thread
// closes whatever the ledger still lists. Slots hold fd + 1 (0 = free).
export const LEDGER_SLOTS = 8;

export class FdLedger {
  private readonly slots: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4 * LEDGER_SLOTS)) {
    this.slots = new Int32Array(buffer);
  }

  /** Records an open fd; false when every slot is taken (the caller must not keep the fd). */
  add(fd: number): boolean {
    for (let i = 0; i < this.slots.length; i++) if (Atomics.compareExchange(this.slots, i, 0, fd + 1) === 0) return true;
    return false;
  }

  /** Forgets an fd, before it is closed (a worker terminated in between leaks it: the safe side). */
  remove(fd: number): void {
    for (let i = 0; i < this.slots.length; i++) if (Atomics.compareExchange(this.slots, i, fd + 1, 0) === fd + 1) return;
  }

  /** The fds still listed, forgotten as they are returned. Only once the owner has exited. */
  take(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const v = Atomics.exchange(this.slots, i, 0);
      if (v) out.push(v - 1);
    }
    return out;
  }
}
