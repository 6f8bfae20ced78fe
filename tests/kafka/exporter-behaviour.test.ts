/**
 * Exporter behaviour against the shared real Kafka: which series exist (group and topic
 * filters, default `__` blacklist, custom cluster labels), label escaping end to end through
 * promtool, new partitions measured at once, and series that vanish with their group or topic.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createDaemon } from "../../src/daemon/daemon.ts";
import { ALL_METRICS } from "../../src/metrics/catalog.ts";
import {
  configFrom,
  find,
  inProcessExporter,
  parseExposition,
  quietLogger,
  type Sample,
  value,
} from "../helpers/exposition.ts";
import {
  admin,
  closeHarnessClients,
  commitOffsets,
  createTopic,
  eventually,
  kafka,
  kafkaClient,
  kafkaConsumerGroups,
  produceN,
  uniqueName,
} from "./harness.ts";

const PROMTOOL = "/usr/bin/promtool";
/** `promtool check metrics` complaints allowed: the reference names recorded in the catalog. */
const KNOWN_PROMTOOL_COMPLAINTS = ALL_METRICS.filter((d) => d.promtoolLint).map((d) => `${d.name} ${d.promtoolLint}`);

let bootstrap: string;

beforeAll(async () => {
  bootstrap = (await kafka(1)).bootstrap.join(",");
});

afterAll(async () => {
  await closeHarnessClients();
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** A TOML basic string literal for any text (quotes, backslashes, newlines escaped). */
function tomlString(s: string): string {
  return JSON.stringify(s);
}

function cluster(name: string, extra = ""): string {
  return `
[[clusters]]
name = "${name}"
bootstrap_servers = "${bootstrap}"
${extra}`;
}

function exporterToml(clusters: string, exporterExtra = ""): string {
  return `
[exporter]
poll_interval = "30s"
granularity = "partition"
${exporterExtra}
[exporter.timestamp_sampling]
enabled = false
${clusters}`;
}

/** (group, topic, partition) triples that have a lag series. */
function lagKeys(samples: Sample[]): string[] {
  return find(samples, "kafka_consumergroup_group_lag")
    .map((s) => `${s.labels.group}|${s.labels.topic}|${s.labels.partition}`)
    .sort();
}

function labelValues(samples: Sample[], label: string): Set<string> {
  return new Set(samples.map((s) => s.labels[label]).filter((v): v is string => v !== undefined));
}

function promtool(text: string): { exitCode: number; complaints: string[] } {
  const result = Bun.spawnSync([PROMTOOL, "check", "metrics"], { stdin: Buffer.from(text) });
  const output = result.stdout.toString() + result.stderr.toString();
  return { exitCode: result.exitCode, complaints: output.split("\n").filter((line) => line.trim() !== "") };
}

describe("group and topic filters", () => {
  const p = uniqueName("flt");
  const keep1 = `${p}-keep-1`;
  const keep2 = `${p}-keep-2`;
  const dropped = `${p}-drop-1`; // group blacklist "-drop-"
  const outside = `x${p}-keep-3`; // not matched by the group whitelist "^p-"
  const onlySecret = `${p}-keep-secret-only`; // committed only on a blacklisted topic
  const ta = `${p}-ta`;
  const secret = `${p}-tb-secret`;
  const internal = `${p}-int__x`; // contains "__": the default blacklist "__.*" matches anywhere

  beforeAll(async () => {
    for (const t of [ta, secret, internal]) {
      await createTopic(t, 2);
      await produceN(t, [0, 1], 10);
    }
    for (const g of [keep1, keep2, dropped, outside]) {
      await commitOffsets(g, ta, [
        { partition: 0, offset: 3 },
        { partition: 1, offset: 4 },
      ]);
    }
    await commitOffsets(keep1, secret, [{ partition: 0, offset: 1 }]);
    await commitOffsets(keep2, internal, [{ partition: 1, offset: 2 }]);
    await commitOffsets(onlySecret, secret, [{ partition: 1, offset: 5 }]);
  });

  test("group whitelist and blacklist with the default topic filters decide exactly which groups and topics have series", async () => {
    const config = configFrom(
      exporterToml(cluster("flt", `group_whitelist = ["^${p}-"]\ngroup_blacklist = ["-drop-"]`)),
    );
    const exporter = inProcessExporter(config);
    try {
      const samples = await exporter.cycle();
      expect(lagKeys(samples)).toEqual(
        [
          `${keep1}|${ta}|0`,
          `${keep1}|${ta}|1`,
          `${keep1}|${secret}|0`,
          `${keep2}|${ta}|0`,
          `${keep2}|${ta}|1`,
          `${onlySecret}|${secret}|1`,
        ].sort(),
      );
      // Every series with a group label belongs to the whitelisted, non-blacklisted groups.
      expect([...labelValues(samples, "group")].sort()).toEqual([keep1, keep2, onlySecret].sort());
      // The default topic blacklist `__.*` removes internal topics (and any name containing "__")
      // from every family, watermarks included.
      const topics = labelValues(samples, "topic");
      expect([...topics].filter((t) => t.includes("__"))).toEqual([]);
      expect(topics.has(ta) && topics.has(secret)).toBe(true);
      expect(find(samples, "kafka_partition_latest_offset", { topic: internal })).toHaveLength(0);
      // keep2's commit on the `__` topic contributes nothing to its aggregates: lag 7 + 6 on ta only.
      expect(value(samples, "kafka_consumergroup_group_sum_lag", { group: keep2 })).toBe(13);
      expect(
        find(samples, "kafka_consumergroup_group_topic_sum_lag", { group: keep2 }).map((s) => s.labels.topic),
      ).toEqual([ta]);
    } finally {
      await exporter.stop();
    }
  });

  test("topic whitelist and blacklist remove a topic's series, and a group left with no topic emits nothing", async () => {
    const config = configFrom(
      exporterToml(
        cluster("flt2", `group_whitelist = ["^${p}-"]\ntopic_whitelist = ["^${p}-"]\ntopic_blacklist = ["secret"]`),
      ),
    );
    const exporter = inProcessExporter(config);
    try {
      const samples = await exporter.cycle();
      // With the default blacklist replaced, the "__" topic passes the whitelist and is reported.
      expect(lagKeys(samples)).toEqual(
        [
          `${keep1}|${ta}|0`,
          `${keep1}|${ta}|1`,
          `${keep2}|${internal}|1`,
          `${keep2}|${ta}|0`,
          `${keep2}|${ta}|1`,
          `${dropped}|${ta}|0`,
          `${dropped}|${ta}|1`,
        ].sort(),
      );
      expect([...labelValues(samples, "topic")].sort()).toEqual([internal, ta].sort());
      // onlySecret committed only on the blacklisted topic: no series at all, not even a 0 aggregate.
      expect(samples.filter((s) => s.labels.group === onlySecret)).toEqual([]);
      // keep1's blacklisted partition is not part of its aggregates: 7 + 6 on ta.
      expect(value(samples, "kafka_consumergroup_group_sum_lag", { group: keep1 })).toBe(13);
      expect(value(samples, "kafka_consumergroup_group_max_lag", { group: keep1 })).toBe(7);
      expect(find(samples, "kafka_partition_latest_offset").every((s) => s.labels.topic!.startsWith(`${p}-`))).toBe(
        true,
      );
      expect(find(samples, "kafka_partition_latest_offset")).toHaveLength(4);
    } finally {
      await exporter.stop();
    }
  });
});

describe("custom cluster labels", () => {
  const p = uniqueName("lbl");
  const topic = `${p}-t`;
  const group = `${p}-g`;

  beforeAll(async () => {
    await createTopic(topic, 3);
    await produceN(topic, range(3), 6);
    await commitOffsets(
      group,
      topic,
      range(3).map((partition) => ({ partition, offset: partition })),
    );
  });

  test("[clusters.labels] appear on every series of their cluster, and not on other clusters' or process series", async () => {
    const filters = `group_whitelist = ["^${p}-"]\ntopic_whitelist = ["^${p}-"]`;
    const toml = exporterToml(
      cluster("with-labels", `${filters}\n[clusters.labels]\nenv = "staging"\nregion = "eu-west-1"\n`) +
        cluster("plain", filters),
    );
    const daemon = createDaemon({ config: configFrom(toml), logger: quietLogger() });
    const result = await daemon.once();
    expect(result.failed).toEqual([]);
    const samples = parseExposition(result.text);
    const labelled = samples.filter((s) => s.labels.cluster_name === "with-labels");
    const plain = samples.filter((s) => s.labels.cluster_name === "plain");
    // Both clusters report lag, self metrics and watermarks.
    for (const set of [labelled, plain]) {
      expect(find(set, "kafka_consumergroup_group_lag", { group })).toHaveLength(3);
      expect(find(set, "kafka_lag_exporter_cluster_up")).toHaveLength(1);
      expect(find(set, "kafka_partition_latest_offset", { topic })).toHaveLength(3);
    }
    const families = new Set(labelled.map((s) => s.name));
    expect(families.size).toBeGreaterThan(15);
    const missing = labelled.filter((s) => s.labels.env !== "staging" || s.labels.region !== "eu-west-1");
    expect(missing.map((s) => s.name)).toEqual([]);
    expect(plain.filter((s) => "env" in s.labels || "region" in s.labels)).toEqual([]);
    // Process-level series carry no cluster and no cluster's custom labels.
    const processLevel = samples.filter((s) => s.labels.cluster_name === undefined);
    expect(processLevel.map((s) => s.name).sort()).toEqual(["kafka_lag_exporter_build_info", "kafka_lag_exporter_up"]);
    expect(processLevel.filter((s) => "env" in s.labels || "region" in s.labels)).toEqual([]);
    // Custom labels follow the built-in ones in the text (dashboards match on names, not order, but it is documented).
    const line = result.text
      .split("\n")
      .find((l) => l.startsWith("kafka_consumergroup_group_max_lag{") && l.includes("with-labels"));
    expect(line).toBe(
      `kafka_consumergroup_group_max_lag{cluster_name="with-labels",group="${group}",env="staging",region="eu-west-1"} 6`,
    );
  });
});

describe("label escaping end to end", () => {
  const p = uniqueName("esc");
  const topic = `${p}-t`;
  const nastyGroup = `${p}-say "hi"\\back\\slash\nnew line`;
  const nastyLabel = 'quote " backslash \\ newline \n end';

  beforeAll(async () => {
    await createTopic(topic, 2);
    await produceN(topic, [0, 1], 9);
    await commitOffsets(nastyGroup, topic, [
      { partition: 0, offset: 4 },
      { partition: 1, offset: 9 },
    ]);
  });

  test("a group id with a quote, a backslash and a newline is escaped, parses back to itself and passes promtool", async () => {
    // Kafka itself keeps the group id byte for byte.
    const listed = await (await admin()).listGroups();
    expect(listed.groups.some((g) => g.groupId === nastyGroup)).toBe(true);

    const config = configFrom(
      exporterToml(
        cluster(
          "esc",
          `group_whitelist = ["^${p}-"]\ntopic_whitelist = ["^${p}-"]\n[clusters.labels]\nnote = ${tomlString(nastyLabel)}\n`,
        ),
      ),
    );
    const exporter = inProcessExporter(config);
    try {
      const samples = await exporter.cycle();
      const text = exporter.text();
      // The raw text holds the escaped forms and no raw newline inside a label value.
      expect(text).toContain('group="' + `${p}-say \\"hi\\"\\\\back\\\\slash\\nnew line` + '"');
      expect(text).toContain('note="quote \\" backslash \\\\ newline \\n end"');
      for (const line of text.split("\n")) {
        if (line === "" || line.startsWith("#")) continue;
        expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+$/);
      }
      // Parsed back, the group label is the original string and the lag is right (9-4, 9-9).
      const lag = find(samples, "kafka_consumergroup_group_lag", { group: nastyGroup });
      expect(lag.map((s) => [s.labels.partition, s.value]).sort()).toEqual([
        ["0", 5],
        ["1", 0],
      ]);
      expect(value(samples, "kafka_consumergroup_group_sum_lag", { group: nastyGroup })).toBe(5);
      expect(samples.every((s) => s.labels.note === nastyLabel)).toBe(true);

      const { exitCode, complaints } = promtool(text);
      expect(complaints.filter((c) => !KNOWN_PROMTOOL_COMPLAINTS.includes(c))).toEqual([]);
      expect(exitCode === 0 || (exitCode === 3 && complaints.length > 0)).toBe(true);
    } finally {
      await exporter.stop();
    }
  });

  test("promtool rejects a broken escape, so its pass above is meaningful", () => {
    const broken = '# HELP x_bytes X.\n# TYPE x_bytes gauge\nx_bytes{group="a"b"} 1\n';
    const { exitCode } = promtool(broken);
    expect(exitCode).not.toBe(0);
  });
});

describe("series lifecycle", () => {
  test("a partition added after the first cycle is reported with its true lag on the very next cycle", async () => {
    const p = uniqueName("newp");
    const topic = `${p}-t`;
    const group = `${p}-g`;
    await createTopic(topic, 2);
    await produceN(topic, [0, 1], 5);
    await commitOffsets(group, topic, [
      { partition: 0, offset: 1 },
      { partition: 1, offset: 2 },
    ]);
    // A long metadata TTL: only the refresh on an unknown committed partition can find partition 2.
    const config = configFrom(
      exporterToml(
        cluster("newp", `group_whitelist = ["^${p}-"]\ntopic_whitelist = ["^${p}-"]`),
        '[exporter.performance]\nmetadata_cache_ttl = "1h"',
      ),
    );
    const exporter = inProcessExporter(config);
    try {
      const first = await exporter.cycle();
      expect(
        find(first, "kafka_consumergroup_group_lag", { group })
          .map((s) => s.labels.partition)
          .sort(),
      ).toEqual(["0", "1"]);

      const adm = await admin();
      await adm.createPartitions({ topicPartitions: [{ topic, count: 3 }] });
      await eventually(
        async () => {
          const md = await adm.fetchTopicMetadata({ topics: [topic] });
          return md.topics[0]!.partitions.find((x) => x.partitionId === 2 && x.leader >= 0) ? true : undefined;
        },
        30_000,
        "partition 2 to get a leader",
      );
      // A fresh producer: kafkajs silently drops messages for a partition its cached metadata lacks.
      const producer = (await kafkaClient()).producer({ allowAutoTopicCreation: false });
      await producer.connect();
      try {
        await producer.send({ topic, acks: -1, messages: range(11).map((i) => ({ partition: 2, value: `n-${i}` })) });
      } finally {
        await producer.disconnect();
      }
      await commitOffsets(group, topic, [{ partition: 2, offset: 4 }]);
      const truth = await kafkaConsumerGroups(group);
      expect(truth.find((r) => r.partition === 2)).toMatchObject({ currentOffset: 4, logEndOffset: 11, lag: 7 });

      const second = await exporter.cycle();
      const at = { group, topic, partition: "2" };
      expect(value(second, "kafka_consumergroup_group_lag", at)).toBe(7);
      expect(value(second, "kafka_consumergroup_group_offset", at)).toBe(4);
      expect(value(second, "kafka_partition_latest_offset", { topic, partition: "2" })).toBe(11);
      // lag 4 + 3 + 7
      expect(value(second, "kafka_consumergroup_group_sum_lag", { group })).toBe(14);
      expect(find(second, "kafka_lag_exporter_skipped_partitions").filter((s) => s.value > 0)).toEqual([]);
    } finally {
      await exporter.stop();
    }
  });

  test("a deleted group's series are gone from the next exposition while other groups stay", async () => {
    const p = uniqueName("gone");
    const topic = `${p}-t`;
    const stays = `${p}-stays`;
    const goes = `${p}-goes`;
    await createTopic(topic, 2);
    await produceN(topic, [0, 1], 8);
    for (const g of [stays, goes]) {
      await commitOffsets(g, topic, [
        { partition: 0, offset: 2 },
        { partition: 1, offset: 3 },
      ]);
    }
    const exporter = inProcessExporter(
      configFrom(exporterToml(cluster("gone", `group_whitelist = ["^${p}-"]\ntopic_whitelist = ["^${p}-"]`))),
    );
    try {
      const first = await exporter.cycle();
      const ofGroup = (s: Sample[], g: string) => s.filter((x) => x.labels.group === g);
      expect(ofGroup(first, goes).length).toBeGreaterThanOrEqual(2 * 6 + 4);
      const seriesBefore = value(first, "kafka_lag_exporter_series", { cluster_name: "gone" })!;

      const results = await (await admin()).deleteGroups([goes]);
      expect(results.map((r) => r.errorCode)).toEqual([0]);

      const second = await exporter.cycle();
      expect(ofGroup(second, goes)).toEqual([]);
      expect(
        ofGroup(second, stays)
          .map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`)
          .sort(),
      ).toEqual(
        ofGroup(first, stays)
          .map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`)
          .sort(),
      );
      expect(value(second, "kafka_lag_exporter_series", { cluster_name: "gone" })).toBe(
        seriesBefore - ofGroup(first, goes).length,
      );
    } finally {
      await exporter.stop();
    }
  });

  test("a deleted topic leaves no zero series: its group series vanish and any offsets still returned are counted as skipped", async () => {
    const p = uniqueName("deltp");
    const doomed = `${p}-doomed`;
    const kept = `${p}-kept`;
    const both = `${p}-both`;
    const onlyDoomed = `${p}-only`;
    await createTopic(doomed, 2);
    await createTopic(kept, 1);
    await produceN(doomed, [0, 1], 6);
    await produceN(kept, [0], 4);
    await commitOffsets(both, doomed, [
      { partition: 0, offset: 1 },
      { partition: 1, offset: 2 },
    ]);
    await commitOffsets(both, kept, [{ partition: 0, offset: 1 }]);
    await commitOffsets(onlyDoomed, doomed, [{ partition: 0, offset: 3 }]);

    const exporter = inProcessExporter(
      configFrom(
        exporterToml(
          cluster("deltp", `group_whitelist = ["^${p}-"]\ntopic_whitelist = ["^${p}-"]`),
          '[exporter.performance]\nmetadata_cache_ttl = "1h"',
        ),
      ),
    );
    try {
      const first = await exporter.cycle();
      expect(find(first, "kafka_consumergroup_group_lag", { topic: doomed })).toHaveLength(3);

      const adm = await admin();
      await adm.deleteTopics({ topics: [doomed], timeout: 30_000 });

      // Right after the deletion the coordinator may still return the topic's offsets for a
      // moment (then they must be counted as skipped) or may have dropped them already.
      const justAfter = await exporter.cycle();
      const expectNothingForDeletedTopic = (s: Sample[]) => {
        // Nothing about the deleted topic, and above all no zero: not lag, not offsets, not watermarks.
        expect(s.filter((x) => x.labels.topic === doomed)).toEqual([]);
        // The surviving topic is reported as before, and aggregates cover it only (4 - 1).
        expect(value(s, "kafka_consumergroup_group_lag", { group: both, topic: kept, partition: "0" })).toBe(3);
        expect(value(s, "kafka_consumergroup_group_sum_lag", { group: both })).toBe(3);
        // A group whose only topic is gone emits nothing (no max_lag 0, no sum_lag 0).
        expect(s.filter((x) => x.labels.group === onlyDoomed)).toEqual([]);
      };
      const skippedOf = (s: Sample[]) =>
        find(s, "kafka_lag_exporter_skipped_partitions").reduce((n, x) => n + x.value, 0);
      expectNothingForDeletedTopic(justAfter);
      // At most the three committed partitions of the deleted topic can be skipped.
      expect(skippedOf(justAfter)).toBeLessThanOrEqual(3);
      const reasons = find(justAfter, "kafka_lag_exporter_skipped_partitions").map(
        (x) => `${x.labels.reason}=${x.value}`,
      );
      console.error(`deleted topic, cycle right after deletion: skipped ${JSON.stringify(reasons)}`);

      // Once the coordinator no longer returns the offsets, nothing is skipped and nothing is reported.
      const stillCommitted = async (g: string) =>
        (await adm.fetchOffsets({ groupId: g })).filter((t) => t.topic === doomed).flatMap((t) => t.partitions).length;
      await eventually(
        async () => ((await stillCommitted(both)) + (await stillCommitted(onlyDoomed)) === 0 ? true : undefined),
        30_000,
        "the coordinator to drop the deleted topic's offsets",
      );
      const later = await exporter.cycle();
      expectNothingForDeletedTopic(later);
      expect(skippedOf(later)).toBe(0);
    } finally {
      await exporter.stop();
    }
  });
});
