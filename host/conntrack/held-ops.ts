// ConntrackOps over entries the host already fetched (a `get` answer, the dying or unconfirmed
// table, a -z dump): a read-only plugin run renders them as it renders a listing. Dumps replay
// them in receive-buffer-sized batches (the filter is ignored: a dump is a superset, and the gate
// re-checks every entry); nothing can be changed, and no event ever comes.
import { RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { splitMessages } from '../netlink/message.js';
import type { ConntrackOps, OpsCursor } from './ops.js';

const readOnly = (): never => {
  throw new Error('a held table is read-only');
};

/** `table`: entry messages back to back, as a dump carries them. */
export function heldOps(table: Uint8Array): ConntrackOps {
  return {
    dump(): OpsCursor {
      const messages = splitMessages(table);
      let pending: Uint8Array | undefined;
      let stopped = false;
      return {
        next() {
          if (stopped) return null;
          const first = pending ?? messages.next().value;
          if (!first) return null;
          // messages are views into `table`, back to back: a batch is the span of whole ones that fit
          const start = first.byteOffset - table.byteOffset;
          let end = start + first.length;
          let count = 1;
          pending = undefined;
          for (let m = messages.next(); !m.done; m = messages.next()) {
            if (end - start + m.value.length > RECV_BUFFER_BYTES) {
              pending = m.value;
              break;
            }
            end += m.value.length;
            count++;
          }
          return { entries: table.subarray(start, end), count };
        },
        stop() {
          stopped = true;
        },
      };
    },
    delete: readOnly,
    update: readOnly,
    create: readOnly,
    flush: readOnly,
    subscribe: () => ({ read: async () => null, close() {} }),
  };
}
