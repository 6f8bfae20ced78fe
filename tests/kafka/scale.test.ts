/**
 * Scale on the shared 3-node cluster: 300 groups over 3,000 partitions in one cycle. Every group
 * is reported with the aggregates the test's own commits imply, a sample of groups matches
 * Apache Kafka's kafka-consumer-groups partition by partition, and the requests per cycle are
 * bounded by brokers, leaders and coordinators × 100-group batches — not by groups or partitions.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buildFixture3, deleteFixture3, type Fixture3, offsetsPartitionFor } from "../../scripts/scale-fixture-3.ts";
import { configFrom, find, type InProcessExporter, inProcessExporter, type Sample } from "../helpers/exposition.ts";
import { admin, closeHarnessClients, kafka, parseConsumerGroupsOutput, runKafkaTool, uniqueName } from "./harness.ts";

const TOPICS = 150;
const PARTITIONS_PER_TOPIC = 20;
const GROUPS = 300;
const BATCH = 100; // the client's default groups per DescribeGroups / OffsetFetch request
const BROKERS = 3;

let fixture: Fixture3;
let exporter: InProcessExporter;
let cold: { samples: Sample[]; ms: number };
let warm: { samples: Sample[]; ms: number };
/** Groups per coordinator node, computed from __consumer_offsets leaders (not from the exporter). */
let groupsPerCoordinator: Map<number, number>;
let leaders: Set<number>;

beforeAll(async () => {
  const { bootstrap } = await kafka(BROKERS);
  const prefix = uniqueName("scale");
  fixture = await buildFixture3({
    bootstrap: bootstrap.join(","),
    prefix,
    topics: TOPICS,
    partitionsPerTopic: PARTITIONS_PER_TOPIC,
    groups: GROUPS,
    secondTopicEvery: 10, // 30 groups span two topics: topic_sum_lag per topic, sum over both
    skipEvery: 9, // some partitions never committed: they must not appear
    maxMessages: 9,
    log: () => {},
  });
  const adm = await admin({ brokers: BROKERS });
  const md = await adm.fetchTopicMetadata({ topics: ["__consumer_offsets", ...fixture.topics] });
  const offsetsTopic = md.topics.find((t) => t.name === "__consumer_offsets")!;
  const coordinatorOf = new Map(offsetsTopic.partitions.map((p) => [p.partitionId, p.leader]));
  groupsPerCoordinator = new Map();
  for (const g of fixture.groups) {
    const node = coordinatorOf.get(offsetsPartitionFor(g, offsetsTopic.partitions.length))!;
    groupsPerCoordinator.set(node, (groupsPerCoordinator.get(node) ?? 0) + 1);
  }
  leaders = new Set(
    md.topics.filter((t) => t.name !== "__consumer_offsets").flatMap((t) => t.partitions.map((p) => p.leader)),
  );

  exporter = inProcessExporter(
    configFrom(`
[exporter]
granularity = "partition"
[exporter.timestamp_sampling]
enabled = false
[exporter.performance]
metadata_cache_ttl = "10m"
[[clusters]]
name = "scale"
bootstrap_servers = "${bootstrap.join(",")}"
group_whitelist = ["^${prefix}-"]
topic_whitelist = ["^${prefix}-"]
`),
  );
  let t = performance.now();
  cold = { samples: await exporter.cycle(), ms: performance.now() - t };
  t = performance.now();
  warm = { samples: await exporter.cycle(), ms: performance.now() - t };
}, 170_000);

afterAll(async () => {
  await exporter?.stop();
  if (fixture) await deleteFixture3(fixture);
  await closeHarnessClients();
});

/** kafka_lag_exporter_kafka_requests_total per API. */
function requests(samples: Sample[]): Map<string, number> {
  return new Map(find(samples, "kafka_lag_exporter_kafka_requests_total").map((s) => [s.labels.api!, s.value]));
}

/** Σ over coordinators of ceil(groups there / 100): the fewest batched group requests possible. */
function groupBatches(): number {
  let n = 0;
  for (const count of groupsPerCoordinator.values()) n += Math.ceil(count / BATCH);
  return n;
}

describe("300 groups over 3,000 partitions on 3 brokers, one cycle", () => {
  test("every group and committed partition is reported with the lag and aggregates the test committed", () => {
    const s = warm.samples;
    expect(find(s, "kafka_lag_exporter_cluster_up")[0]?.value).toBe(1);
    const index = new Map<string, number>();
    const topicsReported = new Map<string, number>();
    for (const x of s) {
      if (x.name === "kafka_consumergroup_group_topic_sum_lag")
        topicsReported.set(x.labels.group!, (topicsReported.get(x.labels.group!) ?? 0) + 1);
      if (x.name === "kafka_consumergroup_group_lag")
        index.set(`lag|${x.labels.group}|${x.labels.topic}|${x.labels.partition}`, x.value);
      else if (x.name === "kafka_consumergroup_group_offset")
        index.set(`off|${x.labels.group}|${x.labels.topic}|${x.labels.partition}`, x.value);
      else if (x.name === "kafka_consumergroup_group_topic_sum_lag")
        index.set(`tsum|${x.labels.group}|${x.labels.topic}`, x.value);
      else if (x.name.startsWith("kafka_consumergroup_group_") && x.labels.topic === undefined)
        index.set(`${x.name}|${x.labels.group}`, x.value);
    }
    let partitions = 0;
    for (const [group, commits] of fixture.commits) {
      let max = 0;
      let sum = 0;
      const perTopic = new Map<string, number>();
      for (const c of commits) {
        const lag = c.latest - c.offset;
        expect(index.get(`off|${group}|${c.topic}|${c.partition}`)).toBe(c.offset);
        expect(index.get(`lag|${group}|${c.topic}|${c.partition}`)).toBe(lag);
        max = Math.max(max, lag);
        sum += lag;
        perTopic.set(c.topic, (perTopic.get(c.topic) ?? 0) + lag);
        partitions++;
      }
      expect(index.get(`kafka_consumergroup_group_max_lag|${group}`)).toBe(max);
      expect(index.get(`kafka_consumergroup_group_sum_lag|${group}`)).toBe(sum);
      expect(index.get(`kafka_consumergroup_group_state|${group}`)).toBe(5); // Empty: committed, no members
      for (const [topic, tsum] of perTopic) expect(index.get(`tsum|${group}|${topic}`)).toBe(tsum);
      expect(topicsReported.get(group)).toBe(perTopic.size);
    }
    // Nothing more: never-committed partitions (every 9th) and other tests' groups are absent.
    expect(partitions).toBe(fixture.groupPartitions);
    expect(find(s, "kafka_consumergroup_group_lag").length).toBe(fixture.groupPartitions);
    expect(find(s, "kafka_consumergroup_group_max_lag").length).toBe(GROUPS);
    expect(find(s, "kafka_partition_latest_offset").length).toBe(TOPICS * PARTITIONS_PER_TOPIC);
    for (const reason of ["watermark_missing", "no_leader", "unknown_topic", "timeout", "broker_error"]) {
      const skipped = find(s, "kafka_lag_exporter_skipped_partitions", { reason })[0]?.value;
      if (skipped !== undefined) expect({ reason, skipped }).toEqual({ reason, skipped: 0 });
    }
  });

  test("a sample of groups equals kafka-consumer-groups partition by partition", async () => {
    const { bootstrap } = await kafka(BROKERS);
    // 10 groups spread over the range, two of them spanning two topics (g % 10 === 0).
    const sample = [0, 31, 62, 97, 130, 163, 199, 230, 271, 299].map((g) => fixture.groups[g]!);
    const res = await runKafkaTool(
      "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
      ["--bootstrap-server", bootstrap.join(","), "--describe", ...sample.flatMap((g) => ["--group", g])],
      { brokers: BROKERS },
    );
    expect(res.code).toBe(0);
    const rows = parseConsumerGroupsOutput(res.stdout);
    const s = warm.samples;
    for (const group of sample) {
      const truth = rows.filter((r) => r.group === group);
      expect(truth.length).toBe(fixture.commits.get(group)!.length);
      for (const r of truth) {
        const labels = { group, topic: r.topic, partition: String(r.partition) };
        const ours = {
          offset: find(s, "kafka_consumergroup_group_offset", labels)[0]?.value,
          end: find(s, "kafka_partition_latest_offset", { topic: r.topic, partition: String(r.partition) })[0]?.value,
          lag: find(s, "kafka_consumergroup_group_lag", labels)[0]?.value,
        };
        expect({ ...labels, ...ours }).toEqual({
          ...labels,
          offset: r.currentOffset!,
          end: r.logEndOffset!,
          lag: r.lag!,
        });
      }
    }
  }, 90_000);

  test("requests per cycle are bounded by brokers, leaders and coordinator batches, not by groups", () => {
    const batches = groupBatches();
    expect(leaders.size).toBe(BROKERS);
    expect(groupsPerCoordinator.size).toBeGreaterThan(0);
    // Cold cycle (first contact): totals since the client was created.
    const c = requests(cold.samples);
    expect(c.get("ListGroups")).toBe(BROKERS);
    expect(c.get("ListOffsets")).toBe(3 * leaders.size); // earliest, latest, last stable: one each per leader
    expect(c.get("OffsetFetch")).toBe(batches); // v8: up to 100 groups per request, per coordinator
    expect((c.get("DescribeGroups") ?? 0) + (c.get("ConsumerGroupDescribe") ?? 0)).toBe(batches);
    expect(c.get("FindCoordinator")).toBe(Math.ceil(GROUPS / BATCH)); // v4: 100 keys per request, looked up once
    expect(c.get("Metadata")).toBe(1);
    expect(c.get("ApiVersions") ?? 0).toBeLessThanOrEqual(BROKERS + 1); // one per connection
    // Warm cycle: the same steady-state work, nothing looked up again.
    const before = requests(cold.samples);
    const delta = new Map([...requests(warm.samples)].map(([api, n]) => [api, n - (before.get(api) ?? 0)]));
    const nonZero = Object.fromEntries([...delta].filter(([, n]) => n > 0));
    expect(nonZero).toEqual({
      ListGroups: BROKERS,
      ListOffsets: 3 * leaders.size,
      OffsetFetch: batches,
      ...(delta.get("DescribeGroups") ? { DescribeGroups: batches } : { ConsumerGroupDescribe: batches }),
    });
    // The bound that matters: at most ceil(groups/100) batches per coordinator, whatever the group count.
    expect(batches).toBeLessThanOrEqual(Math.ceil(GROUPS / BATCH) * groupsPerCoordinator.size);
    const errors = find(warm.samples, "kafka_lag_exporter_kafka_request_errors_total").filter((x) => x.value > 0);
    expect(errors).toEqual([]);
    console.error(
      `scale test: cold cycle ${cold.ms.toFixed(0)} ms, warm ${warm.ms.toFixed(0)} ms; warm requests ${JSON.stringify(nonZero)}; ` +
        `coordinators ${JSON.stringify(Object.fromEntries(groupsPerCoordinator))}; fixture ${JSON.stringify(fixture.timingsMs)}`,
    );
  });
});
