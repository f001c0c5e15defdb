// Tuple flags (-s -d --sport --dport, -r -q --reply-port-*, --icmp-*) -> a validated entry for
// create, or a lookup for get. Validation is host/conntrack's (toNewEntry, parseAddress).
import { toNewEntry, type CreateSpec } from '../conntrack/new-entry.js';
import type { Lookup, NewEntry } from '../conntrack/request.js';
import { invertTuple } from '../conntrack/tuple.js';
import { parseFamily, parseStatus, parseZone } from '../conntrack/validate.js';
import { UsageError, type Opts } from './args.js';

type Side = 'original' | 'reply';

function sides(o: Opts, command: string): { orig: boolean; reply: boolean } {
  const orig = o.src !== undefined || o.dst !== undefined || o.sport !== undefined || o.dport !== undefined;
  const reply = o.replySrc !== undefined || o.replyDst !== undefined || o.replySport !== undefined || o.replyDport !== undefined;
  if (o.proto === undefined) throw new UsageError(`${command} needs -p/--proto`, command);
  if (!orig && !reply) throw new UsageError(`${command} needs the original tuple (-s, -d, and --sport/--dport for tcp/udp) or the reply tuple (-r, -q, --reply-port-src/dst)`, command);
  return { orig, reply };
}

/** The spec of one direction as given on the command line. */
function specOf(o: Opts, side: Side, command: string): CreateSpec {
  const [src, dst, sport, dport] = side === 'original'
    ? [o.src, o.dst, o.sport, o.dport]
    : [o.replySrc, o.replyDst, o.replySport, o.replyDport];
  const names = side === 'original' ? ['-s/--src', '-d/--dst'] : ['-r/--reply-src', '-q/--reply-dst'];
  if (src === undefined) throw new UsageError(`${command} needs ${names[0]}`, command);
  if (dst === undefined) throw new UsageError(`${command} needs ${names[1]}`, command);
  return {
    family: o.family === undefined ? undefined : parseFamily(o.family),
    protocol: o.proto!,
    src, dst,
    sport,
    dport,
    icmpType: o.icmpType,
    icmpCode: o.icmpCode,
    icmpId: o.icmpId,
    timeout: 0,
  };
}

/**
 * One direction's tuple as given plus the create fields (-t, --state, zones, -m, -u, NAT, labels).
 * Filled field by field: spreading partial specs made a 100k-line restore ~3x slower.
 */
function createSpec(o: Opts, side: Side): CreateSpec {
  const spec = specOf(o, side, 'create');
  spec.timeout = o.timeout!; // entryFromFlags checked it is given
  spec.tcpState = o.state;
  spec.origVtag = o.origVtag;
  spec.replyVtag = o.replyVtag;
  spec.role = o.role;
  spec.zone = o.zone;
  spec.origZone = o.origZone;
  spec.replyZone = o.replyZone;
  spec.mark = o.mark;
  spec.status = o.status === undefined ? undefined : parseStatus(o.status, false).bits;
  spec.srcNat = o.srcNat;
  spec.dstNat = o.dstNat;
  spec.labels = o.labelAdd;
  return spec;
}

/** `create`: the original tuple (or the one derived from the reply tuple), and the reply tuple when NAT is described. */
export function entryFromFlags(o: Opts): NewEntry {
  const { orig, reply } = sides(o, 'create');
  if (o.timeout === undefined) throw new UsageError('create needs -t/--timeout SECONDS', 'create');
  if (orig) {
    const spec = createSpec(o, 'original');
    if (reply) spec.reply = { src: o.replySrc, dst: o.replyDst, sport: o.replySport, dport: o.replyDport };
    return toNewEntry(spec);
  }
  // Only the reply tuple: the original is its inverse (no NAT), as conntrack -I allows.
  const r = toNewEntry(createSpec(o, 'reply'));
  const entry = { ...r, tuple: invertTuple(r.tuple), reply: r.tuple };
  return entry;
}

/** `get`: by the original tuple when given, else by the reply tuple. */
export function lookupFromFlags(o: Opts): Lookup {
  const { orig } = sides(o, 'get');
  const direction: Side = orig ? 'original' : 'reply';
  const { tuple } = toNewEntry(specOf(o, direction, 'get'));
  return { tuple, direction, zone: o.zone === undefined ? undefined : parseZone(o.zone) };
}
