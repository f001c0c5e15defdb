// Per-second line budget for plugin logs (log() and WASI stdout/stderr together). Lines over the
// budget are dropped and counted; one notice per window says how many.
export class LineLimiter {
  private windowStart = -Infinity;
  private used = 0;
  private dropped = 0;

  constructor(private readonly perSecond: number) {}

  take(now = Date.now()): boolean {
    if (now - this.windowStart >= 1000) { this.windowStart = now; this.used = 0; }
    if (this.used < this.perSecond) { this.used++; return true; }
    this.dropped++;
    return false;
  }

  /** The notice for lines dropped in a window that has ended (or now, when `final`). */
  notice(final = false, now = Date.now()): string | null {
    if (this.dropped === 0 || (!final && now - this.windowStart < 1000)) return null;
    const n = this.dropped;
    this.dropped = 0;
    return `${n} log line${n === 1 ? '' : 's'} dropped (limit ${this.perSecond}/s)`;
  }
}
