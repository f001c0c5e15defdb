// Text a plugin or a manifest supplies (log lines, error details, names, versions, descriptions,
// import and export names) is untrusted: printed raw it could forge ctplug's own lines, move the
// cursor, hide output or retitle the terminal. It is escaped before it reaches a terminal or a
// log line: one record stays one line, and every control character is shown, not obeyed.

/**
 * C0 controls (newline, CR, ESC, BEL...), DEL, C1 controls (0x80-0x9f: CSI and friends), the
 * Unicode line/paragraph separators and the bidirectional overrides/isolates that reorder text.
 * A backslash is escaped too, so an escaped sequence cannot be forged by the plugin typing it.
 */
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  switch (c) {
    case '\\': return '\\\\';
    case '\n': return '\\n';
    case '\r': return '\\r';
    case '\t': return '\\t';
  }
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/** One line of visible text: control characters and backslashes escaped (\n, \r, \t, \x1b, \u202e, \\). */
export function escapeText(s: string): string {
  return s.replace(UNSAFE, escapeChar);
}

/** An untrusted value in a message: escaped and quoted. */
export function quoteText(s: unknown): string {
  return typeof s === 'string' ? `"${escapeText(s).replace(/"/g, '\\"')}"` : escapeText(JSON.stringify(s) ?? String(s));
}

const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Control characters escaped, backslashes left alone: for a line that mixes host text with
 * pieces escaped at their source (escapeText), so those are not escaped twice.
 */
export function escapeControls(s: string): string {
  return s.replace(CONTROLS, escapeChar);
}

/** What JSON.stringify leaves raw inside strings: DEL, C1 controls, line separators, bidi controls. */
const JSON_RAW = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON text whose strings carry no character a terminal obeys (still JSON: \uXXXX escapes). */
export function terminalSafeJson(v: unknown, indent?: number): string {
  return JSON.stringify(v, null, indent).replace(JSON_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
