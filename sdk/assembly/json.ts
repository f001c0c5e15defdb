// A tiny JSON reader for plugin config. Parses once into a small tree (allocates; meant for
// init, not for the per-entry path). Strict enough: rejects trailing garbage, bad escapes,
// unterminated values; nesting limited to 32 levels.
export const enum JsonKind { Null = 0, Bool = 1, Number = 2, String = 3, Array = 4, Object = 5 }

export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  b: bool = false;
  n: f64 = 0;
  s: string = "";
  items: Array<JsonValue> = [];
  keys: Array<string> = [];

  get isNull(): bool { return this.kind == JsonKind.Null; }
  get isString(): bool { return this.kind == JsonKind.String; }
  get isNumber(): bool { return this.kind == JsonKind.Number; }
  get isBool(): bool { return this.kind == JsonKind.Bool; }
  get isArray(): bool { return this.kind == JsonKind.Array; }
  get isObject(): bool { return this.kind == JsonKind.Object; }

  /** Member of an object (last one wins on duplicates), or null. */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object) return null;
    for (let i = this.keys.length - 1; i >= 0; i--) if (unchecked(this.keys[i]) == key) return unchecked(this.items[i]);
    return null;
  }
  has(key: string): bool { return this.get(key) !== null; }
  /** Element of an array, or null. */
  at(i: i32): JsonValue | null {
    if (this.kind != JsonKind.Array || i < 0 || i >= this.items.length) return null;
    return unchecked(this.items[i]);
  }
  get length(): i32 { return this.kind == JsonKind.Array || this.kind == JsonKind.Object ? this.items.length : 0; }

  // Typed member lookups with a default when absent or of another kind.
  getString(key: string, dflt: string = ""): string {
    const v = this.get(key);
    return v && v.kind == JsonKind.String ? v.s : dflt;
  }
  getNumber(key: string, dflt: f64 = 0): f64 {
    const v = this.get(key);
    return v && v.kind == JsonKind.Number ? v.n : dflt;
  }
  getBool(key: string, dflt: bool = false): bool {
    const v = this.get(key);
    return v && v.kind == JsonKind.Bool ? v.b : dflt;
  }
  /** An integer member (a number with no fraction, within +-2^53), else `dflt`. */
  getInt(key: string, dflt: i64 = 0): i64 {
    const v = this.get(key);
    return v && v.isInteger ? <i64>v.n : dflt;
  }
  /** A string member, or an array of strings, as an array; null when absent or anything else. */
  getStrings(key: string): Array<string> | null {
    const v = this.get(key);
    if (!v) return null;
    if (v.kind == JsonKind.String) return [v.s];
    if (v.kind != JsonKind.Array) return null;
    const out = new Array<string>(v.items.length);
    for (let i = 0; i < v.items.length; i++) {
      const item = unchecked(v.items[i]);
      if (item.kind != JsonKind.String) return null;
      unchecked(out[i] = item.s);
    }
    return out;
  }
  /** An integer member, or an array of integers, as an array; null when absent or anything else. */
  getInts(key: string): Array<i64> | null {
    const v = this.get(key);
    if (!v) return null;
    if (v.isInteger) return [<i64>v.n];
    if (v.kind != JsonKind.Array) return null;
    const out = new Array<i64>(v.items.length);
    for (let i = 0; i < v.items.length; i++) {
      const item = unchecked(v.items[i]);
      if (!item.isInteger) return null;
      unchecked(out[i] = <i64>item.n);
    }
    return out;
  }
  /** A number with no fraction, small enough to be exact (|n| <= 2^53). */
  get isInteger(): bool {
    return this.kind == JsonKind.Number && Math.floor(this.n) == this.n && Math.abs(this.n) <= 9007199254740992;
  }
  /** Serialize back (for logs and tests). */
  toString(): string {
    switch (this.kind) {
      case JsonKind.Null: return "null";
      case JsonKind.Bool: return this.b ? "true" : "false";
      case JsonKind.Number: return Number.isInteger(this.n) && Math.abs(this.n) < 9e15 ? (<i64>this.n).toString() : this.n.toString();
      case JsonKind.String: return quote(this.s);
      case JsonKind.Array: {
        let out = "[";
        for (let i = 0; i < this.items.length; i++) out += (i ? "," : "") + this.items[i].toString();
        return out + "]";
      }
      default: {
        let out = "{";
        for (let i = 0; i < this.items.length; i++) out += (i ? "," : "") + quote(this.keys[i]) + ":" + this.items[i].toString();
        return out + "}";
      }
    }
  }
}

function quote(s: string): string {
  let out = "\"";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 34) out += "\\\"";
    else if (c == 92) out += "\\\\";
    else if (c < 32) out += "\\u00" + (c < 16 ? "0" : "") + c.toString(16);
    else out += String.fromCharCode(c);
  }
  return out + "\"";
}

/** Why the last parse failed ("" after success). */
export let jsonError: string = "";

class Parser {
  s: string; i: i32 = 0; depth: i32 = 0; err: string = "";
  constructor(s: string) { this.s = s; }
  fail(msg: string): JsonValue | null { if (!this.err.length) this.err = msg + " at offset " + this.i.toString(); return null; }
  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c == 32 || c == 9 || c == 10 || c == 13) this.i++; else break;
    }
  }
  value(): JsonValue | null {
    this.ws();
    if (this.i >= this.s.length) return this.fail("unexpected end");
    const c = this.s.charCodeAt(this.i);
    if (c == 123) return this.object();
    if (c == 91) return this.array();
    if (c == 34) { const str = this.string(); if (str === null) return null; const v = new JsonValue(); v.kind = JsonKind.String; v.s = str; return v; }
    if (c == 116) return this.word("true", JsonKind.Bool, true);
    if (c == 102) return this.word("false", JsonKind.Bool, false);
    if (c == 110) return this.word("null", JsonKind.Null, false);
    if (c == 45 || (c >= 48 && c <= 57)) return this.number();
    return this.fail("unexpected character");
  }
  word(w: string, k: JsonKind, b: bool): JsonValue | null {
    if (this.s.substr(this.i, w.length) != w) return this.fail("bad literal");
    this.i += w.length;
    const v = new JsonValue(); v.kind = k; v.b = b; return v;
  }
  number(): JsonValue | null {
    const s = this.s, start = this.i;
    if (s.charCodeAt(this.i) == 45) this.i++;
    let digits = 0;
    while (this.i < s.length && s.charCodeAt(this.i) >= 48 && s.charCodeAt(this.i) <= 57) { this.i++; digits++; }
    if (digits == 0) return this.fail("bad number");
    if (this.i < s.length && s.charCodeAt(this.i) == 46) {
      this.i++; let fd = 0;
      while (this.i < s.length && s.charCodeAt(this.i) >= 48 && s.charCodeAt(this.i) <= 57) { this.i++; fd++; }
      if (fd == 0) return this.fail("bad number");
    }
    if (this.i < s.length && (s.charCodeAt(this.i) | 32) == 101) {
      this.i++;
      if (this.i < s.length && (s.charCodeAt(this.i) == 43 || s.charCodeAt(this.i) == 45)) this.i++;
      let ed = 0;
      while (this.i < s.length && s.charCodeAt(this.i) >= 48 && s.charCodeAt(this.i) <= 57) { this.i++; ed++; }
      if (ed == 0) return this.fail("bad number");
    }
    const v = new JsonValue(); v.kind = JsonKind.Number; v.n = F64.parseFloat(s.substring(start, this.i)); return v;
  }
  hex4(): i32 {
    if (this.i + 4 > this.s.length) return -1;
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.s.charCodeAt(this.i + k);
      let d = -1;
      if (c >= 48 && c <= 57) d = c - 48; else if ((c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    this.i += 4;
    return v;
  }
  string(): string | null {
    const s = this.s;
    this.i++; // opening quote
    let out = "";
    let run = this.i;
    while (true) {
      if (this.i >= s.length) { this.fail("unterminated string"); return null; }
      const c = s.charCodeAt(this.i);
      if (c == 34) { out += s.substring(run, this.i); this.i++; return out; }
      if (c < 32) { this.fail("control character in string"); return null; }
      if (c == 92) {
        out += s.substring(run, this.i);
        this.i++;
        if (this.i >= s.length) { this.fail("bad escape"); return null; }
        const e = s.charCodeAt(this.i++);
        if (e == 34) out += "\""; else if (e == 92) out += "\\"; else if (e == 47) out += "/";
        else if (e == 98) out += "\b"; else if (e == 102) out += "\f"; else if (e == 110) out += "\n";
        else if (e == 114) out += "\r"; else if (e == 116) out += "\t";
        else if (e == 117) { const h = this.hex4(); if (h < 0) { this.fail("bad \\u escape"); return null; } out += String.fromCharCode(h); }
        else { this.fail("bad escape"); return null; }
        run = this.i;
        continue;
      }
      this.i++;
    }
  }
  array(): JsonValue | null {
    if (++this.depth > 32) return this.fail("nested too deep");
    this.i++;
    const v = new JsonValue(); v.kind = JsonKind.Array;
    this.ws();
    if (this.i < this.s.length && this.s.charCodeAt(this.i) == 93) { this.i++; this.depth--; return v; }
    while (true) {
      const item = this.value();
      if (item === null) return null;
      v.items.push(item);
      this.ws();
      if (this.i >= this.s.length) return this.fail("unterminated array");
      const c = this.s.charCodeAt(this.i++);
      if (c == 93) break;
      if (c != 44) return this.fail("expected , or ]");
    }
    this.depth--;
    return v;
  }
  object(): JsonValue | null {
    if (++this.depth > 32) return this.fail("nested too deep");
    this.i++;
    const v = new JsonValue(); v.kind = JsonKind.Object;
    this.ws();
    if (this.i < this.s.length && this.s.charCodeAt(this.i) == 125) { this.i++; this.depth--; return v; }
    while (true) {
      this.ws();
      if (this.i >= this.s.length || this.s.charCodeAt(this.i) != 34) return this.fail("expected a key");
      const k = this.string();
      if (k === null) return null;
      this.ws();
      if (this.i >= this.s.length || this.s.charCodeAt(this.i) != 58) return this.fail("expected :");
      this.i++;
      const item = this.value();
      if (item === null) return null;
      v.keys.push(k);
      v.items.push(item);
      this.ws();
      if (this.i >= this.s.length) return this.fail("unterminated object");
      const c = this.s.charCodeAt(this.i++);
      if (c == 125) break;
      if (c != 44) return this.fail("expected , or }");
    }
    this.depth--;
    return v;
  }
}

/** Parse a JSON text. Returns null and sets `jsonError` on failure. */
export function parseJson(text: string): JsonValue | null {
  const p = new Parser(text);
  const v = p.value();
  if (v !== null) {
    p.ws();
    if (p.i != text.length) { p.fail("trailing characters"); jsonError = p.err; return null; }
  }
  jsonError = v === null ? p.err : "";
  return v;
}
