// A small JSON writer into a ByteBuf (Plugin.out for NDJSON output): commas and colons are placed
// for you, strings are escaped as JSON requires and written as UTF-8. Allocates nothing itself
// (number() formats through f64.toString). Nesting up to 32 levels.
//   const w = new JsonWriter(Plugin.out);
//   w.beginObject().key("zone").int(e.zone).key("src").string(e.orig.srcString()).endObject().line();
import { ByteBuf } from "./buf";

const MAX_DEPTH = 32;

export class JsonWriter {
  private depth: i32 = 0;
  /** Per open container: whether a value was written in it (the next one needs a comma). */
  private used: StaticArray<bool> = new StaticArray<bool>(MAX_DEPTH + 1);
  private afterKey: bool = false;

  constructor(readonly out: ByteBuf) {}

  beginObject(): JsonWriter { return this.open(123); }
  endObject(): JsonWriter { return this.close(125); }
  beginArray(): JsonWriter { return this.open(91); }
  endArray(): JsonWriter { return this.close(93); }

  /** A member name; its value follows. */
  key(k: string): JsonWriter {
    this.separate();
    this.quoted(k);
    this.out.byte(58);
    this.afterKey = true;
    return this;
  }

  string(s: string): JsonWriter { this.separate(); this.quoted(s); return this; }
  int(v: i64): JsonWriter { this.separate(); this.out.i64(v); return this; }
  uint(v: u64): JsonWriter { this.separate(); this.out.u64(v); return this; }
  /** Not-a-number and infinities have no JSON form: written as null. */
  number(v: f64): JsonWriter {
    this.separate();
    if (!isFinite(v)) this.out.ascii("null");
    else if (Math.floor(v) == v && Math.abs(v) < 9e15) this.out.i64(<i64>v);
    else this.out.ascii(v.toString());
    return this;
  }
  bool(b: bool): JsonWriter { this.separate(); this.out.ascii(b ? "true" : "false"); return this; }
  null(): JsonWriter { this.separate(); this.out.ascii("null"); return this; }

  /** Ends a top-level value with a newline (one NDJSON record) and starts afresh. */
  line(): JsonWriter {
    this.out.byte(10);
    this.depth = 0;
    this.used[0] = false;
    this.afterKey = false;
    return this;
  }

  private open(c: i32): JsonWriter {
    this.separate();
    this.out.byte(c);
    if (this.depth < MAX_DEPTH) this.depth++;
    this.used[this.depth] = false;
    return this;
  }

  private close(c: i32): JsonWriter {
    this.out.byte(c);
    if (this.depth > 0) this.depth--;
    return this;
  }

  private separate(): void {
    if (this.afterKey) { this.afterKey = false; return; }
    if (this.depth > 0 && this.used[this.depth]) this.out.byte(44);
    this.used[this.depth] = true;
  }

  /** `s` as a JSON string: quote, backslash, control characters and lone surrogates escaped, the rest as UTF-8. */
  private quoted(s: string): void {
    const b = this.out;
    b.byte(34);
    for (let i = 0, n = s.length; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c == 34 || c == 92) { b.byte(92).byte(c); continue; }
      if (c < 0x80) {
        if (c < 32) this.escaped(c);
        else b.byte(c);
        continue;
      }
      if (c >= 0xd800 && c < 0xe000) {
        const lo = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c >= 0xdc00 || lo < 0xdc00 || lo >= 0xe000) { this.escaped(c); continue; }
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
      if (c < 0x800) b.byte(0xc0 | (c >> 6)).byte(0x80 | (c & 63));
      else if (c < 0x10000) b.byte(0xe0 | (c >> 12)).byte(0x80 | ((c >> 6) & 63)).byte(0x80 | (c & 63));
      else b.byte(0xf0 | (c >> 18)).byte(0x80 | ((c >> 12) & 63)).byte(0x80 | ((c >> 6) & 63)).byte(0x80 | (c & 63));
    }
    b.byte(34);
  }

  private escaped(c: i32): void {
    this.out.ascii("\\u");
    for (let shift = 12; shift >= 0; shift -= 4) {
      const d = (c >> shift) & 15;
      this.out.byte(d < 10 ? 48 + d : 87 + d);
    }
  }
}
