// Hostile and careless clients of `ctplug daemon` (issue 14): garbage, a client that dies in the
// middle of a frame, one that floods requests and never reads, one that opens too many
// connections. None of them may crash, stall or grow the daemon, and the others keep being
// served; a daemon that goes away gives its clients one line and exit 4.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { Conntrack } from '../../host/index.js';
import type { CreateSpec } from '../../host/conntrack/conntrack.js';
import { encodeFrame, FRAME, FrameReader, HEADER_SIZE } from '../../host/wire/frame.js';
import { decodeError, dumpRequestOf, writeRecord } from '../../host/wire/records.js';
import { STATUS } from '../../host/policy/abi.js';
import { bundledCli } from '../helpers/cli.js';
import { CLIENT_UID, procCaps, startTestDaemon, type TestDaemon, unprivileged } from '../helpers/daemon.js';
import { conntrackIn, kernelSuite, listingLines, makeNetns, removeNetns, seedNetns } from '../helpers/netns.js';

const { t, it, skip } = kernelSuite('daemon: hostile clients (kernel)', 'test/integration/daemon-robust.test.ts');
const cli = bundledCli('daemon-robust');
let ns = '';
let d: TestDaemon | undefined;
const me = process.getuid!();

const SPECS: CreateSpec[] = Array.from({ length: 2000 }, (_, i): CreateSpec => (
  { protocol: 'udp', src: `10.1.${i >> 8}.${i & 255}`, dst: '198.51.100.53', sport: 5000, dport: 53, timeout: 600, zone: 1 }));

const policy = () => ({
  clients: {
    [`uid:${me}`]: { capabilities: { operations: ['read', 'delete', 'events'], scope: { zones: [1] } }, netns: [ns] },
    [`uid:${CLIENT_UID}`]: { capabilities: { operations: ['read', 'events'], scope: { zones: [1] } }, netns: [ns] },
  },
});

if (!skip) {
  t.before(async () => {
    ns = makeNetns();
    seedNetns(ns, SPECS);
    await cli.build();
    d = await startTestDaemon(cli.entry.replace(/cli\.cjs$/, 'daemon.js'), policy());
  });
  t.after(async () => {
    await d?.stop();
    cli.remove();
    removeNetns(ns);
  });
}

const rss = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** A raw connection: what a client that does not use ctplug's client code sends and gets. */
async function raw(): Promise<{ sock: Socket; frames: () => { type: number; id: number; payload: Uint8Array }[]; closed: Promise<void> }> {
  const sock = connect(d!.socket);
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  const reader = new FrameReader('daemon');
  const got: { type: number; id: number; payload: Uint8Array }[] = [];
  sock.on('data', (c: Buffer) => { for (const f of reader.push(c)) got.push({ ...f, payload: f.payload.slice() }); });
  sock.on('error', () => undefined);
  const closed = new Promise<void>((res) => sock.once('close', () => res()));
  return { sock, frames: () => got, closed };
}

const hello = () => encodeFrame(FRAME.HELLO, 1, 0, Buffer.from(JSON.stringify({ version: 1, netns: ns, capabilities: null })));

/** The daemon still answers another client, at once. */
async function stillServes(): Promise<void> {
  const c = await Conntrack.connect(d!.socket, { netns: ns });
  try {
    assert.is(await c.count(), SPECS.length);
  } finally {
    c.close();
  }
}

it('garbage: one ERROR frame (id 0, E_INVAL), the connection ends; the daemon serves on', async () => {
  for (const junk of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.alloc(64, 0xff), Buffer.concat([hello(), Buffer.alloc(20, 0)])]) {
    const c = await raw();
    c.sock.write(junk);
    await c.closed;
    const err = c.frames().find((f) => f.type === FRAME.ERROR && f.id === 0);
    assert.ok(err, `an ERROR frame for ${junk.subarray(0, 8).toString('hex')}`);
    assert.is(decodeError(err!.payload).status, STATUS.E_INVAL);
  }
  await stillServes();
});

it('well-framed garbage after HELLO (random payloads for every request type): refused one by one; the daemon serves on, the table intact', async () => {
  const before = listingLines(conntrackIn(ns, ['-L']));
  const { Rng } = await import('../fuzz/mutate.js');
  const rng = new Rng(0x14da3);
  const types = [FRAME.DUMP, FRAME.DELETE, FRAME.UPDATE, FRAME.CREATE, FRAME.FLUSH, FRAME.SUBSCRIBE, FRAME.COUNT, FRAME.STATS, FRAME.GET, FRAME.STOP, FRAME.CREDIT];
  const n = process.env.CTPLUG_LONG === '1' ? 200_000 : 20_000;
  let sent = 0, sessions = 0, answered = 0;
  while (sent < n) {
    // A fresh session now and then: one that hits a cap or a fatal error does not end the run.
    const c = await raw();
    sessions++;
    const frames: Buffer[] = [hello()];
    for (let i = 0; i < 500 && sent < n; i++, sent++) {
      const type = types[rng.below(types.length)];
      // (A CREDIT of the wrong size ends the session: that is tested above; here the requests are.)
      const len = type === FRAME.CREDIT ? 4 : [0, 4, 16, 48, 64, 100, rng.below(2048)][rng.below(7)];
      const payload = Buffer.alloc(len);
      for (let k = 0; k < len; k++) payload[k] = rng.below(256);
      frames.push(encodeFrame(type, 1 + rng.below(64), rng.below(4), payload));
    }
    c.sock.write(Buffer.concat(frames));
    await new Promise((r) => setTimeout(r, 50));
    c.sock.destroy();
    await c.closed;
    answered += c.frames().filter((f) => f.id !== 0 && (f.type === FRAME.ERROR || f.type === FRAME.RESULT || f.type === FRAME.DONE)).length;
  }
  await stillServes();
  assert.equal(listingLines(conntrackIn(ns, ['-L'])), before, 'nothing changed');
  console.log(`${sent} garbage requests in ${sessions} sessions, ${answered} answered before the client left`);
  assert.ok(answered > sent / 2, 'most of them reached the gate and were answered');
});

it('a client that dies in the middle of a DELETE frame: nothing of it is applied; the daemon serves on', async () => {
  const before = listingLines(conntrackIn(ns, ['-L']));
  const entries: Uint8Array[] = [];
  const c0 = await Conntrack.connect(d!.socket, { netns: ns });
  const { splitMessages } = await import('../../host/netlink/message.js');
  for await (const b of c0.batches()) for (const m of splitMessages(b.entries)) entries.push(m.slice());
  c0.close();
  const payload = Buffer.concat(entries.map((m) => Buffer.concat([m, Buffer.alloc((4 - (m.length % 4)) % 4)])));
  const frame = encodeFrame(FRAME.DELETE, 2, 0, payload);
  const c = await raw();
  c.sock.write(hello());
  c.sock.write(frame.subarray(0, frame.length - 100)); // all but the end of the last entry
  await new Promise((r) => setTimeout(r, 300));
  c.sock.destroy();
  await c.closed;
  await stillServes();
  assert.equal(listingLines(conntrackIn(ns, ['-L'])), before, 'not one entry deleted');
});

/**
 * A client that sends `n` COUNT requests (and a DUMP every 10th) and reads nothing for 2 s (the
 * daemon must serve others meanwhile); then it reads what it was sent. Returns the ERROR (id 0)
 * that ended it, if the daemon cut it off.
 */
async function flood(n: number): Promise<{ status: number; text: string } | undefined> {
  const c = await raw();
  c.sock.write(hello());
  const many: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    many.push(encodeFrame(FRAME.COUNT, 10 + i, 0, dumpRequestOf({ zone: 1 })));
    if (i % 10 === 0) many.push(encodeFrame(FRAME.DUMP, 0x40000000 + i, 0, dumpRequestOf({})));
  }
  c.sock.pause(); // it reads nothing
  c.sock.write(Buffer.concat(many));
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 500));
    await stillServes();
  }
  c.sock.resume();
  await Promise.race([c.closed, new Promise((r) => setTimeout(r, 3000))]);
  c.sock.destroy();
  await c.closed;
  const end = c.frames().find((f) => f.type === FRAME.ERROR && f.id === 0);
  return end && decodeError(end.payload);
}

it('clients that flood requests and never read: the daemon does not grow with the flood and serves others meanwhile', async () => {
  await flood(20_000); // the daemon's heap settles to its working size
  const base = rss(d!.pid);
  // 200,000 requests unread: replies stop at OUT_CAP, requests pile up to MAX_PENDING, then it is cut off.
  const cut = await flood(200_000);
  // The ERROR frame is queued behind replies the client did not read, so it may be dropped with the connection; the log says it.
  if (cut) assert.is(cut.status, STATUS.E_LIMIT, JSON.stringify(cut));
  assert.match(d!.log(), /refused: more than 4096 requests or 8388608 bytes wait to be handled/);
  await Promise.all([flood(100_000), flood(100_000), flood(100_000)]);
  const grew = rss(d!.pid) - base;
  // Bounded by the caps (per client about IN_CAP + OUT_CAP) plus the heap's slack, whatever the flood's size.
  console.log(`daemon RSS ${(base / 1048576).toFixed(1)} MiB after a first flood, +${(grew / 1048576).toFixed(1)} MiB after 500,000 more unread requests`);
  assert.ok(grew < 96 * 1024 * 1024, `the daemon grew by ${(grew / 1048576).toFixed(1)} MiB for clients that do not read`);
  await stillServes();
});

it('connections per uid are capped: the 17th gets ERROR E_LIMIT; closing one lets the next in', async () => {
  const open = [];
  for (let i = 0; i < 16; i++) open.push(await Conntrack.connect(d!.socket, { netns: ns }));
  try {
    const c = await raw();
    await c.closed;
    const err = c.frames().find((f) => f.type === FRAME.ERROR);
    assert.ok(err);
    assert.is(decodeError(err!.payload).status, STATUS.E_LIMIT);
    assert.match(decodeError(err!.payload).text, /connections open/);
  } finally {
    for (const c of open) c.close();
  }
  await new Promise((r) => setTimeout(r, 200));
  await stillServes();
});

it('HELLO is checked: wrong version, unknown key, a second HELLO, a request before HELLO', async () => {
  const cases: [Buffer, RegExp][] = [
    [encodeFrame(FRAME.HELLO, 1, 0, Buffer.from('{"version":2,"netns":null,"capabilities":null}')), /version 2/],
    [encodeFrame(FRAME.HELLO, 1, 0, Buffer.from(`{"version":1,"netns":"${ns}","capabilities":null,"uid":0}`)), /unknown key "uid"/],
    [Buffer.concat([hello(), hello()]), /HELLO was already sent/],
    [encodeFrame(FRAME.COUNT, 1, 0, dumpRequestOf({})), /the first frame must be HELLO/],
    [encodeFrame(FRAME.CREDIT, 1, 0, writeRecord('Credit', { frames: 1 })), /before HELLO/],
  ];
  for (const [bytes, why] of cases) {
    const c = await raw();
    c.sock.write(bytes);
    await c.closed;
    const err = c.frames().find((f) => f.type === FRAME.ERROR && f.id === 0);
    assert.ok(err, String(why));
    assert.match(decodeError(err!.payload).text, why);
  }
  assert.is(HEADER_SIZE, 12);
});

it('the daemon stopping under a running client (which holds no capability): one line on stderr, exit 4; no daemon at all: the same', async () => {
  // A daemon of its own, stopped while an unprivileged `ctplug events` is subscribed to it.
  const own = await startTestDaemon(cli.entry.replace(/cli\.cjs$/, 'daemon.js'), policy());
  try {
    const argv = [...unprivileged(), 'env', `CTPLUG_SOCKET=${own.socket}`, process.execPath, cli.entry, 'events', '--netns', ns];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exit = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    // Subscribed once the daemon logged the worker's events session (the first is the load-time check).
    for (let i = 0; (own.log().match(/read,events/g) ?? []).length < 2; i++) {
      assert.ok(i < 200, `the client did not subscribe: ${own.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The client holds no capability at all, and still has its subscription.
    const caps = procCaps(child.pid!);
    assert.equal([caps.CapEff, caps.CapPrm, caps.CapBnd, caps.CapAmb], [0n, 0n, 0n, 0n]);
    await own.stop();
    const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (code === 'timeout') child.kill('SIGKILL');
    assert.is(code, 4, err);
    const lines = err.trim().split('\n').filter((l) => !/flow events have been shown/.test(l));
    assert.is(lines.length, 1, err);
    assert.match(lines[0], /^ctplug: .*daemon .*(closed|stopped|restarted)/, err);
  } finally {
    await own.stop();
  }
  const r = cli.run(['list', '--netns', ns], { prefix: [...unprivileged(), 'env', `CTPLUG_SOCKET=${d!.dir}/nothing.sock`] });
  assert.is(r.code, 4, r.stderr);
  assert.is(r.stdout, '');
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^ctplug: .*cannot connect to the ctplug daemon/);
});

t.run();
