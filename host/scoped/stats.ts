// What the gate did for one asker (a plugin's run, a client's session): counted where it happens,
// read by whoever reports it (the runtime's RunStats add output and log counts to these).
// A type (not an interface) so it is a Record<string, number>: errors carry it as `stats`.
export type OpStats = {
  /** Entries delivered (after the scope re-check). */
  entries: number;
  /** Entries the kernel returned that the scope scanner dropped. */
  filtered: number;
  batches: number;
  dumps: number;
  deleted: number;
  /** Deletes the kernel answered ENOENT: already gone. */
  gone: number;
  failed: number;
  /**
   * Deletes/updates not sent because the kernel's current entry failed the grant's confirmation
   * (policy/confirm.ts): replaced by another entry, or no longer inside the grant.
   */
  changed: number;
  created: number;
  updated: number;
  flushes: number;
  /** Events delivered (after the scope re-check). */
  events: number;
  /** Times the kernel dropped events (ENOBUFS); each is followed by a RESYNC dump when granted read. */
  overruns: number;
  /** RESYNC dumps run after overruns, and the wall time they took (ms, summed). */
  resyncs: number;
  resyncMs: number;
  /** Requests refused (E_BOUNDS, E_DENIED, E_SCOPE, E_INVAL, E_LIMIT, E_STATE). */
  refused: number;
};

export const emptyOpStats = (): OpStats => ({
  entries: 0, filtered: 0, batches: 0, dumps: 0, deleted: 0, gone: 0, failed: 0, changed: 0, created: 0, updated: 0, flushes: 0, events: 0,
  overruns: 0, resyncs: 0, resyncMs: 0, refused: 0,
});
