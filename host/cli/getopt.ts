// How a long option name is read, as conntrack's getopt_long reads it: an exact name, else any
// unambiguous beginning of one (`--zo 5` is `--zone 5`, `--count` is `--counter`). conntrack's own
// names (its options and those of its protocol extensions, conntrack-tools 1.4.7) are tried first,
// so a prefix that is unambiguous to conntrack stays so whatever ctplug adds (`--du` is `--dump`
// although ctplug has `--duration`); ctplug's own names are tried after them. Names that lead to
// the same option (`--proto`, `--protonum`) are not ambiguous. Kept free of imports: args.ts
// loads it for every command line.

/** Every long option conntrack 1.4.7 knows: src/conntrack.c original_opts and extensions/libct_proto_*.c. */
export const CONNTRACK_LONG_NAMES: readonly string[] = [
  'dump', 'create', 'add', 'delete', 'update', 'get', 'flush', 'event', 'counter', 'stats', 'version', 'help',
  'orig-src', 'src', 'orig-dst', 'dst', 'reply-src', 'reply-dst', 'protonum', 'timeout', 'status', 'zero', 'event-mask',
  'tuple-src', 'tuple-dst', 'mask-src', 'mask-dst', 'nat-range', 'mark', 'secmark', 'id', 'family', 'src-nat', 'dst-nat',
  'output', 'buffer-size', 'any-nat', 'zone', 'label', 'label-add', 'label-del', 'orig-zone', 'reply-zone',
  // tcp, udp, udplite, sctp, dccp
  'orig-port-src', 'sport', 'orig-port-dst', 'dport', 'reply-port-src', 'reply-port-dst', 'mask-port-src', 'mask-port-dst',
  'state', 'tuple-port-src', 'tuple-port-dst', 'orig-vtag', 'reply-vtag', 'role',
  // icmp, icmpv6
  'icmp-type', 'icmp-code', 'icmp-id', 'icmpv6-type', 'icmpv6-code', 'icmpv6-id',
  // gre
  'orig-key-src', 'srckey', 'orig-key-dst', 'dstkey', 'reply-key-src', 'reply-key-dst', 'mask-key-src', 'mask-key-dst',
  'tuple-key-src', 'tuple-key-dst',
];

const CONNTRACK = new Set(CONNTRACK_LONG_NAMES);

export type Resolved<K> = { key: K; name: string } | { ambiguous: string[] } | { unknown: true };

/**
 * The option `--word` names among `names` (long name -> what it stands for). Exact names win;
 * then the conntrack names it begins, then ctplug's own; several names that stand for different
 * things are ambiguous (the candidates are returned, sorted).
 */
export function resolveLong<K>(word: string, names: ReadonlyMap<string, K>): Resolved<K> {
  const exact = names.get(word);
  if (exact !== undefined) return { key: exact, name: word };
  if (!word) return { unknown: true };
  for (const ours of [true, false]) {
    const hits = [...names.keys()].filter((n) => n.startsWith(word) && CONNTRACK.has(n) === ours);
    if (!hits.length) continue;
    const keys = new Set(hits.map((n) => names.get(n)));
    if (keys.size === 1) return { key: names.get(hits[0])!, name: hits[0] };
    return { ambiguous: hits.sort() };
  }
  return { unknown: true };
}
