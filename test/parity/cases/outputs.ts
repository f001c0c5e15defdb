// Output formats (-o extended, xml, save, id, timestamp, ktimestamp, labels, userspace, and the
// combinations conntrack allows) for list, delete, get and events; -z; counters and timestamps
// from real traffic; labels by name.
import { EXIT } from '../../../host/exit-codes.js';
import { differs, same, type Case } from '../case.js';

const FORMATS = ['extended', 'id', 'extended,id', 'id,extended', 'EXTENDED', 'timestamp', 'userspace', 'xml', 'save', 'xml,id', 'xml,extended', 'ktimestamp', 'extended,ktimestamp', 'Xm', 'sa'];
const TRIGGERS = [
  '-I -p udp -s 10.50.0.1 -d 10.50.1.1 --sport 1 --dport 2 -t 60 -m 4',
  '-U -s 10.50.0.1 -m 5',
  '-D -s 10.50.0.1',
];

export const OUTPUT_CASES: Case[] = [
  ...FORMATS.map((f) => same('mix', `-L -o ${f}`)),
  // conntrack exits 1 (OTHER_PROBLEM) for this command-line mistake; ctplug's usage errors exit 2
  differs('refused as a usage error (exit 2): conntrack reports "cannot combine save output with any other output type" with exit 1', 'mix', '-L -o save,id',
    { code: EXIT.USAGE, stderr: /-o save cannot be combined/, stdout: 'empty' }, { code: 1, stderr: /cannot combine save output/ }),
  ...(['nat', 'dirzone', 'labels'] as const).flatMap((seed) => [same(seed, '-L -o extended'), same(seed, '-L -o id'), same(seed, '-L -o xml'), same(seed, '-L -o save')]),
  // What delete, get and update print, in each format.
  ...['extended', 'id'].map((f) => same('mix', `-D -p udp -o ${f}`)),
  same('mix', '-D -p udp -o timestamp'),
  ...['xml', 'save', 'extended,id'].map((f) => same('mix', `-D -p udp -o ${f}`)),
  same('zone0', '-U -f ipv4 -p udp -m 0x99 -o extended'),
  same('zone0', '-U -f ipv4 -p udp -m 0x99 -o save'),
  // Events in each format.
  same('empty', '-E', { events: TRIGGERS }),
  ...['extended', 'id'].map((f) => same('empty', `-E -o ${f}`, { events: TRIGGERS })),
  same('empty', '-E -o timestamp', { events: TRIGGERS }),
  same('empty', '-E -o userspace', { events: TRIGGERS }),
  ...['xml', 'save', 'xml,timestamp'].map((f) => same('empty', `-E -o ${f}`, { events: TRIGGERS })),
  same('empty', '-E -e NEW', { events: TRIGGERS }),
  same('empty', '-E -e DESTROY', { events: TRIGGERS }),
  same('empty', '-E -e UPDATES', { events: TRIGGERS }),
  same('empty', '-E -e NEW,DESTROY', { events: TRIGGERS }),
  same('empty', '-E -e ALL', { events: TRIGGERS }),
  same('empty', '-E -b 2000000', { events: TRIGGERS }),
  same('empty', '-E -e BOGUS'),
  // Counters and timestamps the kernel keeps (real traffic, nf_conntrack_acct and _timestamp on).
  same('traffic', '-L'),
  same('traffic', '-L -o extended'),
  same('traffic', '-L -p udp --dport 7000 -o id'),
  same('traffic', '-L -o ktimestamp'),
  same('traffic', '-L -o xml'),
  same('traffic', '-L -o xml,ktimestamp'),
  same('traffic', '-L -o save'),
  same('traffic', '-G -p udp -s 127.0.0.1 -d 127.0.0.1 --sport 40700 --dport 7000'),
  same('traffic', '-D -p udp --sport 40701'),
  // -z: list, then zero the counters (only without filters).
  same('traffic', '-L -z'),
  same('traffic', '-L -z -o extended'),
  same('traffic', '-L -z -f ipv4 -o xml'),
  same('traffic', '-L -z -p udp'),
  same('traffic', '-D -z -p udp'),
  // Labels (names from connlabel.conf).
  same('labels', '-L -l web'),
  same('labels', '-L -l web,db'),
  same('labels', '-L -l far -o extended'),
  same('labels', '-L -l nosuch'),
  same('labels', '-D -l db'),
  same('labels', '-E -l web', { events: ['-I -p udp -s 10.6.0.9 -d 10.6.1.1 --sport 1 --dport 2 -t 60 --label-add web', '-I -p udp -s 10.6.0.10 -d 10.6.1.1 --sport 1 --dport 2 -t 60'] }),
  same('labels', '-I -p udp -s 10.6.0.8 -d 10.6.1.1 --sport 1 --dport 2 -t 100 --label-add blue'),
  same('labels', '-I -p udp -s 10.6.0.8 -d 10.6.1.1 --sport 1 --dport 2 -t 100 --label-add nosuch'),
];
