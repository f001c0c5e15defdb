// The daemon's listener: a Unix stream socket (a path, or a descriptor handed over by systemd
// socket activation or by the root parent that dropped privileges), one Session per connection,
// each identified by its peer credentials. Connections are capped in total and per uid; one over
// a cap gets an ERROR frame and is closed.
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Conntrack } from '../conntrack/conntrack.js';
import { STATUS } from '../policy/abi.js';
import type { Clients } from '../policy/clients.js';
import { encodeFrame, FRAME } from '../wire/frame.js';
import { encodeError } from '../wire/records.js';
import { peerCredentials } from './peer.js';
import { type ClientCounters, Session } from './session.js';

export interface DaemonOptions {
  /** Listen on this path (created 0666: who may do what is the policy's to say), or on `fd`. */
  socketPath?: string;
  fd?: number;
  clients: Clients;
  open(netns: string | undefined): Conntrack;
  log(line: string): void;
  maxClients?: number;
  maxPerUid?: number;
  eventBufferBytes?: number;
}

export interface RunningDaemon {
  server: Server;
  sessions(): number;
  close(): Promise<void>;
}

export const MAX_CLIENTS = 64;
export const MAX_PER_UID = 16;

export function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const sessions = new Set<Session>();
  const counters: ClientCounters = new Map();
  const perUid = new Map<number, number>();
  const maxClients = o.maxClients ?? MAX_CLIENTS, maxPerUid = o.maxPerUid ?? MAX_PER_UID;
  const refuse = (sock: Socket, why: string) => {
    o.log(`refused a connection: ${why}`);
    sock.end(encodeFrame(FRAME.ERROR, 0, 0, encodeError(STATUS.E_LIMIT, why)));
    setTimeout(() => sock.destroy(), 1000).unref();
  };
  const server = createServer({ allowHalfOpen: false }, (sock) => {
    let peer;
    try {
      peer = peerCredentials(sock);
    } catch (e) {
      o.log(`dropped a connection: ${(e as Error).message}`);
      return sock.destroy();
    }
    if (sessions.size >= maxClients) return refuse(sock, `the daemon serves at most ${maxClients} connections`);
    const n = perUid.get(peer.uid) ?? 0;
    if (n >= maxPerUid) return refuse(sock, `uid ${peer.uid} has ${n} connections open (at most ${maxPerUid})`);
    perUid.set(peer.uid, n + 1);
    const s: Session = new Session(sock, peer, { clients: o.clients, counters, open: o.open, log: o.log, eventBufferBytes: o.eventBufferBytes }, () => {
      if (sessions.delete(s)) perUid.set(peer.uid, (perUid.get(peer.uid) ?? 1) - 1);
    });
    sessions.add(s);
  });
  server.maxConnections = maxClients * 2; // beyond this the kernel backlog holds them; the cap above answers
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = () => {
      server.off('error', reject);
      server.on('error', (e) => o.log(`listener error: ${e.message}`));
      if (o.socketPath !== undefined && o.fd === undefined) chmodSync(o.socketPath, 0o666);
      resolve({
        server,
        sessions: () => sessions.size,
        close: () => new Promise<void>((res) => {
          for (const s of sessions) s.end();
          server.close(() => res());
        }),
      });
    };
    if (o.fd !== undefined) server.listen({ fd: o.fd }, ready);
    else {
      removeStaleSocket(o.socketPath!);
      server.listen(o.socketPath!, ready);
    }
  });
}

/** A socket file left by a daemon that died is removed; anything else at the path is left alone (listen fails). */
export function removeStaleSocket(path: string): void {
  if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
}
