// Wall-clock time as conntrack shows it in the operator's time zone: ctime()'s text for
// `-o ktimestamp` ("[start=Tue Nov 24 10:00:00 2026]") and the broken-down local time of
// `-E -o xml,timestamp` (<when>). A plugin has no time zone: the host hands over the UTC offset in
// force now (config "utc_offset", seconds east of UTC), used for every time shown.
import { ByteBuf } from "./buf";

let utcOffset: i64 = 0;
/** Seconds east of UTC for local times (0: UTC). */
export function setUtcOffset(seconds: i64): void { utcOffset = seconds; }

/** A moment in local time, as struct tm has it (wday: 0 = Sunday, mon: 0 = January). */
export class LocalTime {
  year: i32 = 1970; mon: i32 = 0; mday: i32 = 1; wday: i32 = 4; hour: i32 = 0; min: i32 = 0; sec: i32 = 0;
}

/** Epoch seconds in local time (days from civil, Howard Hinnant's algorithm, run backwards). */
export function localTime(epochSeconds: i64): LocalTime {
  const t = new LocalTime();
  const s = epochSeconds + utcOffset;
  let days = s / 86400, rem = s % 86400;
  if (rem < 0) { rem += 86400; days--; }
  t.hour = <i32>(rem / 3600); t.min = <i32>((rem % 3600) / 60); t.sec = <i32>(rem % 60);
  t.wday = <i32>(((days % 7) + 11) % 7); // 1970-01-01 was a Thursday
  const z = days + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  t.mday = <i32>(doy - (153 * mp + 2) / 5 + 1);
  t.mon = <i32>(mp < 10 ? mp + 2 : mp - 10);
  t.year = <i32>(yoe + era * 400 + (t.mon < 2 ? 1 : 0));
  return t;
}

const DAYS: StaticArray<string> = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: StaticArray<string> = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function two(b: ByteBuf, v: i32): void { if (v < 10) b.byte(48); b.u32(<u32>v); }

/** ctime() without its newline: "Tue Nov 24 10:00:00 2026" (the day padded with a blank). */
export function ctimeText(b: ByteBuf, epochSeconds: i64): void {
  const t = localTime(epochSeconds);
  b.ascii(unchecked(DAYS[t.wday])).byte(32).ascii(unchecked(MONTHS[t.mon])).byte(32);
  if (t.mday < 10) b.byte(32);
  b.u32(<u32>t.mday).byte(32);
  two(b, t.hour); b.byte(58); two(b, t.min); b.byte(58); two(b, t.sec);
  b.byte(32).u32(<u32>t.year);
}
