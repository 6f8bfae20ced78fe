/**
 * Ground truth: for every (group, topic, partition) the exporter's committed offset, latest
 * offset and lag equal what Apache Kafka's own `kafka-consumer-groups --describe` prints, in
 * both granularities, on a 1-node and a 3-node cluster; aggregates equal sums and maxima.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Consumer } from "kafkajs";
import { configFrom, find, inProcessExporter, type Sample, value } from "../helpers/exposition.ts";
import {
  admin,
  type BrokerCount,
  closeHarnessClients,
  commitOffsets,
  createTopic,
  eventually,
  type GroundTruthRow,
  kafka,
  kafkaClient,
  kafkaConsumerGroups,
  produceN,
  uniqueName,
} from "./harness.ts";

interface Scenario {
  prefix: string;
  topics: { name: string; partitions: number; perPartition: number }[];
  groups: string[];
  liveGroup: string;
  consumer?: Consumer;
}

async function buildScenario(brokers: BrokerCount): Promise<Scenario> {
  const prefix = uniqueName(`gt${brokers}`);
  const topics = [
    { name: `${prefix}-t1`, partitions: 1, perPartition: 25 },
    { name: `${prefix}-t3`, partitions: 3, perPartition: 40 },
    { name: `${prefix}-t12`, partitions: 12, perPartition: 15 },
  ];
  for (const t of topics) {
    await createTopic(t.name, t.partitions, { brokers });
    await produceN(t.name, range(t.partitions), t.perPartition, { brokers });
  }
  const [t1, t3, t12] = topics as [(typeof topics)[0], (typeof topics)[0], (typeof topics)[0]];
  const full = `${prefix}-full`;
  const partial = `${prefix}-partial`;
  const empty = `${prefix}-empty`;
  const live = `${prefix}-live`;
  // Fully committed: every partition of t3 and t12, at varied positions (0, middle, end).
  await commitOffsets(
    full,
    t3.name,
    range(3).map((p) => ({ partition: p, offset: [0, 17, 40][p]! })),
    { brokers },
  );
  await commitOffsets(
    full,
    t12.name,
    range(12).map((p) => ({ partition: p, offset: p % 16 })),
    { brokers },
  );
  // Partially committed: 4 of 12 partitions; the rest must not appear at all.
  await commitOffsets(
    partial,
    t12.name,
    [0, 3, 7, 11].map((p) => ({ partition: p, offset: 2 + p })),
    { brokers },
  );
  // No members, committed long ago: an Empty group.
  await commitOffsets(empty, t1.name, [{ partition: 0, offset: 5 }], { brokers });

  // A live kafkajs consumer group with real members, paused part-way so offsets are stable.
  const client = await kafkaClient({ brokers });
  const consumer = client.consumer({ groupId: live, sessionTimeout: 30_000, heartbeatInterval: 1_000 });
  await consumer.connect();
  await consumer.subscribe({ topic: t3.name, fromBeginning: true });
  let seen = 0;
  await consumer.run({
    autoCommitInterval: 100,
    eachMessage: async ({ topic, partition }) => {
      seen++;
      if (seen >= 30) consumer.pause([{ topic, partitions: [partition] }]);
    },
  });
  await eventually(async () => (seen >= 30 ? true : undefined), 60_000, "live consumer to read 30 messages");
  consumer.pause([{ topic: t3.name }]);
  // Offsets committed by the live group settle, and the group is Stable with members.
  await eventually(
    async () => {
      const a = await kafkaConsumerGroups(live, { brokers });
      const b = await kafkaConsumerGroups(live, { brokers });
      const committed = a.filter((r) => r.currentOffset !== null).length;
      return committed > 0 && JSON.stringify(a) === JSON.stringify(b) && a.every((r) => r.consumerId !== "")
        ? true
        : undefined;
    },
    60_000,
    "live group offsets to settle",
  );
  return { prefix, topics, groups: [full, partial, empty, live], liveGroup: live, consumer };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function exporterConfig(bootstrap: string[], prefix: string, granularity: "topic" | "partition"): string {
  return `
[exporter]
poll_interval = "30s"
granularity = "${granularity}"
[exporter.timestamp_sampling]
enabled = false
[[clusters]]
name = "gt"
bootstrap_servers = "${bootstrap.join(",")}"
group_whitelist = ["^${prefix}-"]
topic_whitelist = ["^${prefix}-"]
`;
}

/** Asserts the exporter's partition series equal Kafka's own view of the group, row by row. */
function expectMatchesGroundTruth(samples: Sample[], group: string, truth: GroundTruthRow[]): void {
  const committedRows = truth.filter((r) => r.currentOffset !== null);
  expect(committedRows.length).toBeGreaterThan(0);
  for (const row of committedRows) {
    const at = { group, topic: row.topic, partition: String(row.partition) };
    const lag = find(samples, "kafka_consumergroup_group_lag", at);
    expect({ at, count: lag.length }).toEqual({ at, count: 1 });
    expect({ at, lag: lag[0]!.value }).toEqual({ at, lag: row.lag! });
    expect({ at, offset: value(samples, "kafka_consumergroup_group_offset", at) }).toEqual({
      at,
      offset: row.currentOffset!,
    });
    expect({
      at,
      latest: value(samples, "kafka_partition_latest_offset", { topic: row.topic, partition: String(row.partition) }),
    }).toEqual({
      at,
      latest: row.logEndOffset!,
    });
    // Member labels: what Kafka reports for the assigned member, empty strings when unassigned.
    expect(lag[0]!.labels).toMatchObject({
      consumer_id: row.consumerId,
      member_host: row.host,
      client_id: row.clientId,
    });
  }
  // Partitions Kafka shows without a committed offset produce no series (never a false 0).
  for (const row of truth.filter((r) => r.currentOffset === null)) {
    expect(
      find(samples, "kafka_consumergroup_group_lag", { group, topic: row.topic, partition: String(row.partition) }),
    ).toHaveLength(0);
  }
  const lags = committedRows.map((r) => r.lag!);
  expect(value(samples, "kafka_consumergroup_group_max_lag", { group })).toBe(Math.max(...lags));
  expect(value(samples, "kafka_consumergroup_group_sum_lag", { group })).toBe(lags.reduce((a, b) => a + b, 0));
  for (const topic of new Set(committedRows.map((r) => r.topic))) {
    const sum = committedRows.filter((r) => r.topic === topic).reduce((a, r) => a + r.lag!, 0);
    expect(value(samples, "kafka_consumergroup_group_topic_sum_lag", { group, topic })).toBe(sum);
  }
}

for (const brokers of [1, 3] as const) {
  describe(`lag ground truth on a ${brokers}-node cluster`, () => {
    let scenario: Scenario;
    let bootstrap: string[];

    beforeAll(async () => {
      bootstrap = (await kafka(brokers)).bootstrap;
      scenario = await buildScenario(brokers);
    });

    afterAll(async () => {
      await scenario?.consumer?.disconnect().catch(() => {});
      await closeHarnessClients();
    });

    test("partition granularity equals kafka-consumer-groups for every group and partition", async () => {
      const exporter = inProcessExporter(configFrom(exporterConfig(bootstrap, scenario.prefix, "partition")));
      try {
        const samples = await exporter.cycle();
        for (const group of scenario.groups) {
          const truth = await kafkaConsumerGroups(group, { brokers });
          expectMatchesGroundTruth(samples, group, truth);
        }
        // State: the live group is Stable (3), the committed-only groups are Empty (5).
        expect(value(samples, "kafka_consumergroup_group_state", { group: scenario.liveGroup })).toBe(3);
        expect(value(samples, "kafka_consumergroup_group_state", { group: `${scenario.prefix}-empty` })).toBe(5);
        // The live group's members have real hosts and client ids.
        const liveLag = find(samples, "kafka_consumergroup_group_lag", { group: scenario.liveGroup });
        expect(liveLag.every((s) => s.labels.member_host !== "" && s.labels.client_id === "klag-test")).toBe(true);
      } finally {
        await exporter.stop();
      }
    });

    test("topic granularity keeps group aggregates equal to the ground truth and drops partition series", async () => {
      const exporter = inProcessExporter(configFrom(exporterConfig(bootstrap, scenario.prefix, "topic")));
      try {
        const samples = await exporter.cycle();
        expect(find(samples, "kafka_consumergroup_group_lag")).toHaveLength(0);
        expect(find(samples, "kafka_consumergroup_group_offset")).toHaveLength(0);
        for (const group of scenario.groups) {
          const truth = (await kafkaConsumerGroups(group, { brokers })).filter((r) => r.currentOffset !== null);
          const lags = truth.map((r) => r.lag!);
          expect({ group, max: value(samples, "kafka_consumergroup_group_max_lag", { group }) }).toEqual({
            group,
            max: Math.max(...lags),
          });
          expect({ group, sum: value(samples, "kafka_consumergroup_group_sum_lag", { group }) }).toEqual({
            group,
            sum: lags.reduce((a, b) => a + b, 0),
          });
        }
        // Watermark gauges are emitted in both granularities.
        const t12 = scenario.topics[2]!;
        expect(find(samples, "kafka_partition_latest_offset", { topic: t12.name })).toHaveLength(12);
      } finally {
        await exporter.stop();
      }
    });

    test("one ListOffsets request per leader broker per watermark round", async () => {
      const adm = await admin({ brokers });
      const md = await adm.fetchTopicMetadata({ topics: scenario.topics.map((t) => t.name) });
      const leaders = new Set(md.topics.flatMap((t) => t.partitions.map((p) => p.leader)));
      if (brokers === 3) expect(leaders.size).toBe(3);
      const exporter = inProcessExporter(configFrom(exporterConfig(bootstrap, scenario.prefix, "partition")));
      try {
        const first = await exporter.cycle();
        const second = await exporter.cycle();
        const sent = (s: Sample[]) => value(s, "kafka_lag_exporter_kafka_requests_total", { api: "ListOffsets" }) ?? 0;
        // Three rounds per cycle: earliest, latest (read_uncommitted) and last stable (read_committed).
        expect(sent(second) - sent(first)).toBe(3 * leaders.size);
        // OffsetFetch is batched per coordinator: fewer requests than groups.
        const offsetFetches = (s: Sample[]) =>
          value(s, "kafka_lag_exporter_kafka_requests_total", { api: "OffsetFetch" }) ?? 0;
        expect(offsetFetches(second) - offsetFetches(first)).toBeLessThanOrEqual(
          Math.min(brokers, scenario.groups.length),
        );
      } finally {
        await exporter.stop();
      }
    });
  });
}
