// One parity case: a seed, a command line in conntrack's syntax (run as it is by `conntrack` in
// one namespace and by `ctplug` in its twin), and what the comparison must show:
//   same     stdout, summary line, exit code (mapped, normalize.ts) and the resulting tables identical
//   differs  a deliberate, documented difference: ctplug's behaviour is asserted (`expect`), and so
//            is the conntrack behaviour it differs from (`oracle`), so the spec stays true
//   todo     parity not implemented yet (issue 16, item N): reported, not asserted
import type { SeedName } from './seeds.js';

/** The numbered items of issue 16's "Missing or wrong" list. */
export const ITEMS = {
  1: 'ICMP/ICMPv6 filters in list, delete, update and events',
  2: 'delete -w Z prints the deleted entries',
  3: 'state names and protocol extensions (LISTEN, SCTP, DCCP, GRE keys, vtags, role)',
  4: 'NAT filters -n/-g/-j',
  5: 'update semantics (-m VALUE/MASK, --state sets, unchanged entries skipped)',
  6: 'output formats and verbs (xml, save, timestamp, ktimestamp, userspace, -z, --mask-*, tables, -R)',
  7: 'option spelling (long command names, getopt abbreviations, --count)',
  8: 'smaller (directional zones, --label-del, CIDR host bits)',
  /** Not in the issue's list: gaps this harness found (see /work/notes/parity-spec.md). */
  9: 'not listed in the issue (found by this harness)',
} as const;
export type Item = keyof typeof ITEMS;

export interface Expect {
  /** ctplug's own exit code (host/cli/exit-codes.ts). */
  code: number;
  stderr?: RegExp;
  /** 'empty': prints nothing; 'same': what conntrack prints; or a pattern. */
  stdout?: 'empty' | 'same' | RegExp;
  /** How many lines stdout has. */
  lines?: number;
  /** 'unchanged': the seed's table; 'same': the table conntrack leaves. */
  table?: 'unchanged' | 'same';
  /** Every seed entry matching this is still there afterwards / is gone afterwards. */
  keeps?: RegExp;
  drops?: RegExp;
  /** Some entry of the table afterwards matches this. */
  tableHas?: RegExp;
}

/** The conntrack behaviour a deliberate difference is about (same checks, on conntrack's side). */
export interface Oracle extends Omit<Expect, 'code' | 'stdout' | 'table'> {
  code?: number;
  stdout?: RegExp;
  table?: 'unchanged' | 'changed';
}

export interface Case {
  /** Unique; says what is tested. */
  name: string;
  seed: SeedName;
  /** conntrack's argv (without `conntrack`); `{file}` is replaced by the path of `file`. */
  args: string[];
  /** The content of the file `{file}` names (for -R/--load-file). */
  file?: string;
  /** -E cases: command lines run by conntrack in both namespaces while both listen. */
  events?: string[];
  status: 'same' | 'todo' | 'differs';
  item?: Item;
  /** differs: the reason. todo: the target when it is not `same` (e.g. a deliberate difference still to build). */
  why?: string;
  expect?: Expect;
  oracle?: Oracle;
}

type Extra = Partial<Pick<Case, 'file' | 'events' | 'name'>>;
const split = (args: string) => args.trim().split(/\s+/).filter(Boolean);
const named = (seed: string, args: string, x?: Extra) => x?.name ?? `${seed}: ${args.trim()}${x?.events ? ` <- ${x.events.join(' ; ')}` : ''}`;

/** A case that is identical today. */
export function same(seed: SeedName, args: string, x?: Extra): Case {
  return { ...x, name: named(seed, args, x), seed, args: split(args), status: 'same' };
}

/** A case not at parity yet: which item of issue 16 it belongs to (and, if not `same`, its target). */
export function todo(item: Item, seed: SeedName, args: string, x?: Extra & { target?: string }): Case {
  const { target, ...rest } = x ?? {};
  return { ...rest, name: named(seed, args, x), seed, args: split(args), status: 'todo', item, ...(target ? { why: target } : {}) };
}

/** A deliberate difference: why, what ctplug does, and what conntrack does instead. */
export function differs(why: string, seed: SeedName, args: string, expect: Expect, oracle?: Oracle, x?: Extra): Case {
  return { ...x, name: named(seed, args, x), seed, args: split(args), status: 'differs', why, expect, oracle };
}

/** `same` unless the item is listed: lets a generated family mark its not-yet-identical members. */
export function sameOrTodo(item: Item | undefined, seed: SeedName, args: string, x?: Extra): Case {
  return item === undefined ? same(seed, args, x) : todo(item, seed, args, x);
}
