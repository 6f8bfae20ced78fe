/**
 * Series lifecycle and the cardinality budget against a real broker: series of deleted topics
 * and groups disappear so the count returns to its baseline after churn, and a budget smaller
 * than the partition-level series keeps every group aggregate while counting what it dropped.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { configFrom, find, inProcessExporter, value } from "../helpers/exposition.ts";
import {
  admin,
  closeHarnessClients,
  commitOffsets,
  createTopic,
  kafka,
  produceN,
  uniqueName,
  waitUntilServed,
} from "./harness.ts";

afterAll(closeHarnessClients);

function config(bootstrap: string[], prefix: string, extra = ""): string {
  return `
[exporter]
granularity = "partition"
${extra}
[exporter.performance]
metadata_cache_ttl = "1s"
[exporter.timestamp_sampling]
enabled = false
[[clusters]]
name = "life"
bootstrap_servers = "${bootstrap.join(",")}"
group_whitelist = ["^${prefix}-"]
topic_whitelist = ["^${prefix}-"]
`;
}

describe("series lifecycle", () => {
  test("churning 100 topics and groups returns the series count to its baseline", async () => {
    const { bootstrap } = await kafka(1);
    const prefix = uniqueName("churn");
    const adm = await admin();
    // A steady part that stays through the churn.
    await createTopic(`${prefix}-steady`, 2);
    await produceN(`${prefix}-steady`, [0, 1], 5);
    await commitOffsets(`${prefix}-steady-g`, `${prefix}-steady`, [{ partition: 0, offset: 1 }]);

    const exporter = inProcessExporter(configFrom(config(bootstrap, prefix)));
    try {
      const baseline = value(await exporter.cycle(), "kafka_lag_exporter_series", { cluster_name: "life" })!;
      expect(baseline).toBeGreaterThan(0);

      const churnTopics = Array.from({ length: 100 }, (_, i) => `${prefix}-t${i}`);
      await adm.createTopics({
        waitForLeaders: true,
        topics: churnTopics.map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
      });
      await Promise.all(churnTopics.map((t) => waitUntilServed(t, 1)));
      const groups = churnTopics.map((t) => `${t}-g`);
      for (let i = 0; i < groups.length; i += 20) {
        await Promise.all(
          groups.slice(i, i + 20).map((g, j) => commitOffsets(g, churnTopics[i + j]!, [{ partition: 0, offset: 0 }])),
        );
      }
      const grown = await exporter.cycle();
      expect(find(grown, "kafka_consumergroup_group_max_lag").length).toBe(101);
      expect(value(grown, "kafka_lag_exporter_series", { cluster_name: "life" })!).toBeGreaterThan(baseline + 100 * 5);

      await adm.deleteGroups(groups);
      await adm.deleteTopics({ topics: churnTopics });
      await Bun.sleep(1_500); // past metadata_cache_ttl
      await exporter.cycle();
      const after = await exporter.cycle();
      expect(value(after, "kafka_lag_exporter_series", { cluster_name: "life" })).toBe(baseline);
      expect(find(after, "kafka_consumergroup_group_max_lag").map((s) => s.labels.group)).toEqual([
        `${prefix}-steady-g`,
      ]);
      expect(find(after, "kafka_partition_latest_offset").every((s) => s.labels.topic === `${prefix}-steady`)).toBe(
        true,
      );
    } finally {
      await exporter.stop();
    }
  });

  test("a budget smaller than the partition series keeps every group aggregate and counts the drops", async () => {
    const { bootstrap } = await kafka(1);
    const prefix = uniqueName("budget");
    const topic = `${prefix}-t`;
    await createTopic(topic, 12);
    await produceN(
      topic,
      Array.from({ length: 12 }, (_, i) => i),
      4,
    );
    const groups = Array.from({ length: 10 }, (_, i) => `${prefix}-g${i}`);
    await Promise.all(
      groups.map((g) =>
        commitOffsets(
          g,
          topic,
          Array.from({ length: 12 }, (_, p) => ({ partition: p, offset: 1 })),
        ),
      ),
    );
    const unlimited = inProcessExporter(configFrom(config(bootstrap, prefix)));
    const full = await unlimited.cycle();
    await unlimited.stop();
    const fullSeries = value(full, "kafka_lag_exporter_series", { cluster_name: "life" })!;

    const budget = 150;
    const limited = inProcessExporter(configFrom(config(bootstrap, prefix, `max_series = ${budget}`)));
    try {
      const samples = await limited.cycle();
      // 10 groups × 12 partitions × 6 partition-level families is far above the budget.
      expect(fullSeries).toBeGreaterThan(budget * 3);
      expect(value(samples, "kafka_lag_exporter_series", { cluster_name: "life" })!).toBeLessThanOrEqual(budget);
      expect(value(samples, "kafka_lag_exporter_series_dropped", { cluster_name: "life" })).toBe(
        fullSeries - value(samples, "kafka_lag_exporter_series", { cluster_name: "life" })!,
      );
      for (const g of groups) {
        expect({ g, max: value(samples, "kafka_consumergroup_group_max_lag", { group: g }) }).toEqual({ g, max: 3 });
        expect({ g, sum: value(samples, "kafka_consumergroup_group_sum_lag", { group: g }) }).toEqual({ g, sum: 36 });
        expect({ g, state: value(samples, "kafka_consumergroup_group_state", { group: g }) }).toEqual({ g, state: 5 });
      }
    } finally {
      await limited.stop();
    }
  });
});
