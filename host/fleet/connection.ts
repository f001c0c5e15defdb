// Opening NATS for the agent and the operator's commands, with the credentials NATS deployments use:
// a .creds file (JWT + nkey seed, from `nsc`), a bare nkey seed file, and TLS (server CA, client
// cert/key for mutual TLS; a tls:// URL asks for TLS). Secrets are read from files, never flags.
import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/nats-core';
import { CtError } from '../conntrack/errors.js';

export interface NatsAuth {
  /** A .creds file (user JWT + nkey seed). */
  creds?: string;
  /** A file holding an nkey seed (SU...). */
  nkey?: string;
  /** TLS: CA bundle for the server's certificate, and a client certificate/key for mutual TLS. */
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export interface NatsOpenOptions extends NatsAuth {
  servers: string | string[];
  name: string;
  /** Keep trying when the first connect fails (the agent: NATS may come later). */
  waitOnFirstConnect?: boolean;
}

function readSecret(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CtError('nats', 'EINVAL', 'usage', `cannot read the ${what} ${path}: ${(e as Error).message}`);
  }
}

export function natsOptions(o: NatsOpenOptions): ConnectionOptions {
  const opts: ConnectionOptions = {
    servers: o.servers, name: o.name,
    maxReconnectAttempts: -1, reconnectTimeWait: 250, reconnectJitter: 100, pingInterval: 10_000,
    waitOnFirstConnect: o.waitOnFirstConnect ?? false,
  };
  if (o.creds && o.nkey) throw new CtError('nats', 'EINVAL', 'usage', 'give --nats-creds or --nats-nkey, not both (a .creds file holds its own nkey)');
  if (o.creds) opts.authenticator = credsAuthenticator(readSecret(o.creds, 'NATS credentials file'));
  if (o.nkey) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(new TextDecoder().decode(readSecret(o.nkey, 'nkey seed file')).trim()));
  if (o.tlsCa || o.tlsCert || o.tlsKey) {
    if (!!o.tlsCert !== !!o.tlsKey) throw new CtError('nats', 'EINVAL', 'usage', 'a TLS client certificate needs its key (and the key its certificate)');
    opts.tls = { caFile: o.tlsCa, certFile: o.tlsCert, keyFile: o.tlsKey };
  }
  return opts;
}

export async function openNats(o: NatsOpenOptions): Promise<NatsConnection> {
  try {
    return await connect(natsOptions(o));
  } catch (e) {
    if (e instanceof CtError) throw e;
    const servers = Array.isArray(o.servers) ? o.servers.join(',') : o.servers;
    throw new CtError('nats', 'ECONNREFUSED', 'environment', `cannot connect to NATS at ${servers}: ${(e as Error).message}`, {
      hint: 'check --nats URL and that nats-server is running (with -js for JetStream)',
    });
  }
}
