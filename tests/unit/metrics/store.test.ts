import { heapStats } from "bun:jsc";
import { describe, expect, test } from "bun:test";
import { M, type MetricDef } from "../../../src/metrics/catalog.ts";
import { createGaugeStore, type GaugeStore } from "../../../src/metrics/store.ts";

/** The store's sample lines, all families, as one string. */
function text(store: GaugeStore): string {
  return store
    .renderFamilies()
    .map((f) => new TextDecoder().decode(f.bytes))
    .join("");
}

function lagLabels(group: string, topic: string, partition: number): string[] {
  return ["c1", group, topic, String(partition), "", "", "", "false", "false"];
}

function gp(group: string, topic: string, partition: number): (string | number)[] {
  return ["c1", group, topic, partition];
}

describe("series lifecycle", () => {
  test("a series set in a cycle renders with its value", () => {
    const store = createGaugeStore();
    store.beginCycle(1_000);
    store.set(M.groupMaxLag, ["c1", "g1"], 42);
    expect(store.endCycle()).toEqual({ series: 1, dropped: 0, stale: 0 });
    expect(text(store)).toBe('kafka_consumergroup_group_max_lag{cluster_name="c1",group="g1"} 42\n');
  });

  test("a series not set in the next cycle disappears when that cycle ends", () => {
    const store = createGaugeStore();
    store.beginCycle(1_000);
    store.set(M.groupMaxLag, ["c1", "g1"], 1);
    store.set(M.groupMaxLag, ["c1", "g2"], 2);
    store.endCycle();
    store.beginCycle(2_000);
    store.set(M.groupMaxLag, ["c1", "g2"], 3);
    expect(store.endCycle()).toEqual({ series: 1, dropped: 0, stale: 0 });
    expect(text(store)).toBe('kafka_consumergroup_group_max_lag{cluster_name="c1",group="g2"} 3\n');
    expect(store.get(M.groupMaxLag, ["c1", "g1"])).toBeUndefined();
  });

  test("a family whose last series vanished renders nothing, not an empty family", () => {
    const store = createGaugeStore();
    store.beginCycle(0);
    store.set(M.groupState, ["c1", "g"], 3);
    store.endCycle();
    store.beginCycle(1);
    store.endCycle();
    expect(store.renderFamilies()).toEqual([]);
  });

  test("with a grace period a missing series keeps its last value until the period has passed", () => {
    const store = createGaugeStore({ gracePeriodMs: 30_000 });
    store.beginCycle(0);
    store.set(M.groupSumLag, ["c1", "g"], 7);
    store.endCycle();

    store.beginCycle(30_000);
    expect(store.endCycle()).toEqual({ series: 1, dropped: 0, stale: 1 });
    expect(store.get(M.groupSumLag, ["c1", "g"])).toBe(7);

    store.beginCycle(30_001);
    expect(store.endCycle()).toEqual({ series: 0, dropped: 0, stale: 0 });
    expect(text(store)).toBe("");
  });

  test("a stale series that is set again is fresh and keeps its place", () => {
    const store = createGaugeStore({ gracePeriodMs: 60_000 });
    store.beginCycle(0);
    store.set(M.groupSumLag, ["c1", "a"], 1);
    store.set(M.groupSumLag, ["c1", "b"], 2);
    store.endCycle();
    store.beginCycle(30_000);
    store.set(M.groupSumLag, ["c1", "b"], 3);
    expect(store.endCycle().stale).toBe(1);
    store.beginCycle(60_000);
    store.set(M.groupSumLag, ["c1", "a"], 4);
    store.set(M.groupSumLag, ["c1", "b"], 5);
    expect(store.endCycle()).toEqual({ series: 2, dropped: 0, stale: 0 });
    expect(text(store)).toBe(
      'kafka_consumergroup_group_sum_lag{cluster_name="c1",group="a"} 4\n' +
        'kafka_consumergroup_group_sum_lag{cluster_name="c1",group="b"} 5\n',
    );
  });

  test("setting a series twice in one cycle keeps the last value", () => {
    const store = createGaugeStore();
    store.beginCycle(0);
    store.set(M.groupSumLag, ["c1", "g"], 1);
    store.set(M.groupSumLag, ["c1", "g"], 2);
    expect(store.endCycle().series).toBe(1);
    expect(store.get(M.groupSumLag, ["c1", "g"])).toBe(2);
  });

  test("series set outside any cycle stay until a cycle ends without them", () => {
    const store = createGaugeStore();
    store.set(M.up, [], 1);
    expect(text(store)).toBe("kafka_lag_exporter_up 1\n");
    store.set(M.up, [], 0);
    expect(text(store)).toBe("kafka_lag_exporter_up 0\n");
    store.beginCycle(5);
    expect(store.endCycle().series).toBe(0);
  });

  test("a wrong number of label values is a programming error", () => {
    const store = createGaugeStore();
    expect(() => store.set(M.groupLag, ["c1", "g"], 1)).toThrow("expected 9 label values, got 2");
  });
});

describe("rendering", () => {
  test("series render sorted by label text whatever order they were set in", () => {
    const store = createGaugeStore();
    store.beginCycle(0);
    for (const g of ["b", "c", "a"]) store.set(M.groupMaxLag, ["c1", g], 1);
    store.endCycle();
    store.beginCycle(1);
    for (const g of ["d", "c", "aa", "a", "b"]) store.set(M.groupMaxLag, ["c1", g], 2);
    store.endCycle();
    const groups = [...text(store).matchAll(/group="([^"]*)"/g)].map((m) => m[1]);
    expect(groups).toEqual(["a", "aa", "b", "c", "d"]);
  });

  test("families render sorted by name, each with its sample lines and series count", () => {
    const store = createGaugeStore();
    store.set(M.groupSumLag, ["c1", "g"], 1);
    store.set(M.groupMaxLag, ["c1", "g"], 1);
    store.set(M.groupMaxLag, ["c1", "h"], 1);
    const families = store.renderFamilies();
    expect(families.map((f) => [f.def.name, f.series])).toEqual([
      ["kafka_consumergroup_group_max_lag", 2],
      ["kafka_consumergroup_group_sum_lag", 1],
    ]);
  });

  test("label values are escaped and numbers and booleans rendered as text", () => {
    const store = createGaugeStore();
    store.set(M.groupLag, ["c1", 'we"ird\\group\n', "t", 3, "h", "id", "cl", true, false], 1.5);
    expect(text(store)).toBe(
      'kafka_consumergroup_group_lag{cluster_name="c1",group="we\\"ird\\\\group\\n",topic="t",partition="3",' +
        'member_host="h",consumer_id="id",client_id="cl",compaction_detected="true",data_loss_detected="false"} 1.5\n',
    );
  });

  test("a number label and its string form are the same series", () => {
    const store = createGaugeStore();
    store.set(M.groupMessagesLost, gp("g", "t", 0), 1);
    store.set(M.groupMessagesLost, ["c1", "g", "t", "0"], 2);
    expect(store.stats().series).toBe(1);
  });

  test("extra labels come last, sorted by name, also on series without labels", () => {
    const store = createGaugeStore({ extraLabels: { region: "eu", env: 'pr"od' } });
    store.set(M.clusterUp, ["c1"], 1);
    store.set(M.up, [], 1);
    expect(text(store)).toBe(
      'kafka_lag_exporter_cluster_up{cluster_name="c1",env="pr\\"od",region="eu"} 1\n' +
        'kafka_lag_exporter_up{env="pr\\"od",region="eu"} 1\n',
    );
  });

  test("an invalid extra label name is refused", () => {
    expect(() => createGaugeStore({ extraLabels: { "bad-name": "x" } })).toThrow("invalid extra label name");
    expect(() => createGaugeStore({ extraLabels: { __reserved: "x" } })).toThrow("invalid extra label name");
  });

  test("forEachSeries gives unescaped labels including the extra ones", () => {
    const store = createGaugeStore({ extraLabels: { env: "prod" } });
    store.set(M.groupMaxLag, ["c1", 'g"1'], 9);
    const seen: [string, Record<string, string>, number][] = [];
    store.forEachSeries((def, labels, value) => seen.push([def.name, labels, value]));
    expect(seen).toEqual([["kafka_consumergroup_group_max_lag", { cluster_name: "c1", group: 'g"1', env: "prod" }, 9]]);
  });

  test("a definition outside the catalog works like any other", () => {
    const custom: MetricDef = {
      name: "custom_gauge",
      help: "Test.",
      type: "gauge",
      labels: ["k"],
      level: "cluster",
      granularity: "both",
      priority: 500,
      origin: "new",
    };
    const store = createGaugeStore();
    store.set(custom, ["v"], Number.NEGATIVE_INFINITY);
    expect(text(store)).toBe('custom_gauge{k="v"} -Inf\n');
  });
});

describe("cardinality budget", () => {
  /** One group with `partitions` partitions: every per-partition family, plus aggregates. */
  function writeGroup(store: GaugeStore, group: string, partitions: number): void {
    for (let p = 0; p < partitions; p++) {
      store.set(M.partitionLatestOffset, ["c1", "t", p], 100);
      store.set(M.groupLag, lagLabels(group, "t", p), p);
      store.set(M.groupOffset, lagLabels(group, "t", p).slice(0, 7), 90);
      store.set(M.groupLagRetentionRatio, gp(group, "t", p), 10);
    }
    store.set(M.groupTopicSumLag, ["c1", group, "t"], 45);
    store.set(M.groupMaxLag, ["c1", group], 9);
    store.set(M.groupSumLag, ["c1", group], 45);
    store.set(M.clusterUp, ["c1"], 1);
  }

  function familySizes(store: GaugeStore): Record<string, number> {
    return Object.fromEntries(store.renderFamilies().map((f) => [f.def.name.replace(/^kafka_/, ""), f.series]));
  }

  test("drops the lowest-priority partition-level families first and reports the count", () => {
    // 10 partitions × 4 partition families + 1 topic + 2 group + 1 cluster = 44 series.
    const store = createGaugeStore({ maxSeries: 30 });
    store.beginCycle(0);
    writeGroup(store, "g", 10);
    expect(store.endCycle()).toEqual({ series: 30, dropped: 14, stale: 0 });
    expect(familySizes(store)).toEqual({
      consumergroup_group_lag: 10,
      consumergroup_group_max_lag: 1,
      consumergroup_group_offset: 10,
      consumergroup_group_sum_lag: 1,
      consumergroup_group_topic_sum_lag: 1,
      lag_exporter_cluster_up: 1,
      partition_latest_offset: 6,
    });
  });

  test("within a family the newest series go first, so the kept set does not flap", () => {
    const store = createGaugeStore({ maxSeries: 3 });
    store.beginCycle(0);
    for (const g of ["old-b", "old-a"]) store.set(M.groupTopicSumLag, ["c1", g, "t"], 1);
    store.endCycle();
    for (let cycle = 1; cycle <= 3; cycle++) {
      store.beginCycle(cycle);
      for (const g of ["new-z", "old-a", "new-y", "old-b", "new-x"]) store.set(M.groupTopicSumLag, ["c1", g, "t"], 1);
      store.set(M.groupMaxLag, ["c1", "g"], 1);
      expect(store.endCycle()).toEqual({ series: 3, dropped: 3, stale: 0 });
      expect([...text(store).matchAll(/group="([^"]*)"/g)].map((m) => m[1])).toEqual(["g", "old-a", "old-b"]);
    }
  });

  test("prefers dropping stale series over fresh ones of the same family", () => {
    const store = createGaugeStore({ maxSeries: 1, gracePeriodMs: 10_000 });
    store.beginCycle(0);
    store.set(M.groupTopicSumLag, ["c1", "gone", "t"], 1);
    store.endCycle();
    store.beginCycle(1_000);
    store.set(M.groupTopicSumLag, ["c1", "fresh", "t"], 2);
    expect(store.endCycle()).toEqual({ series: 1, dropped: 1, stale: 0 });
    expect(store.get(M.groupTopicSumLag, ["c1", "fresh", "t"])).toBe(2);
  });

  test("topic-level series go only after every partition-level series", () => {
    const store = createGaugeStore({ maxSeries: 4 });
    store.beginCycle(0);
    writeGroup(store, "g", 3);
    expect(store.endCycle()).toEqual({ series: 4, dropped: 12, stale: 0 });
    expect(familySizes(store)).toEqual({
      consumergroup_group_max_lag: 1,
      consumergroup_group_sum_lag: 1,
      consumergroup_group_topic_sum_lag: 1,
      lag_exporter_cluster_up: 1,
    });
  });

  test("never drops group aggregates or cluster series, even when they alone exceed the budget", () => {
    const store = createGaugeStore({ maxSeries: 2 });
    store.beginCycle(0);
    for (const g of ["a", "b", "c"]) writeGroup(store, g, 2);
    const report = store.endCycle();
    expect(report.series).toBe(7); // 3 × max_lag + 3 × sum_lag + cluster_up
    expect(familySizes(store)).toEqual({
      consumergroup_group_max_lag: 3,
      consumergroup_group_sum_lag: 3,
      lag_exporter_cluster_up: 1,
    });
    expect(report.dropped).toBe(3 * (2 * 3 + 1) + 2); // per group: 2×lag, offset, ratio + topic sum; 2 watermarks
  });

  test("no budget (0) keeps everything", () => {
    const store = createGaugeStore({ maxSeries: 0 });
    store.beginCycle(0);
    writeGroup(store, "g", 50);
    expect(store.endCycle()).toEqual({ series: 204, dropped: 0, stale: 0 });
  });
});

describe("memory under churn", () => {
  function churnCycle(store: GaugeStore, cycle: number, n: number): void {
    store.beginCycle(cycle * 1_000);
    for (let i = 0; i < n; i++) store.set(M.groupLag, lagLabels(`group-${cycle}-${i % 50}`, "t", i), i);
    store.set(M.groupMaxLag, ["c1", "stable"], cycle);
    store.endCycle();
  }

  test("fresh series every cycle reuse freed slots: capacity stops growing and series return to baseline", () => {
    const store = createGaugeStore();
    churnCycle(store, 0, 5_000);
    const baseline = store.stats();
    churnCycle(store, 1, 5_000);
    const afterTwo = store.stats();
    for (let cycle = 2; cycle < 40; cycle++) churnCycle(store, cycle, 5_000);
    const after = store.stats();
    expect(after.series).toBe(baseline.series);
    expect(after.capacity).toBe(afterTwo.capacity);
    expect(after.capacity).toBeLessThanOrEqual(4 * baseline.series);
  });

  test("after a one-off spike the columns shrink back", () => {
    const store = createGaugeStore();
    churnCycle(store, 0, 100);
    const small = store.stats().capacity;
    churnCycle(store, 1, 50_000);
    expect(store.stats().capacity).toBeGreaterThanOrEqual(50_000);
    churnCycle(store, 2, 100);
    expect(store.stats()).toEqual({ series: 101, capacity: small, freeSlots: 0, families: 2 });
    // Still correct after renumbering: every series renders and can be updated.
    churnCycle(store, 3, 100);
    expect(store.renderFamilies().map((f) => f.series)).toEqual([100, 1]);
    expect(store.get(M.groupMaxLag, ["c1", "stable"])).toBe(3);
  });

  test("repeating the same series across cycles retains no new strings", () => {
    const store = createGaugeStore();
    const n = 20_000;
    const cycle = (c: number) => {
      store.beginCycle(c);
      // Fresh string objects each cycle, as a Kafka response would give.
      for (let i = 0; i < n; i++) store.set(M.groupMessagesLost, ["c1", `grp-${i % 100}`, `topic-${i}`, i % 7], c);
      store.endCycle();
    };
    const strings = () => {
      Bun.gc(true);
      return heapStats().objectTypeCounts.string ?? 0;
    };
    cycle(0);
    cycle(1);
    const before = strings();
    for (let c = 2; c < 6; c++) cycle(c);
    const after = strings();
    expect(after - before).toBeLessThan(n / 10);
  });
});

describe("set() recognises series from last cycle's order", () => {
  test("reordered, inserted and repeated series still reach the right series", () => {
    const store = createGaugeStore();
    store.beginCycle(0);
    for (const g of ["a", "b", "c", "d"]) store.set(M.groupSumLag, ["c1", g], 1);
    store.endCycle();
    store.beginCycle(1);
    const second: [string, number][] = [
      ["d", 4],
      ["x", 9],
      ["a", 1],
      ["c", 3],
      ["c", 33],
      ["b", 2],
    ];
    for (const [g, v] of second) store.set(M.groupSumLag, ["c1", g], v);
    expect(store.endCycle()).toEqual({ series: 5, dropped: 0, stale: 0 });
    expect([..."abcdx"].map((g) => store.get(M.groupSumLag, ["c1", g]))).toEqual([1, 2, 33, 4, 9]);
  });

  test("a value that is a prefix or extension of the predicted one is another series", () => {
    const store = createGaugeStore();
    store.beginCycle(0);
    store.set(M.groupMessagesLost, ["c1", "ab", "t", 7], 1);
    store.endCycle();
    store.beginCycle(1);
    store.set(M.groupMessagesLost, ["c1", "a", "t", 7], 2);
    store.set(M.groupMessagesLost, ["c1", "ab", "t", 70], 3);
    store.set(M.groupMessagesLost, ["c1", "abc", "t", 7], 4);
    store.set(M.groupMessagesLost, ["c1", "ab", "t", 7], 5);
    expect(store.endCycle().series).toBe(4);
    expect(store.get(M.groupMessagesLost, ["c1", "ab", "t", "7"])).toBe(5);
    expect(store.get(M.groupMessagesLost, ["c1", "a", "t", "7"])).toBe(2);
  });

  test("escaped values, numbers and booleans match their earlier string forms", () => {
    const store = createGaugeStore();
    const labels = (partition: string | number, flag: string | boolean) => [
      "c1",
      'g"1\\\n',
      "t",
      partition,
      "h",
      "id",
      "cl",
      flag,
      "false",
    ];
    store.beginCycle(0);
    store.set(M.groupLag, labels("3", "true"), 1);
    store.endCycle();
    store.beginCycle(1);
    store.set(M.groupLag, labels(3, true), 2);
    expect(store.endCycle().series).toBe(1);
    expect(store.get(M.groupLag, labels("3", "true"))).toBe(2);
  });

  test("random cycles agree with a plain model of the contract", () => {
    // A seeded generator: the same sequence every run.
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const groups = ["g", "g2", 'q"', "b\\s", "n\nl", "ü", ""];
    const store = createGaugeStore({ gracePeriodMs: 1_500 });
    const model = new Map<string, { group: string; partition: number; value: number; lastMs: number }>();
    for (let cycle = 0; cycle < 60; cycle++) {
      const nowMs = cycle * 1_000;
      store.beginCycle(nowMs);
      const count = Math.floor(random() * 40);
      for (let i = 0; i < count; i++) {
        const group = pick(groups);
        const partition = Math.floor(random() * 12);
        const value = Math.floor(random() * 1000);
        store.set(M.groupMessagesLost, ["c1", group, "t", random() < 0.5 ? partition : String(partition)], value);
        model.set(`${group}\u0000${partition}`, { group, partition, value, lastMs: nowMs });
      }
      for (const [key, entry] of model) if (nowMs - entry.lastMs > 1_500) model.delete(key);
      expect(store.endCycle().series).toBe(model.size);
      for (const entry of model.values()) {
        expect(store.get(M.groupMessagesLost, ["c1", entry.group, "t", entry.partition])).toBe(entry.value);
      }
    }
  });
});

describe("steps for sliced work (lib/slice.ts)", () => {
  /** A store with `n` series over three families, in a cycle not yet ended. */
  function filled(n: number, nowMs = 1_000): GaugeStore {
    const store = createGaugeStore();
    store.beginCycle(nowMs);
    for (let i = 0; i < n; i++) {
      store.set(M.groupLag, lagLabels(`g${i % 97}`, `t${i % 13}`, i), i);
      store.set(M.groupOffset, ["c1", `g${i % 97}`, `t${i % 13}`, String(i), "", "", ""], i * 2);
    }
    store.set(M.groupMaxLag, ["c1", "g"], 1.5);
    return store;
  }

  test("endCycleSteps yields while working and ends the cycle exactly like endCycle", () => {
    const a = filled(40_000);
    const b = filled(40_000);
    const steps = b.endCycleSteps();
    let pauses = 0;
    let r = steps.next();
    while (!r.done) {
      pauses++;
      r = steps.next();
    }
    expect(pauses).toBeGreaterThan(3);
    expect(r.value).toEqual(a.endCycle());
    expect(text(b)).toBe(text(a));
  });

  test("prepareRender pauses every few thousand series and renderFamilies then returns that rendering", () => {
    const store = filled(20_000);
    store.endCycle();
    const expected = text(store);
    const steps = store.prepareRender();
    let pauses = 0;
    while (!steps.next().done) pauses++;
    expect(pauses).toBeGreaterThanOrEqual(2 * Math.floor(20_000 / 4096)); // two families of 20,000
    const prepared = store.renderFamilies();
    expect(prepared.map((f) => new TextDecoder().decode(f.bytes)).join("")).toBe(expected);
    // Used once: the next call renders again (fresh buffer, same bytes).
    const again = store.renderFamilies();
    expect(again[0]!.bytes.buffer).not.toBe(prepared[0]!.bytes.buffer);
    expect(again.map((f) => new TextDecoder().decode(f.bytes)).join("")).toBe(expected);
  });

  test("a write after prepareRender makes renderFamilies render the new value, not the prepared text", () => {
    const store = filled(10);
    store.endCycle();
    const steps = store.prepareRender();
    while (!steps.next().done);
    store.set(M.groupMaxLag, ["c1", "g"], 7);
    expect(text(store)).toContain('kafka_consumergroup_group_max_lag{cluster_name="c1",group="g"} 7\n');
  });

  test("a write between the steps of prepareRender discards the prepared rendering", () => {
    const store = filled(10_000);
    store.endCycle();
    const steps = store.prepareRender();
    steps.next();
    store.set(M.groupMaxLag, ["c1", "g"], 9);
    while (!steps.next().done);
    expect(text(store)).toContain('kafka_consumergroup_group_max_lag{cluster_name="c1",group="g"} 9\n');
  });
});
