// Dumps of the conntrack tables a plain dump does not reach, over a socket of their own:
//   dying        entries being destroyed (IPCTNL_MSG_CT_GET_DYING), conntrack -L dying
//   unconfirmed  entries not yet in the table (IPCTNL_MSG_CT_GET_UNCONFIRMED), conntrack -L unconfirmed
//   zero         the table, each entry's counters zeroed as it is reported (IPCTNL_MSG_CT_GET_CTRZERO),
//                conntrack -L -z: the counters shown are those until the zeroing
// The entries are whole kernel messages, as a dump delivers them; what to print is the list
// plugin's (host/cli/held-list.ts hands them over).
import type { Encoder } from '../netlink/attr.js';
import { NETLINK_NETFILTER, NLM_F_DUMP, NLM_F_REQUEST } from '../netlink/constants.js';
import { NetlinkConnection, RECV_BUFFER_BYTES } from '../netlink/connection.js';
import { beginMessage, endMessage } from '../netlink/message.js';
import { openNetlinkSocket } from '../netlink/socket.js';
import { AF_UNSPEC, msgType } from './constants.js';
import { fromNetlink } from './errors.js';
import { familyNumber, netnsPath, type Family } from './validate.js';

/** IPCTNL_MSG_CT_GET_CTRZERO, _GET_DYING, _GET_UNCONFIRMED (linux/netfilter/nfnetlink_conntrack.h). */
const MESSAGE = { zero: 3, dying: 6, unconfirmed: 7 } as const;
export type TableDumpKind = keyof typeof MESSAGE;

export function tableDumpRequest(enc: Encoder, seq: number, kind: TableDumpKind, family?: Family): void {
  endMessage(enc, beginMessage(enc, msgType(MESSAGE[kind]), NLM_F_REQUEST | NLM_F_DUMP, seq, family ? familyNumber(family) : AF_UNSPEC));
}

/**
 * One such dump in `netns`: `onBatch` gets each received buffer's entries (a view, reused by the
 * next), as Conntrack.dumpSync hands them over. Errors are CtErrors, as Conntrack's.
 */
export function dumpTableSync(netns: string | undefined, kind: TableDumpKind, family: Family | undefined, onBatch: (entries: Uint8Array, count: number) => void): void {
  const path = netns === undefined ? undefined : netnsPath(netns);
  let conn: NetlinkConnection;
  try {
    const sock = openNetlinkSocket(NETLINK_NETFILTER, path);
    try {
      conn = new NetlinkConnection(sock);
    } catch (e) {
      sock.close();
      throw e;
    }
  } catch (e) {
    throw fromNetlink('open', e);
  }
  try {
    conn.dumpSync((enc, seq) => tableDumpRequest(enc, seq, kind, family), new Uint8Array(RECV_BUFFER_BYTES), onBatch);
  } catch (e) {
    throw fromNetlink(kind === 'zero' ? 'dump' : `dump ${kind}`, e);
  } finally {
    conn.close();
  }
}
