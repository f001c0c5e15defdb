// The expectation table: made by the kernel's tftp helper from real traffic (seed `expect`), then
// listed, counted, got, deleted, flushed, watched and created with conntrack's expectation fields
// (--tuple-src/--tuple-dst, --mask-src/--mask-dst, --tuple-port-*, --mask-port-*).
import { EXIT } from '../../../host/exit-codes.js';
import { differs, same, type Case } from '../case.js';

const MASTER = '-s 127.0.0.1 -d 127.0.0.1 -p udp --sport 40069 --dport 69';
const NEW_EXPECT = `-I expect ${MASTER} --tuple-src 127.0.0.1 --tuple-dst 127.0.0.1 --mask-src 255.255.255.255 --mask-dst 255.255.255.255 --tuple-port-src 0 --tuple-port-dst 5000 --mask-port-src 0 --mask-port-dst 65535 -t 300`;

export const EXPECT_CASES: Case[] = [
  same('expect', '-L expect'),
  same('expect', '-L exp'),
  same('expect', '-L expect -o xml'),
  same('expect', '-L expect -o extended'),
  same('expect', '-L expect -f ipv6'),
  same('expect', '-C expect'),
  same('expect', '-S expect'),
  same('expect', '-F expect'),
  differs('fixed: conntrack -D expect deletes the expectation, then prints "0 expectations have been shown." and exits 1 (it reuses the list message and never counts); ctplug says it deleted one',
    'expect', `-D expect -s 127.0.0.1 -d 127.0.0.1 -p udp --sport 0 --dport 40069 --reply-port-src 0 --reply-port-dst 0`,
    { code: EXIT.OK, stderr: /1 expectations have been deleted/, stdout: 'empty' }, { code: 1, stderr: /0 expectations have been shown/ }),
  // none such: both say so and exit 1 (ctplug: nothing matched), nothing changed
  same('expect', `-D expect -s 127.0.0.1 -d 127.0.0.1 -p udp --sport 0 --dport 400 --reply-port-src 0 --reply-port-dst 0`),
  same('expect', `-G expect -s 127.0.0.1 -d 127.0.0.1 -p udp --sport 0 --dport 400 --reply-port-src 0 --reply-port-dst 0`),
  same('expect', '-L expect -o id'),
  same('expect', '-L expect -o timestamp'),
  same('expect', '-L expect -f ipv4 -o xml'),
  // the master must exist (the kernel: ENOENT, conntrack "master conntrack not found", exit 1)
  same('expect', NEW_EXPECT.replace('--sport 40069', '--sport 40070'), { name: 'expect: -I expect with no such master' }),
  same('expect', `-G expect -s 127.0.0.1 -d 127.0.0.1 -p udp --sport 0 --dport 40069 --reply-port-src 0 --reply-port-dst 0`),
  same('expect', NEW_EXPECT),
  same('expect', `${NEW_EXPECT.replace('--tuple-port-dst 5000', '--tuple-port-dst 40069')}`, { name: 'expect: -I expect of an existing expectation' }),
  same('expect', '-E expect', { events: [NEW_EXPECT, '-F expect'] }),
  same('expect', '-U expect -s 127.0.0.1 -m 1'),
  same('expect', '-L'),
];
