// Who is at the other end of an accepted Unix socket, as the kernel says: SO_PEERCRED (pid, uid,
// gid at connect time) and SO_PEERGROUPS (its supplementary groups). Node exposes an accepted
// socket's fd as `_handle.fd`; the option is read through the addon's getsockopt.
import type { Socket } from 'node:net';
import { socketOptionBytes } from '../netlink/socket.js';
import type { PeerCredentials } from '../policy/clients.js';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SO_PEERGROUPS = 59;
/** Room for 1024 groups; a peer in more has only its primary gid considered. */
const GROUPS_BYTES = 4096;

export function peerCredentials(sock: Socket): PeerCredentials {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the connection has no file descriptor to ask for peer credentials');
  const c = socketOptionBytes(fd, SOL_SOCKET, SO_PEERCRED, 12);
  const v = new DataView(c.buffer, c.byteOffset, c.length);
  let groups: number[] = [];
  try {
    const g = socketOptionBytes(fd, SOL_SOCKET, SO_PEERGROUPS, GROUPS_BYTES);
    const gv = new DataView(g.buffer, g.byteOffset, g.length);
    groups = Array.from({ length: g.length >> 2 }, (_, i) => gv.getUint32(4 * i, true));
  } catch {
    // ERANGE (more groups than fit): only the primary gid is considered
  }
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true), groups };
}
