import { describe, expect, test } from "bun:test";
import { compactionDetected } from "../../../src/core/compaction.ts";
import type { RateTimeLag } from "../../../src/core/rate.ts";
import {
  decideTimeLag,
  type FetchedRecord,
  needsRecordFetch,
  type TimeLagDecision,
  type TimeLagInput,
  type TimeLagModeName,
} from "../../../src/core/time-lag.ts";
import type { Watermarks } from "../../../src/core/types.ts";

const NOW = 1_700_000_600_000;
const WM: Watermarks = { earliest: 100, latest: 200 };
const rec = (timestampMs: number, firstPresentOffset: number | undefined = 150): FetchedRecord => ({
  kind: "record",
  offset: 150,
  timestampMs,
  timestampType: "CreateTime",
  precision: "exact",
  firstPresentOffset,
});
const RATE: RateTimeLag = { kind: "value", seconds: 12.5, msgsPerSec: 4 };
const NO_RATE: RateTimeLag = { kind: "none", reason: "belowMinRate" };

interface Row {
  name: string;
  mode: TimeLagModeName;
  input: Partial<TimeLagInput>;
  expect: TimeLagDecision;
}

const rows: Row[] = [
  {
    name: "message mode reports now minus the committed record's timestamp",
    mode: "message",
    input: { fetched: rec(NOW - 600_000), rate: RATE },
    expect: { kind: "value", seconds: 600, method: "message" },
  },
  {
    name: "hybrid prefers the record's timestamp over the rate",
    mode: "hybrid",
    input: { fetched: rec(NOW - 60_000), rate: RATE },
    expect: { kind: "value", seconds: 60, method: "message" },
  },
  {
    name: "rate mode ignores a fetched record and uses lag / rate",
    mode: "rate",
    input: { fetched: rec(NOW - 60_000), rate: RATE },
    expect: { kind: "value", seconds: 12.5, method: "rate" },
  },
  {
    name: "a record from the future clamps to 0 seconds",
    mode: "message",
    input: { fetched: rec(NOW + 5_000) },
    expect: { kind: "value", seconds: 0, method: "message" },
  },
  {
    name: "a record without a timestamp gives no value in message mode",
    mode: "message",
    input: { fetched: rec(-1), rate: RATE },
    expect: { kind: "none", reason: "noTimestamp" },
  },
  {
    name: "a record without a timestamp falls back to the rate in hybrid",
    mode: "hybrid",
    input: { fetched: rec(-1), rate: RATE },
    expect: { kind: "value", seconds: 12.5, method: "rate" },
  },
  {
    name: "nothing at the committed offset gives no value in message mode",
    mode: "message",
    input: { fetched: { kind: "noRecord", firstPresentOffset: undefined } },
    expect: { kind: "none", reason: "noRecord" },
  },
  {
    name: "an out-of-range read gives no message value",
    mode: "message",
    input: { fetched: { kind: "outOfRange" }, rate: RATE },
    expect: { kind: "none", reason: "outOfRange" },
  },
  {
    name: "a failed read falls back to the rate in hybrid",
    mode: "hybrid",
    input: { fetched: { kind: "error", reason: "timeout" }, rate: RATE },
    expect: { kind: "value", seconds: 12.5, method: "rate" },
  },
  {
    name: "a failed read in message mode is absent, not 0",
    mode: "message",
    input: { fetched: { kind: "error", reason: "timeout" }, rate: RATE },
    expect: { kind: "none", reason: "fetchFailed" },
  },
  {
    name: "hybrid without a read and without a usable rate is absent",
    mode: "hybrid",
    input: { fetched: undefined, rate: NO_RATE },
    expect: { kind: "none", reason: "belowMinRate" },
  },
  {
    name: "rate mode with too little history is absent",
    mode: "rate",
    input: { rate: { kind: "none", reason: "insufficientHistory" } },
    expect: { kind: "none", reason: "insufficientHistory" },
  },
  {
    name: "a data-loss partition that was not read is absent in message mode",
    mode: "message",
    input: { committed: 50, fetched: undefined },
    expect: { kind: "none", reason: "dataLoss" },
  },
  {
    name: "lag 0 is 0 seconds without any read (message)",
    mode: "message",
    input: { committed: 200, fetched: undefined, rate: undefined },
    expect: { kind: "value", seconds: 0, method: "message" },
  },
  {
    name: "a committed offset beyond latest is 0 seconds (rate)",
    mode: "rate",
    input: { committed: 250, rate: undefined },
    expect: { kind: "value", seconds: 0, method: "rate" },
  },
  {
    name: "unknown watermarks give no value even with a record",
    mode: "message",
    input: { watermarks: undefined, fetched: rec(NOW - 1000) },
    expect: { kind: "none", reason: "watermarkMissing" },
  },
];

describe("decideTimeLag", () => {
  for (const row of rows) {
    test(row.name, () => {
      const input: TimeLagInput = {
        mode: row.mode,
        nowMs: NOW,
        committed: 150,
        watermarks: WM,
        fetched: undefined,
        rate: undefined,
        ...row.input,
      };
      expect(decideTimeLag(input)).toEqual(row.expect);
    });
  }
});

describe("needsRecordFetch", () => {
  const rows: [string, TimeLagModeName, number, Watermarks | undefined, boolean, boolean][] = [
    ["rate mode never reads the log", "rate", 150, WM, true, false],
    ["a lagging partition is read in message mode", "message", 150, WM, true, true],
    ["a lagging partition is read in hybrid mode", "hybrid", 150, WM, true, true],
    ["committed = latest needs no read", "message", 200, WM, true, false],
    ["committed > latest needs no read", "hybrid", 201, WM, true, false],
    ["unknown watermarks need no read", "message", 150, undefined, true, false],
    ["data loss is skipped when configured", "message", 50, WM, true, false],
    ["data loss is read when not skipped (→ out of range)", "message", 50, WM, false, true],
  ];
  for (const [name, mode, committed, wm, skip, want] of rows) {
    test(name, () => expect(needsRecordFetch(mode, committed, wm, skip)).toBe(want));
  }
});

describe("compactionDetected", () => {
  const rows: [string, number, Watermarks | undefined, FetchedRecord | undefined, boolean][] = [
    ["the committed record still exists", 150, WM, rec(NOW, 150), false],
    ["the first present offset is past the committed one", 150, WM, rec(NOW, 154), true],
    ["only a control record follows a compacted gap", 150, WM, { kind: "noRecord", firstPresentOffset: 160 }, true],
    [
      "a control record at the committed offset is not a gap",
      150,
      WM,
      { kind: "noRecord", firstPresentOffset: 150 },
      false,
    ],
    ["an undecodable batch is no evidence", 150, WM, rec(NOW, undefined), false],
    ["data loss is not compaction", 50, WM, rec(NOW, 100), false],
    ["out of range is not compaction", 150, WM, { kind: "outOfRange" }, false],
    ["no read is no evidence", 150, WM, undefined, false],
    ["nothing to consume is not compaction", 200, WM, rec(NOW, 210), false],
    ["unknown watermarks are no evidence", 150, undefined, rec(NOW, 154), false],
  ];
  for (const [name, committed, wm, fetched, want] of rows) {
    test(name, () => expect(compactionDetected(committed, wm, fetched)).toBe(want));
  }
});
