/** Offset lag, retention and aggregates: table rows with named cases. */
import { describe, expect, test } from "bun:test";
import { createNameFilter } from "../../../src/core/filters.ts";
import { computeCycleLag, retentionStatus } from "../../../src/core/lag.ts";
import type { CycleObservation, GroupObservation, Watermarks } from "../../../src/core/types.ts";
import { groupPartitionKey, partitionKey } from "../../../src/core/types.ts";

describe("retentionStatus", () => {
  const rows = [
    { name: "behind within retention", c: 40, e: 0, l: 100, kind: "ok", lag: 60, margin: 40, ratio: 60 },
    { name: "caught up", c: 100, e: 0, l: 100, kind: "ok", lag: 0, margin: 100, ratio: 0 },
    { name: "ahead of a stale watermark clamps to 0", c: 105, e: 0, l: 100, kind: "ok", lag: 0, margin: 105, ratio: 0 },
    {
      name: "data loss keeps the true lag",
      c: 10,
      e: 30,
      l: 100,
      kind: "dataLoss",
      lag: 90,
      margin: -20,
      ratio: (90 / 70) * 100,
    },
    { name: "empty log has no ratio", c: 5, e: 5, l: 5, kind: "ok", lag: 0, margin: 0, ratio: undefined },
    {
      name: "committed exactly at earliest is not loss",
      c: 30,
      e: 30,
      l: 40,
      kind: "ok",
      lag: 10,
      margin: 0,
      ratio: 100,
    },
  ] as const;
  for (const r of rows) {
    test(r.name, () => {
      const s = retentionStatus(r.c, r.e, r.l);
      expect(s.kind).toBe(r.kind);
      expect(s.lag).toBe(r.lag);
      expect(s.marginMessages).toBe(r.margin);
      if (r.ratio === undefined) expect(s.lagRatioPercent).toBeUndefined();
      else expect(s.lagRatioPercent).toBeCloseTo(r.ratio, 9);
      if (s.kind === "dataLoss") expect(s.lostMessages).toBe(r.e - r.c);
    });
  }
});

function wm(earliest: number, latest: number, lastStable?: number): Watermarks {
  return lastStable === undefined ? { earliest, latest } : { earliest, latest, lastStable };
}

function group(
  groupId: string,
  offsets: [string, number, number][],
  members: GroupObservation["description"] | null = null,
): GroupObservation {
  return {
    groupId,
    description: members ?? { kind: "ok", value: { groupId, state: "Empty", kind: "classic", members: [] } },
    offsets: { kind: "ok", value: offsets.map(([topic, partition, offset]) => ({ topic, partition, offset })) },
  };
}

const all = createNameFilter([".*"], ["__.*"]);

describe("computeCycleLag", () => {
  test("computes per-partition lag and group aggregates", () => {
    const obs: CycleObservation = {
      nowMs: 0,
      watermarks: new Map([
        [partitionKey("a", 0), wm(0, 100)],
        [partitionKey("a", 1), wm(0, 50)],
        [partitionKey("b", 0), wm(0, 10)],
      ]),
      groups: [
        group("g", [
          ["a", 0, 90],
          ["a", 1, 20],
          ["b", 0, 10],
        ]),
      ],
    };
    const r = computeCycleLag(obs, all);
    expect(r.groups).toHaveLength(1);
    const g = r.groups[0]!;
    expect(g.partitions.map((p) => p.lag)).toEqual([10, 30, 0]);
    expect(g.maxLag).toBe(30);
    expect(g.sumLag).toBe(40);
    expect(Object.fromEntries(g.topicSumLag)).toEqual({ a: 40, b: 0 });
    expect(g.state).toBe("Empty");
    expect(g.maxLagSeconds).toBeUndefined();
  });

  test("skips and counts a partition with no watermark instead of reporting 0", () => {
    const obs: CycleObservation = {
      nowMs: 0,
      watermarks: new Map([[partitionKey("a", 0), wm(0, 100)]]),
      groups: [
        group("g", [
          ["a", 0, 90],
          ["a", 1, 20],
        ]),
      ],
    };
    const r = computeCycleLag(obs, all);
    expect(r.groups[0]!.partitions.map((p) => `${p.topic}/${p.partition}`)).toEqual(["a/0"]);
    expect(r.skippedPartitions.get("watermark_missing")).toBe(1);
  });

  test("a failed offset fetch emits nothing for the group and counts it", () => {
    const obs: CycleObservation = {
      nowMs: 0,
      watermarks: new Map([[partitionKey("a", 0), wm(0, 100)]]),
      groups: [
        {
          groupId: "bad",
          description: { kind: "error", reason: "timeout", message: "t" },
          offsets: { kind: "error", reason: "coordinator_unavailable", message: "x" },
        },
        group("ok", [["a", 0, 1]]),
      ],
    };
    const r = computeCycleLag(obs, all);
    expect(r.groups.map((g) => g.groupId)).toEqual(["ok"]);
    expect(r.failedGroups.get("coordinator_unavailable")).toBe(1);
  });

  test("a group whose every partition is filtered out emits nothing", () => {
    const obs: CycleObservation = {
      nowMs: 0,
      watermarks: new Map([[partitionKey("__internal", 0), wm(0, 100)]]),
      groups: [group("g", [["__internal", 0, 1]])],
    };
    expect(computeCycleLag(obs, all).groups).toHaveLength(0);
    expect(computeCycleLag(obs, all).watermarks.size).toBe(0);
  });

  test("maps assigned partitions to member labels and leaves unassigned ones empty", () => {
    const obs: CycleObservation = {
      nowMs: 0,
      watermarks: new Map([
        [partitionKey("a", 0), wm(0, 10)],
        [partitionKey("a", 1), wm(0, 10)],
      ]),
      groups: [
        group(
          "g",
          [
            ["a", 0, 1],
            ["a", 1, 2],
          ],
          {
            kind: "ok",
            value: {
              groupId: "g",
              state: "Stable",
              kind: "consumer",
              members: [
                { memberId: "m-1", clientId: "c-1", host: "/10.0.0.1", assignment: [{ topic: "a", partition: 1 }] },
              ],
            },
          },
        ),
      ],
    };
    const g = computeCycleLag(obs, all).groups[0]!;
    expect(g.partitions[0]!.member).toEqual({ host: "", consumerId: "", clientId: "" });
    expect(g.partitions[1]!.member).toEqual({ host: "/10.0.0.1", consumerId: "m-1", clientId: "c-1" });
    expect(g.state).toBe("Stable");
  });

  test("a failed description keeps lag but marks members unknown and counts the group", () => {
    const obs: CycleObservation = {
      nowMs: 0,
      watermarks: new Map([[partitionKey("a", 0), wm(0, 10)]]),
      groups: [group("g", [["a", 0, 4]], { kind: "error", reason: "describe_failed", message: "boom" })],
    };
    const r = computeCycleLag(obs, all);
    expect(r.groups[0]!.membersKnown).toBe(false);
    expect(r.groups[0]!.state).toBeUndefined();
    expect(r.groups[0]!.maxLag).toBe(6);
    expect(r.failedGroups.get("describe_failed")).toBe(1);
  });

  test("reports data loss, lag to the latest offset, the read-committed lag and time lag maxima", () => {
    const obs: CycleObservation = {
      nowMs: 0,
      watermarks: new Map([
        [partitionKey("a", 0), wm(50, 100, 80)],
        [partitionKey("a", 1), wm(0, 100, 100)],
      ]),
      groups: [
        group("g", [
          ["a", 0, 10],
          ["a", 1, 90],
        ]),
      ],
      timeLag: new Map([
        [groupPartitionKey("g", "a", 0), { seconds: 12.5, method: "message" }],
        [groupPartitionKey("g", "a", 1), { seconds: 3, method: "rate" }],
      ]),
      compaction: new Map([
        [groupPartitionKey("g", "a", 0), true],
        [groupPartitionKey("g", "a", 1), true],
      ]),
    };
    const r = computeCycleLag(obs, all);
    const [p0, p1] = r.groups[0]!.partitions;
    expect(p0).toMatchObject({ lag: 90, dataLoss: true, lostMessages: 40, retentionMargin: -40, lagStable: 70 });
    // Compaction evidence does not apply below the earliest offset: that is data loss.
    expect(p0!.compacted).toBe(false);
    expect(p1).toMatchObject({ lag: 10, dataLoss: false, lostMessages: 0, lagStable: 10, compacted: true });
    expect(r.groups[0]!.maxLagSeconds).toBe(12.5);
    expect(r.dataLossPartitions).toBe(1);
    expect(r.compactionDetectedPartitions).toBe(1);
  });
});

describe("createNameFilter", () => {
  const rows = [
    {
      name: "default blacklist drops internal topics",
      w: [".*"],
      b: ["__.*"],
      input: "__consumer_offsets",
      pass: false,
    },
    { name: "default lets normal topics through", w: [".*"], b: ["__.*"], input: "orders", pass: true },
    { name: "patterns match anywhere like the reference", w: ["ord"], b: [], input: "my-orders", pass: true },
    { name: "anchored patterns match exactly", w: ["^ord$"], b: [], input: "orders", pass: false },
    { name: "blacklist wins over whitelist", w: [".*"], b: ["^tmp-"], input: "tmp-1", pass: false },
  ];
  for (const r of rows) test(r.name, () => expect(createNameFilter(r.w, r.b)(r.input)).toBe(r.pass));
});
