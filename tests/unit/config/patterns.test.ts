import { describe, expect, test } from "bun:test";
import { compilePattern } from "../../../src/config/patterns.ts";

describe("compilePattern", () => {
  const rows: [name: string, pattern: string, input: string, matches: boolean][] = [
    ["matches anywhere in the name, like the reference's Rust regex", "__.*", "orders__v2", true],
    ["honours an explicit start anchor", "^__.*", "orders__v2", false],
    ["matches an internal topic with the default blacklist", "__.*", "__consumer_offsets", true],
    ["needs both anchors for an exact match", "^orders$", "orders-dlq", false],
    ["supports a scoped case-insensitive group", "(?i:^orders)", "ORDERS.v1", true],
    ["is case-sensitive otherwise", "^orders", "ORDERS.v1", false],
    ["accepts escapes Rust allows but unicode-mode JS rejects", "a\\-b", "a-b", true],
  ];
  for (const [name, pattern, input, matches] of rows) {
    test(`${name} (${JSON.stringify(pattern)} vs ${JSON.stringify(input)})`, () => {
      const compiled = compilePattern(pattern);
      if (compiled.kind !== "ok") throw new Error(compiled.message);
      expect(compiled.regex.test(input)).toBe(matches);
    });
  }

  test("refuses a Rust-style leading (?i) and shows the JavaScript spelling", () => {
    expect(compilePattern("(?i)^orders")).toEqual({
      kind: "error",
      message:
        'invalid regex "(?i)^orders": unrecognized character after (?; JavaScript has no leading inline flags, write "(?i:^orders)" instead',
    });
  });

  test("returns the compile error as a value", () => {
    expect(compilePattern("orders-(")).toEqual({ kind: "error", message: 'invalid regex "orders-(": missing )' });
  });
});
