// Cancellation, one shape everywhere: whatever an AbortSignal ends (a plugin run, a dump, an event
// source, a wait for the kernel) rejects with this AbortError, code 'ABORTED'. `stats` says what was
// done before the abort: a run's RunStats, a dump's DumpProgress, an event source's counters.
export class AbortError extends Error {
  readonly code = 'ABORTED';
  stats?: Readonly<Record<string, number>>;

  constructor(what: string, reason?: unknown) {
    super(`${what} was aborted${typeof reason === 'string' && reason ? `: ${reason}` : ''}`, reason === undefined ? undefined : { cause: reason });
    this.name = 'AbortError';
  }
}

/** Throws AbortError when `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(what, signal.reason);
}

/** `err` with `stats` attached when it is an AbortError (what was done before the abort). */
export function withStats<E>(err: E, stats: object): E {
  if (err instanceof AbortError && !err.stats) err.stats = { ...(stats as Record<string, number>) };
  return err;
}
