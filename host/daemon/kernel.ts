// The daemon's side of one session against the kernel: a Conntrack in the session's namespace
// for requests answered at once (deletes, updates, creates, flushes, get, stats), and a socket
// of its own for every dump, so a dump streamed to a slow client never shares a socket with the
// requests that arrive meanwhile (a plugin deletes while it is being shown a dump). What the
// kernel answered each batch request is recorded, so the reply can say it (RESULT).
import type { BatchResult, Conntrack } from '../conntrack/conntrack.js';
import { type ConntrackOps, kernelOps, type OpsCursor, then } from '../conntrack/ops.js';
import { RECV_BUFFER_BYTES } from '../netlink/connection.js';

export interface SessionKernel {
  /** The gate's operations; batch results are appended to `results`. */
  ops: ConntrackOps;
  /** What the batch operations since the last take() answered (undefined: a flush done in one request). */
  results: (BatchResult | undefined)[];
  ct: Conntrack;
  /** Dump sockets open now (each dump stream holds one). */
  openDumps(): number;
  close(): void;
}

/** `open` opens a Conntrack in the session's namespace (the kernel's, or a fake one in tests). */
export function sessionKernel(open: () => Conntrack, netns: string | undefined, eventBufferBytes?: number): SessionKernel {
  const ct = open();
  const base = kernelOps(ct, { netns, eventBufferBytes });
  const results: (BatchResult | undefined)[] = [];
  const dumps = new Set<Conntrack>();
  const record = <T extends BatchResult | undefined>(r: T | Promise<T>) => then(r, (x) => { results.push(x); return x; });
  const ops: ConntrackOps = {
    ...base,
    delete: (entries, confirm) => record(base.delete(entries, confirm)),
    update: (items, confirm) => record(base.update(items, confirm)),
    create: (entries) => record(base.create(entries)),
    flush: (filter, confirm) => record(base.flush(filter, confirm)),
    dump(filter, onRestart): OpsCursor {
      const own = open();
      dumps.add(own);
      const end = () => {
        if (dumps.delete(own)) own.close();
      };
      try {
        const c = own.dumpCursor(filter, new Uint8Array(RECV_BUFFER_BYTES), onRestart);
        return {
          next: () => {
            try {
              const b = c.next();
              if (!b) end();
              return b;
            } catch (e) {
              end();
              throw e;
            }
          },
          stop: () => {
            try {
              c.stop();
            } finally {
              end();
            }
          },
        };
      } catch (e) {
        end();
        throw e;
      }
    },
  };
  return {
    ops, results, ct,
    openDumps: () => dumps.size,
    close() {
      for (const d of dumps) d.close();
      dumps.clear();
      ct.close();
    },
  };
}
