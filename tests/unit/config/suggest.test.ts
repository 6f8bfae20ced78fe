import { describe, expect, test } from "bun:test";
import { closestMatch, editDistance } from "../../../src/config/suggest.ts";

describe("editDistance", () => {
  const rows: [a: string, b: string, d: number][] = [
    ["same", "same", 0],
    ["", "abc", 3],
    ["http_prot", "http_port", 1],
    ["poll_intervall", "poll_interval", 1],
    ["nmae", "name", 1],
    ["kitten", "sitting", 3],
  ];
  for (const [a, b, d] of rows) {
    test(`"${a}" → "${b}" takes ${d} edit(s) (transpositions count once)`, () => {
      expect(editDistance(a, b)).toBe(d);
    });
  }
});

describe("closestMatch", () => {
  const keys = ["poll_interval", "http_port", "http_host", "granularity"];
  const rows: [input: string, want: string | undefined][] = [
    ["poll_intervall", "poll_interval"],
    ["http-port", "http_port"],
    ["HTTP_HOST", "http_host"],
    ["granularty", "granularity"],
    ["completely_unrelated", undefined],
    ["x", undefined],
  ];
  for (const [input, want] of rows) {
    test(`suggests ${want === undefined ? "nothing" : `"${want}"`} for "${input}"`, () => {
      expect(closestMatch(input, keys)).toBe(want);
    });
  }
});
