// The expectation table: made by the kernel's tftp helper from real traffic (seed `expect`), then
// listed, counted, got, deleted, flushed, watched and created with conntrack's expectation fields
// (--tuple-src/--tuple-dst, --mask-src/--mask-dst, --tuple-port-*, --mask-port-*).
import { same, todo, type Case } from '../case.js';

const MASTER = '-s 127.0.0.1 -d 127.0.0.1 -p udp --sport 40069 --dport 69';
const NEW_EXPECT = `-I expect ${MASTER} --tuple-src 127.0.0.1 --tuple-dst 127.0.0.1 --mask-src 255.255.255.255 --mask-dst 255.255.255.255 --tuple-port-src 0 --tuple-port-dst 5000 --mask-port-src 0 --mask-port-dst 65535 -t 300`;

export const EXPECT_CASES: Case[] = [
  todo(6, 'expect', '-L expect'),
  todo(6, 'expect', '-L exp'),
  todo(6, 'expect', '-L expect -o xml'),
  todo(6, 'expect', '-L expect -o extended'),
  todo(6, 'expect', '-L expect -f ipv6'),
  todo(6, 'expect', '-C expect'),
  todo(6, 'expect', '-S expect'),
  todo(6, 'expect', '-F expect'),
  todo(6, 'expect', `-D expect -s 127.0.0.1 -d 127.0.0.1 -p udp --sport 0 --dport 40069 --reply-port-src 0 --reply-port-dst 0`),
  todo(6, 'expect', `-G expect -s 127.0.0.1 -d 127.0.0.1 -p udp --sport 0 --dport 40069 --reply-port-src 0 --reply-port-dst 0`),
  todo(6, 'expect', NEW_EXPECT),
  todo(6, 'expect', `${NEW_EXPECT.replace('--tuple-port-dst 5000', '--tuple-port-dst 40069')}`, { name: 'expect: -I expect of an existing expectation' }),
  todo(6, 'expect', '-E expect', { events: [NEW_EXPECT, '-F expect'] }),
  same('expect', '-U expect -s 127.0.0.1 -m 1'),
  same('expect', '-L'),
];
