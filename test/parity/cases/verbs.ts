// conntrack's commands and how they are spelled: the letters, the long names (--dump, --delete,
// --update, --get, --flush, --counter, --stats, --event, --create, --add), getopt's unambiguous
// abbreviations, the tables (conntrack, expect, dying, unconfirmed), -R/--load-file, -C, -S, -V,
// and command-line mistakes.
import { EXIT } from '../../../host/exit-codes.js';
import { differs, same, type Case } from '../case.js';

const TUPLE = '-p tcp -s 10.0.0.4 -d 198.51.100.1 --sport 40003 --dport 443';
const NEW_UDP = '-p udp -s 10.40.0.1 -d 10.40.1.1 --sport 1 --dport 2 -t 100';

/** A load file as conntrack -o save writes one, and a mixed one. */
const LOAD_CREATE = [
  '-I -p udp -s 10.41.0.1 -d 10.41.1.1 --sport 1 --dport 2 -t 100',
  '-I -p tcp -s 10.41.0.2 -d 10.41.1.1 --sport 1 --dport 2 --state ESTABLISHED -t 100 -w 9 -m 5',
  '# a comment',
  '',
  '-A -p udp -s 10.0.1.1 -d 198.51.100.53 --sport 50001 --dport 53 -t 100',
].join('\n') + '\n';
const LOAD_MIXED = [
  '-D -s 10.0.0.1',
  '-U -s 10.0.0.2 -m 0x55',
  '-I -p icmp -s 10.41.0.3 -d 10.41.1.1 --icmp-type 8 --icmp-code 0 --icmp-id 3 -t 100',
].join('\n') + '\n';

export const VERB_CASES: Case[] = [
  // The letters and their long names.
  same('mix', '--dump'), same('mix', '--dump -p tcp'), same('mix', '--du -p tcp'),
  same('mix', '--delete -s 10.0.0.1'), same('mix', '--dele -s 10.0.0.1'),
  same('mix', '--update -s 10.0.0.2 -m 9'),
  same('mix', `--get ${TUPLE}`),
  same('mix', '--flush'), same('mix', '--fl'),
  same('mix', '--counter'), same('mix', '--count'),
  same('mix', '--stats'),
  same('empty', `--create ${NEW_UDP}`), same('empty', `--cr ${NEW_UDP}`),
  same('empty', '--event', { events: [`-I ${NEW_UDP}`] }),
  same('empty', `-A ${NEW_UDP}`), same('mix', '-A -p udp -s 10.0.1.1 -d 198.51.100.53 --sport 50001 --dport 53 -t 100'),
  same('empty', `--add ${NEW_UDP}`),
  same('mix', '-C'), same('empty', '-C'),
  same('mix', '-S'),
  same('mix', `-G ${TUPLE}`),
  same('mix', `-G ${TUPLE} -o extended`),
  same('mix', `-G ${TUPLE} -o xml`), same('mix', `-G ${TUPLE} -o save`),
  same('mix', `-G ${TUPLE} -o id`),
  // getopt_long: any unambiguous prefix of a long option is that option.
  same('mix', '-L --zo 5'), same('mix', '-L --fam ipv6'), same('mix', '-L --prot tcp'), same('mix', '-L --mar 1'),
  same('mix', '-L --orig-s 10.0.0.1'), same('mix', '-L --reply-d 10.0.0.3'), same('mix', '-L -p tcp --dp 443'),
  same('mix', '-L -p tcp --sta ESTABLISHED'), same('mix', '-L --proto tcp'), same('mix', '-L --statu ASSURED'),
  same('mix', '-L -o ext'), same('mix', '-L --zone=5'), same('mix', '-L -w5'), same('mix', '-L --src=10.0.0.1'),
  same('mix', '-L --stat'),
  // The long spelling of every --help option not spelled out elsewhere.
  same('mix', '-L --family ipv6'), same('mix', '-L --output extended'), same('labels', '-L --label web'), same('labels', '-L -o labels'),
  same('empty', '-I -p udp -s 10.40.0.1 -d 10.40.1.1 --sport 1 --dport 2 --timeout 100'),
  same('empty', '-E --event-mask NEW', { events: [`-I ${NEW_UDP}`] }), same('empty', '-E --buffer-size 2000000', { events: [`-I ${NEW_UDP}`] }),
  same('traffic', '-L --zero'), same('mix', '-L --secmark 0'),
  // Deprecated, in the man page: -i/--id (a filter in -D/-U/-G), -a/--nat-range (ignored with a warning).
  same('mix', '-D -s 10.0.0.1 -i 5'), same('mix', '-L -i 5'),
  same('empty', `-I ${NEW_UDP} -a 10.40.9.9`),
  // Tables.
  same('mix', '-L conntrack'), same('mix', '-L conn -p tcp'),
  same('mix', '-L dying'), same('mix', '-L unconfirmed'), same('mix', '-L dy'), same('mix', '-L unconfirmed -p tcp -o xml'),
  same('mix', '-L bogus'), same('mix', '-D dying -s 10.0.0.1'),
  same('mix', '-C conntrack'), same('mix', '-F conntrack'),
  // -R / --load-file: conntrack -I/-A/-D/-U/-F lines, no summary line.
  same('mix', '-R {file}', { file: LOAD_CREATE, name: 'mix: -R FILE with -I/-A lines' }),
  // conntrack parses every line first into one global template pointer (cur_tmpl), so a -U line applies
  // the LAST line's mark: here -U -m 0x55 changes nothing. ctplug applies each line's own values.
  differs('fixed: conntrack -R applies the mark of the file\'s last line to a -U line (its cur_tmpl points at the last line parsed), so -U -m 0x55 followed by another line changes nothing; ctplug applies the -U line\'s own mark',
    'mix', '--load-file {file}', { code: EXIT.OK, stdout: /mark=85/, tableHas: /src=10\.0\.0\.2 .*mark=85$/ }, { code: 0, tableHas: /src=10\.0\.0\.2 .*mark=1$/ },
    { file: LOAD_MIXED, name: 'mix: --load-file FILE with -D/-U/-I lines' }),
  same('mix', '-R {file}', { file: '-F\n', name: 'mix: -R FILE with -F' }),
  // conntrack destroys the label map after each command and does not reset it (F1): the second label line crashes it
  differs('fixed: conntrack -R segfaults from the second --label-add line on (its label map is freed after each command and used again); ctplug creates every line', 'labels', '-R {file}',
    { code: EXIT.OK, tableHas: /src=10\.6\.0\.12 .*labels=db/ }, { code: 139 },
    { file: '-I -p udp -s 10.6.0.11 -d 10.6.1.1 --sport 1 --dport 2 -t 100 --label-add web\n-I -p udp -s 10.6.0.12 -d 10.6.1.1 --sport 1 --dport 2 -t 100 --label-add db\n', name: 'labels: -R FILE with two --label-add lines' }),
  same('mix', '-R {file}', { file: '-L\n', name: 'mix: -R FILE with -L (refused)' }),
  same('mix', '-R {file}', { file: '-I -p udp -s 10.41.0.1 -d 10.41.1.1 --sport 1 --dport 2 -t 100\n-I -p udp -s 10.41.0.1 -d 10.41.1.1 --sport 1 --dport 2 -t 100\n', name: 'mix: -R FILE whose second line fails' }),
  // Version, help, and command-line mistakes: exit 2 (PARAMETER_PROBLEM) in both, nothing done.
  differs('ctplug prints its own version', 'mix', '-V', { code: EXIT.OK, stdout: /^ctplug v\d/ }, { code: 0, stdout: /^conntrack v1\.4\.7 \(conntrack-tools\)$/m }),
  same('mix', '-L -D'), same('mix', '-L --bogus'), same('mix', '-X'), same('mix', '-L -s'), same('mix', '-L -s 10.0.0.300'),
  same('mix', '-L -s 10.0.0.0/33'), same('mix', '-L -s 10.0.0.1 -d 2001:db8::1'), same('mix', '-L -f ipv4 -s 2001:db8::1'),
  same('mix', '-L -f ipx'), same('mix', '-L -u BOGUS'), same('mix', '-L -o bogus'), same('mix', '-L -t 10'),
  same('mix', '-L -e NEW'), same('mix', '-E -p tcp -z'),
  same('mix', '-G -s 10.0.0.4 -d 198.51.100.1'), same('mix', '-G -p tcp -s 10.0.0.4 --sport 40003 --dport 443'),
  same('mix', '-I -p udp -s 10.40.0.1 -d 10.40.1.1 --sport 1 --dport 2'),
  same('mix', '-F -s 10.0.0.1'), same('mix', '-S -p tcp'), same('mix', '-C -p tcp'),
  same('mix', '-L -p tcp --sport 1 --icmp-type 8'),
  // Half a reply tuple: conntrack sends it and the kernel refuses it (exit 1); ctplug completes it from the original.
  differs('extension: a half reply tuple (-r without -q) is completed from the original tuple', 'mix', '-I -p tcp -s 10.40.0.1 -d 10.40.1.1 --sport 1 --dport 2 --state ESTABLISHED -t 100 -r 10.40.9.9',
    { code: EXIT.OK, tableHas: /src=10\.40\.0\.1 .*src=10\.40\.9\.9 dst=10\.40\.0\.1 sport=2 dport=1/ }, { code: 1, stderr: /invalid parameters/, table: 'unchanged' }),
  // -c/--secmark (in --help): a filter in list/delete/update/events, a value in create.
  same('mix', '-L -c 0'),
  differs('fixed: conntrack compares the secmark only of entries that have one (nfct_cmp skips an absent attribute), so -c 5 lists every entry without a secmark; ctplug reads an absent secmark as 0, as the kernel means it', 'mix', '-L -c 5',
    { code: EXIT.OK, lines: 0 }, { code: 0, lines: 29 }), same('mix', '-D -c 5'),
  // A repeated -l means all those labels (conntrack merges them).
  same('labels', '-L -l web -l db'),
];
