/**
 * Human-readable durations ("500ms", "30s", "1h30m", "1m 30s", "2d") ⇄ milliseconds.
 * The grammar follows Rust's humantime (the reference's format); imports nothing of ours.
 */

export type DurationResult = { kind: "ok"; ms: number } | { kind: "error"; message: string };

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Unit spellings accepted by humantime, in milliseconds (month and year as humantime defines them). */
const UNITS: Record<string, number> = {
  ms: 1,
  msec: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: SECOND,
  sec: SECOND,
  secs: SECOND,
  second: SECOND,
  seconds: SECOND,
  m: MINUTE,
  min: MINUTE,
  mins: MINUTE,
  minute: MINUTE,
  minutes: MINUTE,
  h: HOUR,
  hr: HOUR,
  hrs: HOUR,
  hour: HOUR,
  hours: HOUR,
  d: DAY,
  day: DAY,
  days: DAY,
  w: 7 * DAY,
  week: 7 * DAY,
  weeks: 7 * DAY,
  M: 30.44 * DAY,
  month: 30.44 * DAY,
  months: 30.44 * DAY,
  y: 365.25 * DAY,
  year: 365.25 * DAY,
  years: 365.25 * DAY,
};

const SUB_MILLISECOND = new Set(["ns", "nsec", "us", "usec", "µs"]);

/** One `<number><unit>` term; spaces may separate terms and sit between number and unit. */
const TERM = /\s*(\d+(?:\.\d+)?)\s*([A-Za-zµ]+)\s*/y;

/**
 * Parses a humantime duration. Examples: "500ms" → 500, "1h30m" → 5 400 000,
 * "1m 30s" → 90 000, "0" → 0. Decimals are accepted ("1.5h"); the result is rounded to
 * whole milliseconds. Negative numbers and sub-millisecond units are rejected.
 */
export function parseDuration(text: string): DurationResult {
  const input = text.trim();
  if (input === "") return { kind: "error", message: 'empty duration; write e.g. "30s", "500ms" or "1h30m"' };
  if (/^0+$/.test(input)) return { kind: "ok", ms: 0 };
  let total = 0;
  let pos = 0;
  while (pos < input.length) {
    TERM.lastIndex = pos;
    const m = TERM.exec(input);
    if (m === null) {
      const rest = input.slice(pos);
      const hint = /^\d+(\.\d+)?$/.test(rest.trim())
        ? `a number needs a unit (ms, s, m, h, d), e.g. "${rest.trim()}s"`
        : 'write e.g. "30s", "500ms" or "1h30m"';
      return { kind: "error", message: `invalid duration "${text}": ${hint}` };
    }
    const [, amount, unit] = m as unknown as [string, string, string];
    const factor = UNITS[unit] ?? UNITS[unit.toLowerCase()];
    if (factor === undefined) {
      if (SUB_MILLISECOND.has(unit.toLowerCase())) {
        return { kind: "error", message: `invalid duration "${text}": units below a millisecond are not supported` };
      }
      return {
        kind: "error",
        message: `invalid duration "${text}": unknown unit "${unit}" (use ms, s, m, h, d, w)`,
      };
    }
    total += Number(amount) * factor;
    pos = TERM.lastIndex;
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) return { kind: "error", message: `duration "${text}" is too large` };
  return { kind: "ok", ms };
}

/**
 * Formats milliseconds as the shortest humantime string that parses back to the same value:
 * 5 400 000 → "1h30m", 90 500 → "1m30s500ms", 0 → "0s".
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`formatDuration: not a duration: ${ms}`);
  let rest = Math.round(ms);
  if (rest === 0) return "0s";
  let out = "";
  for (const [unit, size] of [
    ["d", DAY],
    ["h", HOUR],
    ["m", MINUTE],
    ["s", SECOND],
    ["ms", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
