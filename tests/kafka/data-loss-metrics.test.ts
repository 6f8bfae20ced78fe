/**
 * Data loss end to end, as an operator sees it in /metrics: DeleteRecords moves the earliest
 * offset past a group's committed offset → data_loss_detected="true", the true lag, the lost
 * messages, a negative retention margin, and the cluster's data-loss partition count.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { configFrom, find, inProcessExporter, value } from "../helpers/exposition.ts";
import { admin, closeHarnessClients, commitOffsets, createTopic, kafka, produceN, uniqueName } from "./harness.ts";

afterAll(closeHarnessClients);

describe("data loss in the exposition", () => {
  test("DeleteRecords past the committed offset reports the loss and keeps the full lag", async () => {
    const { bootstrap } = await kafka(1);
    const topic = uniqueName("loss");
    const lossy = `${topic}-lossy`;
    const safe = `${topic}-safe`;
    await createTopic(topic, 2);
    await produceN(topic, [0, 1], 20);
    await commitOffsets(lossy, topic, [{ partition: 0, offset: 5 }]);
    await commitOffsets(safe, topic, [{ partition: 1, offset: 15 }]);
    await (await admin()).deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: "12" }] });

    const exporter = inProcessExporter(
      configFrom(`
[exporter]
granularity = "partition"
[exporter.timestamp_sampling]
mode = "message"
[[clusters]]
name = "loss"
bootstrap_servers = "${bootstrap.join(",")}"
topic_whitelist = ["^${topic}$"]
group_whitelist = ["^${topic}-"]
`),
    );
    try {
      const s = await exporter.cycle();
      const at = { group: lossy, topic, partition: "0" };
      const lag = find(s, "kafka_consumergroup_group_lag", at);
      expect(lag).toHaveLength(1);
      expect(lag[0]!.labels.data_loss_detected).toBe("true");
      expect(lag[0]!.labels.compaction_detected).toBe("false");
      expect(lag[0]!.value).toBe(15); // latest 20 − committed 5, not 0
      expect(value(s, "kafka_consumergroup_group_messages_lost", at)).toBe(7); // earliest 12 − committed 5
      expect(value(s, "kafka_consumergroup_group_retention_margin", at)).toBe(-7);
      expect(value(s, "kafka_consumergroup_group_lag_retention_ratio", at)).toBeCloseTo((15 / 8) * 100, 9);
      expect(value(s, "kafka_partition_earliest_offset", { topic, partition: "0" })).toBe(12);
      // The record at the committed offset is gone: no time lag from it, and never a 0.
      const seconds = value(s, "kafka_consumergroup_group_lag_seconds", at);
      if (seconds !== undefined) expect(seconds).toBeGreaterThan(0);

      const ok = { group: safe, topic, partition: "1" };
      expect(find(s, "kafka_consumergroup_group_lag", ok)[0]!.labels.data_loss_detected).toBe("false");
      expect(value(s, "kafka_consumergroup_group_messages_lost", ok)).toBe(0);
      expect(value(s, "kafka_consumergroup_group_retention_margin", ok)).toBe(15);
      expect(value(s, "kafka_lag_exporter_data_loss_partitions_total", { cluster_name: "loss" })).toBe(1);
    } finally {
      await exporter.stop();
    }
  });
});
