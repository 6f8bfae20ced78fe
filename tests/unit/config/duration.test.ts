import { describe, expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../../../src/lib/duration.ts";

describe("parseDuration", () => {
  const ok: [name: string, text: string, ms: number][] = [
    ["milliseconds", "500ms", 500],
    ["seconds", "30s", 30_000],
    ["minutes", "10m", 600_000],
    ["hours", "1h", 3_600_000],
    ["days", "2d", 172_800_000],
    ["weeks", "1w", 604_800_000],
    ["two units without a space", "1h30m", 5_400_000],
    ["two units with a space", "1m 30s", 90_000],
    ["three units", "1h 2m 3s", 3_723_000],
    ["long unit names", "2 minutes 5 seconds", 125_000],
    ["abbreviations", "1hr 1min 1sec 1msec", 3_661_001],
    ["surrounding whitespace", "  45s ", 45_000],
    ["bare zero", "0", 0],
    ["zero with a unit", "0s", 0],
    ["a decimal amount", "1.5h", 5_400_000],
    ["upper-case unit", "30S", 30_000],
    ["M means month as in humantime", "1M", Math.round(30.44 * 86_400_000)],
  ];
  for (const [name, text, ms] of ok) {
    test(`parses ${name} ("${text}")`, () => {
      expect(parseDuration(text)).toEqual({ kind: "ok", ms });
    });
  }

  const bad: [name: string, text: string, message: string][] = [
    ["an empty string", "", "empty duration"],
    ["a number without a unit", "30", "a number needs a unit"],
    ["an unknown unit", "30x", 'unknown unit "x"'],
    ["a negative amount", "-5s", "invalid duration"],
    ["words", "soon", "invalid duration"],
    ["a unit without a number", "s", "invalid duration"],
    ["sub-millisecond units", "500us", "below a millisecond"],
    ["trailing garbage", "30s!", "invalid duration"],
  ];
  for (const [name, text, message] of bad) {
    test(`rejects ${name} ("${text}")`, () => {
      const result = parseDuration(text);
      expect(result.kind).toBe("error");
      if (result.kind === "error") expect(result.message).toContain(message);
    });
  }
});

describe("formatDuration", () => {
  const rows: [ms: number, text: string][] = [
    [0, "0s"],
    [500, "500ms"],
    [30_000, "30s"],
    [90_000, "1m30s"],
    [5_400_000, "1h30m"],
    [172_800_000, "2d"],
    [90_061_001, "1d1h1m1s1ms"],
  ];
  for (const [ms, text] of rows) {
    test(`formats ${ms} ms as "${text}" and parses back to the same value`, () => {
      expect(formatDuration(ms)).toBe(text);
      expect(parseDuration(text)).toEqual({ kind: "ok", ms });
    });
  }

  test("refuses negative durations", () => {
    expect(() => formatDuration(-1)).toThrow(RangeError);
  });
});
