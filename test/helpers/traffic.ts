// Real packets between two throwaway namespaces, so the kernel itself creates, counts and labels
// entries. Since Linux 4.15 a namespace tracks traffic only when its ruleset asks for conntrack,
// so the client side gets a one-rule nft table; that rule also sets a label, which gives the
// namespace connlabel room (without it the kernel refuses CTA_LABELS).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeNetns, removeNetns } from './netns.js';

/** The label bit the client's nft rule sets on every new connection. */
export const RULE_LABEL = 3;

/**
 * Loads a one-rule nft table into `ns` that sets label RULE_LABEL on new outgoing connections.
 * A ruleset that uses ct labels is what gives a namespace connlabel room (and turns on tracking).
 */
export function connlabelRoom(ns: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
    input: `table inet ctplug_test {\n chain out {\n  type filter hook output priority 0;\n  ct state new ct label set ${RULE_LABEL}\n }\n}\n`,
  });
}

/** Why real-traffic tests cannot run here (no nft), or undefined. CI installs nftables. */
export function trafficSkipReason(): string | undefined {
  if (spawnSync('nft', ['--version']).status !== 0) return 'nft (nftables) is not installed: apt-get install -y nftables';
  return undefined;
}

export interface TrafficPair {
  /** The namespace whose conntrack table the tests read (it tracks its own outgoing flows). */
  client: string;
  server: string;
  clientAddr: string;
  serverAddr: string;
  /** Sends `rounds` UDP datagrams from the client to serverAddr:port, each answered; resolves when all answers arrived. */
  udp(port: number, rounds?: number): Promise<void>;
  /** One TCP connection to serverAddr:port that sends `bytes` bytes, reads the echo and closes. */
  tcp(port: number, bytes?: number): Promise<void>;
  close(): void;
}

/** Two namespaces joined by a veth pair (10.77.0.1 client, 10.77.0.2 server) with tracking on in the client. */
export function trafficPair(opts: { acct?: boolean; timestamp?: boolean } = {}): TrafficPair {
  const client = makeNetns();
  const serverNs = makeNetns();
  const clientAddr = '10.77.0.1';
  const serverAddr = '10.77.0.2';
  try {
    const ip = (...a: string[]) => execFileSync('ip', a);
    ip('link', 'add', 'ct0', 'netns', client, 'type', 'veth', 'peer', 'name', 'ct1', 'netns', serverNs);
    ip('-n', client, 'addr', 'add', `${clientAddr}/24`, 'dev', 'ct0');
    ip('-n', serverNs, 'addr', 'add', `${serverAddr}/24`, 'dev', 'ct1');
    ip('-n', client, 'link', 'set', 'ct0', 'up');
    ip('-n', serverNs, 'link', 'set', 'ct1', 'up');
    const sysctl = (name: string) => execFileSync('ip', ['netns', 'exec', client, 'sysctl', '-qw', `${name}=1`]);
    if (opts.acct) sysctl('net.netfilter.nf_conntrack_acct');
    if (opts.timestamp) sysctl('net.netfilter.nf_conntrack_timestamp');
    connlabelRoom(client);
  } catch (e) {
    removeNetns(client);
    removeNetns(serverNs);
    throw e;
  }
  // Each side is a short node script run inside its namespace: the server answers what it gets
  // and runs until the client is done (then it is killed). Both give up after 5 s.
  const exchange = async (kind: 'udp' | 'tcp', port: number, arg: number) => {
    const server = spawn('ip', ['netns', 'exec', serverNs, process.execPath, '-e', SCRIPTS[kind].server, serverAddr, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${kind} server did not start within 5 s`)), 5000);
        server.stdout.once('data', () => { clearTimeout(timer); resolve(); });
        server.on('exit', (c) => { clearTimeout(timer); reject(new Error(`${kind} server exited ${c}`)); });
      });
      await new Promise<void>((resolve, reject) => {
        const p = spawn('ip', ['netns', 'exec', client, process.execPath, '-e', SCRIPTS[kind].client, serverAddr, String(port), String(arg)], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`${kind} client exited ${c}: ${err}`))));
      });
    } finally {
      server.kill();
    }
  };
  return {
    client, server: serverNs, clientAddr, serverAddr,
    udp: (port, rounds = 1) => exchange('udp', port, rounds),
    tcp: (port, bytes = 1000) => exchange('tcp', port, bytes),
    close() {
      removeNetns(client);
      removeNetns(serverNs);
    },
  };
}

const SCRIPTS = {
  udp: {
    server: `const [a, p] = process.argv.slice(1); const s = require('dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address)); s.bind(+p, a, () => console.log('ready'));`,
    client: `const [a, p, n] = process.argv.slice(1); const s = require('dgram').createSocket('udp4'); let got = 0;
s.on('message', () => { if (++got < +n) s.send('ping', +p, a); else s.close(); }); s.send('ping', +p, a);
setTimeout(() => { console.error('no answer'); process.exit(1); }, 5000).unref();`,
  },
  tcp: {
    server: `const [a, p] = process.argv.slice(1);
require('net').createServer((c) => c.pipe(c)).listen(+p, a, () => console.log('ready'));`,
    client: `const [a, p, n] = process.argv.slice(1); let got = 0;
const c = require('net').connect(+p, a, () => c.write(Buffer.alloc(+n, 120)));
c.on('data', (d) => { got += d.length; if (got >= +n) c.end(); });
c.on('close', () => process.exit(got >= +n ? 0 : 1)); setTimeout(() => process.exit(1), 5000).unref();`,
  },
} as const;

/**
 * A folder holding `labels` (bit -> name) as xtables/connlabel.conf, for connlabelArgv; remove it
 * when done. /etc/xtables/connlabel.conf is the only place conntrack-tools (and ctplug, to match it)
 * read label names from.
 */
export function connlabelConfDir(labels: Record<number, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ctplug-labels-'));
  for (const d of ['upper', 'work', 'upper/xtables']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'upper/xtables/connlabel.conf'), Object.entries(labels).map(([b, n]) => `${b} ${n}\n`).join(''));
  return dir;
}

/**
 * The command line that runs `argv` in `ns` seeing the connlabel.conf of `dir` (connlabelConfDir):
 * in a private mount namespace with an overlay on /etc that holds the file, so the machine's /etc
 * is not touched.
 */
export function connlabelArgv(dir: string, ns: string, argv: string[]): string[] {
  const script = 'mount --make-rprivate / && mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc && shift && exec ip netns exec "$@"';
  return ['unshare', '-m', 'sh', '-c', script, 'sh', dir, ns, ...argv];
}

/** `argv` run in `ns` with `labels` (bit -> name) as /etc/xtables/connlabel.conf (connlabelArgv). */
export function withConnlabelConf(ns: string, labels: Record<number, string>, argv: string[]): { code: number; stdout: string; stderr: string } {
  const dir = connlabelConfDir(labels);
  try {
    const [cmd, ...rest] = connlabelArgv(dir, ns, argv);
    const r = spawnSync(cmd, rest, { encoding: 'utf8', env: { ...process.env, CTPLUG_DEBUG: '' } });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `conntrack ARGS` in `ns` seeing `labels` as its connlabel.conf; throws when it fails. */
export function conntrackWithLabels(ns: string, args: string[], labels: Record<number, string>): string {
  const r = withConnlabelConf(ns, labels, ['conntrack', ...args]);
  if (r.code !== 0) throw new Error(`conntrack ${args.join(' ')} (with labels) failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}
