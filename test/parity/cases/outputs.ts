// Output formats (-o extended, xml, save, id, timestamp, ktimestamp, labels, userspace, and the
// combinations conntrack allows) for list, delete, get and events; -z; counters and timestamps
// from real traffic; labels by name.
import { same, todo, type Case } from '../case.js';

const FORMATS_SAME = ['extended', 'id', 'extended,id', 'id,extended', 'EXTENDED', 'timestamp', 'userspace'];
const FORMATS_TODO = ['xml', 'save', 'xml,id', 'xml,extended', 'ktimestamp', 'extended,ktimestamp', 'save,id'];
const TRIGGERS = [
  '-I -p udp -s 10.50.0.1 -d 10.50.1.1 --sport 1 --dport 2 -t 60 -m 4',
  '-U -s 10.50.0.1 -m 5',
  '-D -s 10.50.0.1',
];

export const OUTPUT_CASES: Case[] = [
  ...FORMATS_SAME.map((f) => same('mix', `-L -o ${f}`)),
  ...FORMATS_TODO.map((f) => todo(6, 'mix', `-L -o ${f}`)),
  ...(['nat', 'dirzone', 'labels'] as const).flatMap((seed) => [same(seed, '-L -o extended'), same(seed, '-L -o id'), todo(6, seed, '-L -o xml'), todo(6, seed, '-L -o save')]),
  // What delete, get and update print, in each format.
  ...['extended', 'id'].map((f) => same('mix', `-D -p udp -o ${f}`)),
  same('mix', '-D -p udp -o timestamp'),
  ...['xml', 'save'].map((f) => todo(6, 'mix', `-D -p udp -o ${f}`)),
  same('zone0', '-U -f ipv4 -p udp -m 0x99 -o extended'),
  todo(6, 'zone0', '-U -f ipv4 -p udp -m 0x99 -o save'),
  // Events in each format.
  same('empty', '-E', { events: TRIGGERS }),
  ...['extended', 'id'].map((f) => same('empty', `-E -o ${f}`, { events: TRIGGERS })),
  same('empty', '-E -o timestamp', { events: TRIGGERS }),
  same('empty', '-E -o userspace', { events: TRIGGERS }),
  ...['xml', 'save', 'xml,timestamp'].map((f) => todo(6, 'empty', `-E -o ${f}`, { events: TRIGGERS })),
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
  todo(6, 'traffic', '-L -o ktimestamp'),
  todo(6, 'traffic', '-L -o xml'),
  todo(6, 'traffic', '-L -o save'),
  same('traffic', '-G -p udp -s 127.0.0.1 -d 127.0.0.1 --sport 40700 --dport 7000'),
  same('traffic', '-D -p udp --sport 40701'),
  // -z: list, then zero the counters (only without filters).
  todo(6, 'traffic', '-L -z'),
  todo(6, 'traffic', '-L -z -o extended'),
  same('traffic', '-L -z -p udp'),
  same('traffic', '-D -z -p udp'),
  // Labels (names from connlabel.conf).
  same('labels', '-L -l web'),
  same('labels', '-L -l web,db'),
  same('labels', '-L -l far -o extended'),
  same('labels', '-L -l nosuch'),
  same('labels', '-D -l db'),
  todo(6, 'labels', '-E -l web', { events: ['-I -p udp -s 10.6.0.9 -d 10.6.1.1 --sport 1 --dport 2 -t 60 --label-add web', '-I -p udp -s 10.6.0.10 -d 10.6.1.1 --sport 1 --dport 2 -t 60'] }),
  same('labels', '-I -p udp -s 10.6.0.8 -d 10.6.1.1 --sport 1 --dport 2 -t 100 --label-add blue'),
  same('labels', '-I -p udp -s 10.6.0.8 -d 10.6.1.1 --sport 1 --dport 2 -t 100 --label-add nosuch'),
];
