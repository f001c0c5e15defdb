// Dump cursors (NetlinkConnection.dumpCursor) put to use: pulled to the end, or several run as one.
/** One received buffer's entries, whole messages back to back (a view, reused by the next). */
export interface DumpBatch {
  entries: Uint8Array;
  count: number;
}

export interface DumpProgress {
  messages: number;
  batches: number;
  restarts: number;
}

export const emptyProgress = (): DumpProgress => ({ messages: 0, batches: 0, restarts: 0 });

/** A dump pulled one batch at a time (NetlinkConnection.dumpCursor). */
export interface DumpCursor {
  /** The next batch (a view, reused by the following call), or null when the dump is over. */
  next(): DumpBatch | null;
  /** Ends the dump early; what the kernel still sends is received and dropped. */
  stop(): void;
  /** Batches and entries handed out so far, and restarts. */
  readonly progress: DumpProgress;
}

/** Pulls a cursor to its end, handing each batch to `onBatch`; false from it stops the dump. */
export function drainCursor(c: DumpCursor, onBatch: (entries: Uint8Array, count: number) => boolean | void): DumpProgress {
  for (let b; (b = c.next()); ) {
    if (onBatch(b.entries, b.count) === false) {
      c.stop();
      break;
    }
  }
  return c.progress;
}

/** Several dumps, started one after the other, as one cursor (progress summed): a planned filter's dumps. */
export function chainCursors(cursors: (() => DumpCursor)[]): DumpCursor {
  const progress = emptyProgress();
  let i = 0;
  let cur: DumpCursor | undefined;
  let base = emptyProgress();
  const sync = () => {
    if (!cur) return;
    progress.messages = base.messages + cur.progress.messages;
    progress.batches = base.batches + cur.progress.batches;
    progress.restarts = base.restarts + cur.progress.restarts;
  };
  const finish = () => {
    sync();
    base = { ...progress };
    cur = undefined;
  };
  return {
    progress,
    next() {
      for (;;) {
        if (!cur) {
          if (i >= cursors.length) return null;
          cur = cursors[i++]();
        }
        const b = cur.next();
        sync();
        if (b) return b;
        finish();
      }
    },
    stop() {
      cur?.stop();
      if (cur) finish();
      i = cursors.length;
    },
  };
}
