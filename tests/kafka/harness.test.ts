/** The harness itself: ground truth from Apache Kafka's ConsumerGroupCommand matches what we committed. */
import { afterAll, describe, expect, test } from "bun:test";
import {
  closeHarnessClients,
  commitOffsets,
  createTopic,
  kafkaConsumerGroups,
  produceN,
  uniqueName,
} from "./harness.ts";

afterAll(closeHarnessClients);

describe("test harness", () => {
  test("ConsumerGroupCommand reports the offsets a test committed", async () => {
    const topic = uniqueName("harness");
    const group = uniqueName("harness-g");
    await createTopic(topic, 3);
    await produceN(topic, [0, 1, 2], 10);
    await commitOffsets(group, topic, [
      { partition: 0, offset: 4 },
      { partition: 2, offset: 10 },
    ]);
    const rows = await kafkaConsumerGroups(group);
    const byPartition = new Map(rows.map((r) => [r.partition, r]));
    expect(byPartition.get(0)).toMatchObject({ topic, currentOffset: 4, logEndOffset: 10, lag: 6 });
    expect(byPartition.get(2)).toMatchObject({ topic, currentOffset: 10, logEndOffset: 10, lag: 0 });
    expect(byPartition.has(1)).toBe(false);
  });
});
