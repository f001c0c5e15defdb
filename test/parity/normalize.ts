// What the parity harness compares, and the only normalisations it allows: values that differ
// between two namespaces or two runs however correct both tools are (conntrack ids, timeouts that
// tick, timestamps, netlink port ids, per-namespace statistics), ctplug's own summary prefix, and
// ctplug's exit codes mapped onto the conntrack code each corresponds to.
import { EXIT } from '../../host/exit-codes.js';

/**
 * ctplug's exit codes are distinct (README "Exit codes"); conntrack 1.4.7 has three: 0 ok,
 * 1 OTHER_PROBLEM (anything that failed at run time, including "nothing matched"), 2
 * PARAMETER_PROBLEM (the command line). Each ctplug code maps to the conntrack code of the same case.
 */
export const CONNTRACK_CODE_OF: Record<number, number> = {
  [EXIT.OK]: 0,
  [EXIT.NOTHING_MATCHED]: 1, // "0 flow entries have been deleted." -> exit 1
  [EXIT.USAGE]: 2, // PARAMETER_PROBLEM
  [EXIT.PRIVILEGE]: 1, // "Operation failed: sorry, you must be root or get CAP_NET_ADMIN ..."
  [EXIT.ENVIRONMENT]: 1, // "Can't open handler" and the like
  [EXIT.KERNEL]: 1, // "Operation failed: <errno text>"
  [EXIT.PLUGIN_REFUSED]: 1, // no conntrack equivalent: a run-time failure
  [EXIT.PLUGIN_FAILED]: 1,
};

export function mappedCode(ctplugCode: number): number {
  return CONNTRACK_CODE_OF[ctplugCode] ?? -1;
}

const CONNTRACK_PREFIX = /^conntrack v1\.4\.7 \(conntrack-tools\): /;
const CTPLUG_PREFIX = /^ctplug v\S+ \(conntrack-tools compatible\): /;
/** The counting lines both tools end a command with (not error lines, whose wording is each tool's own). */
const SUMMARY = /^(\d+ (flow entries|flow events|expectations|expectation events) have been \w+\.|connection tracking table has been emptied\.|expectation table has been emptied\.)/;

/**
 * The summary lines of a run's stderr, without the tool's prefix. ctplug's events summary adds
 * "N events delivered, N overruns, N resyncs." (a documented extension): only conntrack's sentence
 * is compared.
 */
export function summaryLines(stderr: string): string[] {
  const out: string[] = [];
  for (const line of stderr.split('\n')) {
    const rest = line.replace(CONNTRACK_PREFIX, '').replace(CTPLUG_PREFIX, '');
    if (rest === line) continue;
    const m = rest.match(SUMMARY);
    if (m) out.push(m[1]);
  }
  return out;
}

/** One line of conntrack/ctplug output with the values that cannot agree between namespaces replaced. */
export function normalizeLine(line: string): string {
  return line
    // -o timestamp (events): "[1700000000.123456]\t" before the line
    .replace(/^\[\s*\d+\.\s*\d+\s*\]\t/, '[TS]\t')
    // the timeout column of text/extended lines: "[NEW] ipv4 2 tcp 6 431999 ESTABLISHED ..."
    .replace(/^((?:\[TS\]\t)?(?:\s*\[[A-Z]+\]\s+)?(?:ipv[46]\s+\d+\s+)?[a-z0-9-]+\s+\d+\s+)\d+ /, '$1T ')
    // use=N is the kernel's reference count at the moment of the dump (conntrack -U prints its
    // GET replies with use=2); the conntrack id (-o id) is a hash. An ICMP id= (after code=) is a tuple field.
    .replace(/ use=\d+/, '').replace(/(?<!code=\d{1,3}) id=\d+/g, ' id=ID')
    // -o ktimestamp and timestamp accounting
    .replace(/\[start=[^\]]*\]/, '[start=S]').replace(/\[stop=[^\]]*\]/, '[stop=S]').replace(/delta-time=\d+/, 'delta-time=D')
    // -o save: "-t 3599"
    .replace(/^(-[AUD] )?-t \d+/, '$1-t T')
    // -o xml
    .replace(/<timeout>\d+<\/timeout>/g, '<timeout>T</timeout>').replace(/<id>\d+<\/id>/g, '<id>ID</id>')
    .replace(/<when>.*?<\/when>/g, '<when>W</when>').replace(/<deltatime>\d+<\/deltatime>/g, '<deltatime>D</deltatime>')
    .replace(/<start>\d+<\/start>/g, '<start>S</start>').replace(/<stop>\d+<\/stop>/g, '<stop>S</stop>')
    // events caused by a process: "[USERSPACE] portid=2566656963 progname=conntrack". conntrack
    // finds progname in /proc only while that process still runs: a race, not a property of the event.
    .replace(/portid=\d+/, 'portid=P').replace(/ progname=\S+/, '')
    // expectations: the timeout leads the line
    .replace(/^(\s*\[\w+\]\s+)?\d+ proto=/, '$1T proto=')
    // -S: per-namespace counters; only their names and layout are comparable
    .replace(/^(cpu=\d+\s*\t)(.*)$/, (_m, cpu, rest) => cpu + rest.replace(/=\d+/g, '=N'));
}

/** Output as a sorted list of normalised lines (both tools print in the kernel's hash order, which differs per namespace). */
export function normalizeOutput(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0).map(normalizeLine).sort();
}
