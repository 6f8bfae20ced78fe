/**
 * KIP-848 consumer groups (the `consumer` rebalance protocol of Kafka 4): described with
 * ConsumerGroupDescribe, so state and members are real (not `Dead`), and lag equals Apache
 * Kafka's own kafka-consumer-groups, with a classic group alongside reported correctly too.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { configFrom, find, inProcessExporter, value } from "../helpers/exposition.ts";
import {
  closeHarnessClients,
  commitOffsets,
  createTopic,
  eventually,
  type JavaConsumer,
  kafka,
  kafkaConsumerGroups,
  produceN,
  runKafkaTool,
  startJavaConsumer,
  uniqueName,
} from "./harness.ts";

const consumers: JavaConsumer[] = [];
afterAll(async () => {
  await Promise.all(consumers.map((c) => c.stop()));
  await closeHarnessClients();
});

describe("KIP-848 consumer groups", () => {
  test("state, members and lag of a KIP-848 group and a classic group equal kafka-consumer-groups", async () => {
    const { bootstrap } = await kafka(1);
    const prefix = uniqueName("kip848");
    const live = `${prefix}-live`; // consumed by a member
    const backlog = `${prefix}-backlog`; // committed, not subscribed: lag without members
    await createTopic(live, 3);
    await createTopic(backlog, 2);
    await produceN(live, [0, 1, 2], 6);
    await produceN(backlog, [0, 1], 9);
    const modern = `${prefix}-modern`;
    const classic = `${prefix}-classic`;
    // Offsets committed while the groups are empty; the members then join with their protocol.
    await commitOffsets(modern, backlog, [
      { partition: 0, offset: 2 },
      { partition: 1, offset: 7 },
    ]);
    consumers.push(await startJavaConsumer(modern, live, { protocol: "consumer", clientId: "klag-kip848" }));
    consumers.push(await startJavaConsumer(classic, live, { protocol: "classic", clientId: "klag-classic" }));

    // Both groups have consumed the live topic and committed it, with members assigned.
    for (const group of [modern, classic]) {
      await eventually(
        async () => {
          const rows = (await kafkaConsumerGroups(group)).filter((r) => r.topic === live);
          return rows.length === 3 && rows.every((r) => r.lag === 0 && r.consumerId !== "") ? rows : undefined;
        },
        90_000,
        `${group} to consume ${live}`,
      );
    }

    // Kafka itself says which protocol each group uses.
    const types = await runKafkaTool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", [
      "--bootstrap-server",
      bootstrap.join(","),
      "--list",
      "--type",
    ]);
    expect(types.stdout).toMatch(new RegExp(`${modern}\\s+Consumer`));
    expect(types.stdout).toMatch(new RegExp(`${classic}\\s+Classic`));

    const config = configFrom(`
[exporter]
granularity = "partition"
[exporter.timestamp_sampling]
enabled = false
[[clusters]]
name = "kip848"
bootstrap_servers = "${bootstrap.join(",")}"
group_whitelist = ["^${prefix}-"]
`);
    const exporter = inProcessExporter(config);
    try {
      const samples = await exporter.cycle();
      for (const group of [modern, classic]) {
        const truth = await kafkaConsumerGroups(group);
        for (const row of truth.filter((r) => r.currentOffset !== null)) {
          const at = { group, topic: row.topic, partition: String(row.partition) };
          const lag = find(samples, "kafka_consumergroup_group_lag", at);
          expect({ at, n: lag.length, lag: lag[0]?.value }).toEqual({ at, n: 1, lag: row.lag! });
          expect({ at, labels: lag[0]!.labels }).toMatchObject({
            at,
            labels: { consumer_id: row.consumerId, member_host: row.host, client_id: row.clientId },
          });
        }
        // Stable (3), never Dead (4).
        expect({ group, state: value(samples, "kafka_consumergroup_group_state", { group }) }).toEqual({
          group,
          state: 3,
        });
      }
      expect(value(samples, "kafka_consumergroup_group_sum_lag", { group: modern })).toBe(7 + 2);
      const modernLive = find(samples, "kafka_consumergroup_group_lag", { group: modern, topic: live });
      expect(modernLive.every((s) => s.labels.client_id === "klag-kip848" && s.labels.consumer_id !== "")).toBe(true);
    } finally {
      await exporter.stop();
    }
  });
});
