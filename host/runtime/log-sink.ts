// A plugin's log records on their way to the main thread: log() lines, WASI stdout/stderr lines
// and the host's notes about the plugin. Rate-limited (LineLimiter), capped per line, and each
// record is one line of escaped text (policy/untrusted-text.ts), so whatever the plugin writes
// cannot forge another record or drive the terminal of whoever reads the log.
import { escapeText } from '../policy/untrusted-text.js';
import { LineLimiter } from './lines.js';
import type { LogLevel, LogLine, RunStats } from './protocol.js';

export const MAX_LINE_BYTES = 4096;

export class LogSink {
  /** Records not yet posted to the main thread. */
  records: LogLine[] = [];
  /** The plugin's last error line: a failing status is reported with the plugin's own reason. */
  lastError = '';
  private readonly limiter: LineLimiter;
  private readonly noted = new Set<string>();
  private readonly partial = new Map<number, string>(); // fd -> unterminated stdout/stderr text

  constructor(perSecond: number, private readonly stats: RunStats) {
    this.limiter = new LineLimiter(perSecond);
  }

  /** A host note about the plugin, once per key. */
  note(key: string, level: LogLevel, text: string): void {
    if (this.noted.has(key)) return;
    this.noted.add(key);
    this.records.push({ level, source: 'host', text: escapeText(text) });
  }

  /** One line from the plugin; false when the rate limit dropped it. */
  line(level: LogLevel, source: LogLine['source'], raw: string): boolean {
    // Cut after escaping: a record is at most a line's worth of visible text.
    const escaped = escapeText(raw.length > MAX_LINE_BYTES ? raw.slice(0, MAX_LINE_BYTES + 1) : raw);
    const text = escaped.length > MAX_LINE_BYTES ? escaped.slice(0, MAX_LINE_BYTES) + '…' : escaped;
    if (level === 'error' && source !== 'host') this.lastError = text.slice(0, 300);
    const notice = this.limiter.notice();
    if (notice) this.records.push({ level: 'warn', source: 'host', text: notice });
    if (!this.limiter.take()) { this.stats.droppedLogLines++; return false; }
    this.stats.logLines++;
    this.records.push({ level, source, text });
    return true;
  }

  /** Text written to WASI fd 1 or 2: every complete line becomes a record; the rest waits. */
  write(fd: 1 | 2, chunk: string): void {
    let text = (this.partial.get(fd) ?? '') + chunk;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
      this.line(fd === 1 ? 'info' : 'warn', fd === 1 ? 'stdout' : 'stderr', text.slice(0, nl));
      text = text.slice(nl + 1);
    }
    this.partial.set(fd, text);
  }

  /** Whether fd's unterminated text can take more (beyond a line's worth it is cut, not held). */
  roomFor(fd: 1 | 2): boolean {
    return (this.partial.get(fd)?.length ?? 0) <= MAX_LINE_BYTES;
  }

  /** After each call: unterminated text longer than a line becomes a record (held text stays bounded). */
  flushLong(): void {
    for (const [fd, text] of this.partial) {
      if (text.length <= MAX_LINE_BYTES) continue;
      this.line(fd === 1 ? 'info' : 'warn', fd === 1 ? 'stdout' : 'stderr', text);
      this.partial.set(fd, '');
    }
  }

  /** At the end of the run: the dropped-lines notice and whatever unterminated text is left. */
  end(): void {
    const notice = this.limiter.notice(true);
    if (notice) this.records.push({ level: 'warn', source: 'host', text: notice });
    for (const [fd, text] of this.partial) if (text) this.line(fd === 1 ? 'info' : 'warn', fd === 1 ? 'stdout' : 'stderr', text);
    this.partial.clear();
  }

  /** The last stderr line (or unterminated stderr text), for a failing exit code's message. */
  lastStderr(): string | undefined {
    const last = this.records.filter((l) => l.source === 'stderr').pop()?.text;
    return last ?? (this.partial.get(2) ? escapeText(this.partial.get(2)!) : undefined);
  }

  take(): LogLine[] {
    const r = this.records;
    this.records = [];
    return r;
  }
}
