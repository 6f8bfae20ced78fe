import { describe, expect, test } from "bun:test";
import { createRateHistory, leastSquaresRate, timeLagFromRate } from "../../../src/core/rate.ts";

const T0 = 1_700_000_000_000;
const MIN = 60_000;

describe("leastSquaresRate", () => {
  const rows: { name: string; t: number[]; o: number[]; rate: number | undefined }[] = [
    {
      name: "the worked example: 9.8 msg/s, not first/last's 10",
      t: [0, 10, 20, 30],
      o: [1000, 1100, 1180, 1300],
      rate: 9.8,
    },
    { name: "a steady 5 msg/s", t: [0, 30, 60, 90], o: [0, 150, 300, 450], rate: 5 },
    {
      name: "irregular spacing (a missed cycle) keeps the true slope",
      t: [0, 30, 90, 120],
      o: [0, 300, 900, 1200],
      rate: 10,
    },
    { name: "an idle partition has rate 0", t: [0, 30, 60], o: [77, 77, 77], rate: 0 },
    { name: "one sample has no rate", t: [0], o: [5], rate: undefined },
    { name: "two samples at the same time have no rate", t: [5, 5], o: [5, 9], rate: undefined },
    {
      name: "epoch milliseconds and 2^50 offsets keep their precision",
      t: [T0 / 1000, T0 / 1000 + 30, T0 / 1000 + 60],
      o: [2 ** 50, 2 ** 50 + 3, 2 ** 50 + 6],
      rate: 0.1,
    },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const r = leastSquaresRate(
        row.t.map((s) => s * 1000),
        row.o,
      );
      if (row.rate === undefined) expect(r).toBeUndefined();
      else expect(r).toBeCloseTo(row.rate, 9);
    });
  }
});

describe("createRateHistory", () => {
  test("needs two samples before it reports a rate", () => {
    const h = createRateHistory({ capacity: 10, maxAgeMs: 10 * MIN });
    expect(h.rate("p", T0)).toEqual({ kind: "insufficient", samples: 0 });
    h.recordSample("p", T0, 100);
    expect(h.rate("p", T0)).toEqual({ kind: "insufficient", samples: 1 });
    expect(h.estimateTimeLag("p", 50, T0, 0)).toEqual({ kind: "none", reason: "insufficientHistory" });
    h.recordSample("p", T0 + 30_000, 400);
    expect(h.rate("p", T0 + 30_000)).toEqual({ kind: "rate", msgsPerSec: 10, samples: 2, spanMs: 30_000 });
  });

  test("estimates time lag as lag / rate over the worked example", () => {
    const h = createRateHistory({ capacity: 10, maxAgeMs: 10 * MIN });
    for (const [i, o] of [1000, 1100, 1180, 1300].entries()) h.recordSample("p", T0 + i * 10_000, o);
    const est = h.estimateTimeLag("p", 490, T0 + 30_000, 0.5);
    expect(est.kind).toBe("value");
    if (est.kind === "value") expect(est.seconds).toBeCloseTo(50, 9);
  });

  test("reports 0 seconds for lag 0 even without history, and nothing for an idle lagging partition", () => {
    const h = createRateHistory({ capacity: 10, maxAgeMs: 10 * MIN });
    expect(h.estimateTimeLag("never-seen", 0, T0, 1)).toMatchObject({ kind: "value", seconds: 0 });
    for (let i = 0; i < 5; i++) h.recordSample("idle", T0 + i * 30_000, 500);
    expect(h.estimateTimeLag("idle", 20, T0 + 120_000, 0)).toEqual({ kind: "none", reason: "belowMinRate" });
    expect(h.estimateTimeLag("idle", 0, T0 + 120_000, 0)).toMatchObject({ kind: "value", seconds: 0 });
  });

  test("below rate_min_msgs_per_sec there is no value", () => {
    const h = createRateHistory({ capacity: 10, maxAgeMs: 10 * MIN });
    h.recordSample("slow", T0, 0);
    h.recordSample("slow", T0 + 100_000, 10); // 0.1 msg/s
    expect(h.estimateTimeLag("slow", 5, T0 + 100_000, 0.5)).toEqual({ kind: "none", reason: "belowMinRate" });
    expect(h.estimateTimeLag("slow", 5, T0 + 100_000, 0.05)).toMatchObject({ kind: "value", seconds: 50 });
  });

  test("keeps only the newest `capacity` samples", () => {
    const h = createRateHistory({ capacity: 3, maxAgeMs: 60 * MIN });
    // 1 msg/s for a long time, then 10 msg/s for the last three samples.
    for (let i = 0; i < 10; i++) h.recordSample("p", T0 + i * 10_000, 10 * (i + 1));
    for (let i = 10; i < 13; i++) h.recordSample("p", T0 + i * 10_000, 100 + 100 * (i - 9));
    const r = h.rate("p", T0 + 12 * 10_000);
    expect(r).toMatchObject({ kind: "rate", samples: 3 });
    if (r.kind === "rate") expect(r.msgsPerSec).toBeCloseTo(10, 9);
  });

  test("ignores samples older than max age", () => {
    const h = createRateHistory({ capacity: 100, maxAgeMs: 2 * MIN });
    h.recordSample("p", T0, 0);
    h.recordSample("p", T0 + 60_000, 60_000); // 1000 msg/s, will age out
    h.recordSample("p", T0 + 180_000, 61_200); // 10 msg/s from here
    h.recordSample("p", T0 + 240_000, 61_800);
    const r = h.rate("p", T0 + 240_000);
    expect(r).toMatchObject({ kind: "rate", samples: 2 });
    if (r.kind === "rate") expect(r.msgsPerSec).toBeCloseTo(10, 9);
  });

  test("survives a missed cycle: the gap just widens the spacing", () => {
    const h = createRateHistory({ capacity: 10, maxAgeMs: 10 * MIN });
    h.recordSample("p", T0, 0);
    h.recordSample("p", T0 + 30_000, 600);
    // cycle at +60 s failed to read watermarks: no sample
    h.recordSample("p", T0 + 90_000, 1800);
    const r = h.rate("p", T0 + 90_000);
    expect(r).toMatchObject({ kind: "rate", samples: 3 });
    if (r.kind === "rate") expect(r.msgsPerSec).toBeCloseTo(20, 9);
  });

  test("restarts the history when the latest offset goes backwards (topic recreated)", () => {
    const h = createRateHistory({ capacity: 10, maxAgeMs: 10 * MIN });
    h.recordSample("p", T0, 10_000);
    h.recordSample("p", T0 + 30_000, 20_000);
    h.recordSample("p", T0 + 60_000, 5);
    expect(h.rate("p", T0 + 60_000)).toEqual({ kind: "insufficient", samples: 1 });
  });

  test("a repeated sample time replaces the offset and an older time is ignored", () => {
    const h = createRateHistory({ capacity: 10, maxAgeMs: 10 * MIN });
    h.recordSample("p", T0, 0);
    h.recordSample("p", T0 + 10_000, 50);
    h.recordSample("p", T0 + 10_000, 100);
    h.recordSample("p", T0 + 5_000, 99);
    expect(h.rate("p", T0 + 10_000)).toEqual({ kind: "rate", msgsPerSec: 10, samples: 2, spanMs: 10_000 });
  });

  test("forgets partitions not sampled within max age, keeping memory bounded", () => {
    const h = createRateHistory({ capacity: 4, maxAgeMs: MIN });
    for (let p = 0; p < 1000; p++) h.recordSample(`gone-${p}`, T0, p);
    h.recordSample("alive", T0 + 50_000, 1);
    expect(h.size).toBe(1001);
    expect(h.prune(T0 + 70_000)).toBe(1000);
    expect(h.size).toBe(1);
    expect(h.rate("gone-1", T0 + 70_000)).toEqual({ kind: "insufficient", samples: 0 });
  });
});

describe("timeLagFromRate", () => {
  test("never turns a missing rate into a zero", () => {
    expect(timeLagFromRate(10, { kind: "insufficient", samples: 1 }, 0)).toEqual({
      kind: "none",
      reason: "insufficientHistory",
    });
    expect(timeLagFromRate(10, { kind: "rate", msgsPerSec: 0, samples: 3, spanMs: 1 }, 0)).toEqual({
      kind: "none",
      reason: "belowMinRate",
    });
  });
});

describe("createRateHistory memory", () => {
  test("partitions that come and go reuse the rings of pruned ones, and each keeps its own history", () => {
    const h = createRateHistory({ capacity: 4, maxAgeMs: MIN });
    // 50 generations of 100 partitions, each pruned once it is older than a minute.
    for (let gen = 0; gen < 50; gen++) {
      const t = T0 + gen * 2 * MIN;
      for (let p = 0; p < 100; p++) {
        for (let s = 0; s < 3; s++) h.recordSample(`g${gen}-p${p}`, t + s * 10_000, 1_000 * gen + p * 10 * s);
      }
      h.prune(t + 30_000);
      expect(h.size).toBe(100);
      // Rings are not shared: partition p produced 10·p messages per 10 s, i.e. p msg/s.
      expect(h.rate(`g${gen}-p7`, t + 20_000)).toEqual({ kind: "rate", msgsPerSec: 7, samples: 3, spanMs: 20_000 });
      expect(h.rate(`g${gen}-p0`, t + 20_000)).toMatchObject({ kind: "rate", msgsPerSec: 0 });
    }
    h.prune(T0 + 1_000 * MIN);
    expect(h.size).toBe(0);
    expect(h.rate("g49-p7", T0 + 1_000 * MIN)).toEqual({ kind: "insufficient", samples: 0 });
  });
});
