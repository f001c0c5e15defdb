// What the daemon process may hold. nfnetlink checks the capability of the process that sends, so
// the daemon keeps CAP_NET_ADMIN for its whole life (and CAP_SYS_ADMIN, for setns, only when the
// policy names namespaces), and nothing else: not in its effective, permitted, inheritable or
// ambient sets, nor in its bounding set. Node cannot change its own capabilities, so a daemon
// started as root re-executes itself under setpriv(1) as an unprivileged user with exactly
// those (dropPrivileges); one started otherwise (systemd: User=, AmbientCapabilities=,
// CapabilityBoundingSet=) is checked and refuses to run holding more (capabilityProblem).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;
const NAMES: Record<number, string> = { [CAP_NET_ADMIN]: 'net_admin', [CAP_SYS_ADMIN]: 'sys_admin' };

export interface CapabilitySets { eff: bigint; prm: bigint; inh: bigint; bnd: bigint; amb: bigint }

export function capabilitySets(status = readFileSync('/proc/self/status', 'utf8')): CapabilitySets {
  const get = (k: string) => BigInt('0x' + (new RegExp(`^Cap${k}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1] ?? '0'));
  return { eff: get('Eff'), prm: get('Prm'), inh: get('Inh'), bnd: get('Bnd'), amb: get('Amb') };
}

/** The capabilities the daemon needs: NET_ADMIN, and SYS_ADMIN when it must enter named namespaces. */
export function neededCapabilities(setns: boolean): number[] {
  return setns ? [CAP_NET_ADMIN, CAP_SYS_ADMIN] : [CAP_NET_ADMIN];
}

export const maskOf = (caps: number[]) => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);

/** Why the current capability sets are not exactly right for the daemon, or undefined. */
export function capabilityProblem(sets: CapabilitySets, needed: number[]): string | undefined {
  const want = maskOf(needed);
  const missing = needed.filter((c) => !(sets.eff & (1n << BigInt(c))));
  if (missing.length) return `it needs ${missing.map((c) => `CAP_${NAMES[c].toUpperCase()}`).join(' and ')} (start it as root, which drops everything else, or under the systemd unit)`;
  const extra = (['eff', 'prm', 'inh', 'amb'] as const).filter((k) => (sets[k] & ~want) !== 0n);
  if (extra.length) return `it holds capabilities it does not need (Cap${extra.map((k) => k[0].toUpperCase() + k.slice(1)).join(', Cap')} beyond 0x${want.toString(16)}): start it as root, which drops them, or with only AmbientCapabilities=${needed.map((c) => `CAP_${NAMES[c].toUpperCase()}`).join(' ')}`;
  return undefined;
}

/** The user the daemon drops to: --user NAME (getent) or UID[:GID], else a dedicated `ctplug` user. */
export function resolveUser(name: string | undefined): { name: string; uid: number; gid: number } | string {
  const user = name ?? 'ctplug';
  const ids = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(user);
  if (ids) {
    const uid = Number(ids[1]), gid = Number(ids[2] ?? ids[1]);
    if (uid === 0 || gid === 0) return 'it will not run as uid or gid 0: pass --user with an unprivileged user';
    return { name: user, uid, gid };
  }
  const r = spawnSync('getent', ['passwd', user], { encoding: 'utf8' });
  const f = r.status === 0 ? r.stdout.trim().split(':') : [];
  if (f.length < 4) {
    return name === undefined
      ? 'started as root it drops to a dedicated user, and there is no user "ctplug": create one (useradd --system --no-create-home --shell /usr/sbin/nologin ctplug) or pass --user NAME'
      : `no user named ${JSON.stringify(user)}`;
  }
  const uid = Number(f[2]), gid = Number(f[3]);
  if (uid === 0) return 'it will not run as uid 0: pass --user with an unprivileged user';
  return { name: user, uid, gid };
}

/** setpriv's arguments: that user, no groups, exactly `caps` in every set (ambient survives exec), no new privileges. */
export function setprivArgs(user: { uid: number; gid: number }, caps: number[]): string[] {
  const list = '-all,' + caps.map((c) => `+${NAMES[c]}`).join(',');
  return [
    `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups',
    `--inh-caps=${list}`, `--ambient-caps=${list}`, `--bounding-set=${list}`, '--no-new-privs', '--',
  ];
}
