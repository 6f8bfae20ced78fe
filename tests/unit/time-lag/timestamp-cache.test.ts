import { describe, expect, test } from "bun:test";
import type { FetchedRecord } from "../../../src/core/time-lag.ts";
import { createTimestampCache } from "../../../src/kafka/timestamp-cache.ts";

const T = 1_700_000_000_000;
const REC: FetchedRecord = {
  kind: "record",
  offset: 5,
  timestampMs: T - 1000,
  timestampType: "CreateTime",
  precision: "exact",
  firstPresentOffset: 5,
};
const NONE: FetchedRecord = { kind: "noRecord", firstPresentOffset: undefined };

describe("createTimestampCache", () => {
  test("returns a found record until cache_ttl has passed", () => {
    const c = createTimestampCache({ ttlMs: 60_000, maxEntries: 10 });
    c.set("t", 0, 5, REC, T, 10);
    expect(c.get("t", 0, 5, T + 59_999, 11)).toEqual(REC);
    expect(c.get("t", 0, 5, T + 60_000, 11)).toBeUndefined();
  });

  test("keys by topic, partition and offset", () => {
    const c = createTimestampCache({ ttlMs: 60_000, maxEntries: 10 });
    c.set("t", 0, 5, REC, T, 10);
    expect(c.get("t", 1, 5, T, 10)).toBeUndefined();
    expect(c.get("t", 0, 6, T, 10)).toBeUndefined();
    expect(c.get("u", 0, 5, T, 10)).toBeUndefined();
  });

  test("keeps a negative read only while the latest offset stays where it was", () => {
    const c = createTimestampCache({ ttlMs: 60_000, maxEntries: 10 });
    c.set("t", 0, 10, NONE, T, 10);
    expect(c.get("t", 0, 10, T + 1000, 10)).toEqual(NONE);
    expect(c.get("t", 0, 10, T + 2000, 11)).toBeUndefined();
    expect(c.get("t", 0, 10, T + 3000, 10)).toBeUndefined();
  });

  test("never caches out-of-range or failed reads", () => {
    const c = createTimestampCache({ ttlMs: 60_000, maxEntries: 10 });
    c.set("t", 0, 1, { kind: "outOfRange" }, T, 10);
    c.set("t", 0, 2, { kind: "error", reason: "timeout" }, T, 10);
    expect(c.size).toBe(0);
  });

  test("is bounded: the least recently used entry goes first", () => {
    const c = createTimestampCache({ ttlMs: 60_000, maxEntries: 3 });
    for (let o = 0; o < 3; o++) c.set("t", 0, o, REC, T, 10);
    expect(c.get("t", 0, 0, T, 10)).toEqual(REC); // 0 is now the most recent
    c.set("t", 0, 3, REC, T, 10);
    expect(c.size).toBe(3);
    expect(c.get("t", 0, 1, T, 10)).toBeUndefined();
    expect(c.get("t", 0, 0, T, 10)).toEqual(REC);
  });

  test("prune drops expired entries", () => {
    const c = createTimestampCache({ ttlMs: 1000, maxEntries: 100 });
    c.set("t", 0, 1, REC, T, 10);
    c.set("t", 0, 2, REC, T + 500, 10);
    expect(c.prune(T + 1200)).toBe(1);
    expect(c.size).toBe(1);
  });
});
