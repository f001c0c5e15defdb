// Typed access to sdk/filters.json, the single definition of the filter keys: the CLI's filter
// flags (args.ts), their translation to plugin config, kernel filter and grant (filter.ts), and
// their --help text all come from its rows. Bundled into the CLI (no file read at start-up) and
// kept free of other imports: args.ts loads it for every command line.
import table from '../../sdk/filters.json' with { type: 'json' };

type Table = typeof table;
export type FilterKey = keyof Table['keys'];
export type Kind = keyof Table['kinds'];
export type Verb = (typeof table.verbs)[number];

type Camel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type KeyWithFlag = { [K in FilterKey]: Table['keys'][K] extends { cli: object } ? K : never }[FilterKey];
/** A filter flag's key in the parsed options: its config key in camelCase (reply_src -> replySrc). */
export type FilterOpt = Camel<KeyWithFlag>;

export interface FilterFlag {
  short?: string;
  long: string[];
  value: string;
  help: string;
  /** The value's name in error messages; default: the first long name. */
  what?: string;
  /** The value may be left out (args.ts OptSpec.optional). */
  optional?: boolean;
  /** Given more than once, the values are joined with commas (args.ts OptSpec.merge). */
  merge?: boolean;
}

export interface FilterRow {
  key: FilterKey;
  kind: Kind;
  /** Its flag and option key, when it has one (else a plugin-config key only). */
  cli?: FilterFlag;
  opt?: FilterOpt;
  verbs: Verb[];
  kernel: boolean;
  /** An exact value of it is this original-tuple field: the CLI narrows dumps to it in the kernel (CTA_FILTER). */
  tuple?: 'protocol' | 'src' | 'dst' | 'sport' | 'dport';
  scope: boolean;
  /** The protocols whose entries it filters (e.g. icmp, icmpv6); -p must name one of them. */
  protocols?: string[];
  /** The key whose kind parser reads this one too (mark_mask goes with mark). */
  with?: FilterKey;
  /** Keys whose flags the CLI refuses together with this one's. */
  excludes?: FilterKey[];
  doc: string;
}

const camel = (s: string) => s.replace(/_(.)/g, (_, c: string) => c.toUpperCase());

/** Every filter key, in table order. */
export const FILTER_ROWS: readonly FilterRow[] = Object.entries(table.keys).map(([key, r]): FilterRow => {
  const row = r as Partial<FilterRow> & { kind: Kind; doc: string };
  return {
    ...row,
    key: key as FilterKey,
    opt: row.cli ? (camel(key) as FilterOpt) : undefined,
    verbs: row.verbs ?? [],
    kernel: row.kernel ?? false,
    scope: row.scope ?? false,
  };
});

/** The rows with a flag: what the CLI parses as filter options. */
export const FLAG_ROWS = FILTER_ROWS.filter((r): r is FilterRow & { cli: FilterFlag; opt: FilterOpt } => r.opt !== undefined);

/** The options `verb` takes as filters, in table order. */
export function filterFlags(verb: Verb): FilterOpt[] {
  return FLAG_ROWS.filter((r) => r.verbs.includes(verb)).map((r) => r.opt);
}
