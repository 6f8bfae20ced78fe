import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ALL_METRICS, BUILT_IN_LABELS, includedAt, isDroppable, M } from "../../../src/metrics/catalog.ts";
import { LABEL_NAME_RE, METRIC_NAME_RE } from "../../../src/metrics/prometheus-text.ts";

const LAG = [
  "cluster_name",
  "group",
  "topic",
  "partition",
  "member_host",
  "consumer_id",
  "client_id",
  "compaction_detected",
  "data_loss_detected",
];
const MEMBER = LAG.slice(0, 7);
const GROUP_PARTITION = LAG.slice(0, 4);

/** The contract of spec §5 and the task brief: exact names, types and label order. */
const EXPECTED: [string, "gauge" | "counter", string[]][] = [
  ["kafka_partition_latest_offset", "gauge", ["cluster_name", "topic", "partition"]],
  ["kafka_partition_earliest_offset", "gauge", ["cluster_name", "topic", "partition"]],
  ["kafka_consumergroup_group_offset", "gauge", MEMBER],
  ["kafka_consumergroup_group_lag", "gauge", LAG],
  ["kafka_consumergroup_group_lag_seconds", "gauge", LAG],
  ["kafka_consumergroup_group_messages_lost", "gauge", GROUP_PARTITION],
  ["kafka_consumergroup_group_retention_margin", "gauge", GROUP_PARTITION],
  ["kafka_consumergroup_group_lag_retention_ratio", "gauge", GROUP_PARTITION],
  ["kafka_consumergroup_group_lag_stable", "gauge", GROUP_PARTITION],
  ["kafka_consumergroup_group_max_lag", "gauge", ["cluster_name", "group"]],
  ["kafka_consumergroup_group_sum_lag", "gauge", ["cluster_name", "group"]],
  ["kafka_consumergroup_group_max_lag_seconds", "gauge", ["cluster_name", "group"]],
  ["kafka_consumergroup_group_state", "gauge", ["cluster_name", "group"]],
  ["kafka_consumergroup_group_topic_sum_lag", "gauge", ["cluster_name", "group", "topic"]],
  ["kafka_consumergroup_poll_time_ms", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_compaction_detected_total", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_data_loss_partitions_total", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_scrape_duration_seconds", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_last_update_timestamp_seconds", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_up", "gauge", []],
  ["kafka_lag_exporter_cluster_up", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_cycle_duration_seconds", "gauge", ["cluster_name", "phase"]],
  ["kafka_lag_exporter_kafka_requests_total", "counter", ["cluster_name", "api"]],
  ["kafka_lag_exporter_kafka_request_errors_total", "counter", ["cluster_name", "api"]],
  ["kafka_lag_exporter_skipped_partitions", "gauge", ["cluster_name", "reason"]],
  ["kafka_lag_exporter_failed_groups", "gauge", ["cluster_name", "reason"]],
  ["kafka_lag_exporter_series", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_series_dropped", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_stale_series", "gauge", ["cluster_name"]],
  ["kafka_lag_exporter_time_lag_method", "gauge", ["cluster_name", "method"]],
  ["kafka_lag_exporter_time_lag_gaps", "gauge", ["cluster_name", "reason"]],
  ["kafka_lag_exporter_otlp_exports_total", "counter", ["result"]],
  ["kafka_lag_exporter_build_info", "gauge", ["version", "runtime"]],
];

describe("metric catalog", () => {
  test("holds exactly the contracted metrics with their types and label order", () => {
    const actual = ALL_METRICS.map((d) => [d.name, d.type, [...d.labels]]);
    expect(actual).toEqual([...EXPECTED].sort(([a], [b]) => (a < b ? -1 : 1)));
  });

  test("lists families sorted by name without duplicates", () => {
    const names = ALL_METRICS.map((d) => d.name);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
  });

  test("every name and label name is valid and every HELP is one non-empty line", () => {
    for (const def of ALL_METRICS) {
      expect(def.name).toMatch(METRIC_NAME_RE);
      for (const label of def.labels) expect(label).toMatch(LABEL_NAME_RE);
      expect(new Set(def.labels).size).toBe(def.labels.length);
      expect(def.help.length).toBeGreaterThan(10);
      expect(def.help).not.toContain("\n");
    }
  });

  test("counters end in _total; gauges end in _total only where promtool's complaint is recorded", () => {
    for (const def of ALL_METRICS) {
      if (def.type === "counter") expect(def.name.endsWith("_total")).toBe(true);
      else if (def.name.endsWith("_total")) expect(def.promtoolLint).toBeDefined();
    }
  });

  test("only partition- and topic-level families can be dropped, and they rank below all others", () => {
    const droppable = ALL_METRICS.filter(isDroppable);
    const kept = ALL_METRICS.filter((d) => !isDroppable(d));
    expect(droppable.every((d) => d.level === "partition" || d.level === "topic")).toBe(true);
    expect(kept.every((d) => ["group", "cluster", "process"].includes(d.level))).toBe(true);
    const maxDroppable = Math.max(...droppable.map((d) => d.priority));
    expect(kept.every((d) => d.priority > maxDroppable)).toBe(true);
    const maxPartition = Math.max(...droppable.filter((d) => d.level === "partition").map((d) => d.priority));
    expect(M.groupTopicSumLag.priority).toBeGreaterThan(maxPartition);
  });

  test("group lag is the last partition-level family the budget gives up", () => {
    const partition = ALL_METRICS.filter((d) => d.level === "partition");
    expect(Math.max(...partition.map((d) => d.priority))).toBe(M.groupLag.priority);
  });

  test("topic granularity keeps watermarks and aggregates but not group partition series", () => {
    const topicNames = ALL_METRICS.filter((d) => includedAt(d, "topic")).map((d) => d.name);
    expect(topicNames).toContain("kafka_partition_latest_offset");
    expect(topicNames).toContain("kafka_consumergroup_group_topic_sum_lag");
    expect(topicNames).not.toContain("kafka_consumergroup_group_lag");
    expect(topicNames).not.toContain("kafka_consumergroup_group_offset");
    expect(ALL_METRICS.every((d) => includedAt(d, "partition"))).toBe(true);
  });

  test("built-in label names are the union of the catalog's labels", () => {
    expect(BUILT_IN_LABELS.has("cluster_name")).toBe(true);
    expect(BUILT_IN_LABELS.has("data_loss_detected")).toBe(true);
    expect(BUILT_IN_LABELS.has("env")).toBe(false);
  });
});

describe("module boundaries", () => {
  test("src/metrics imports values only from itself, src/core and src/lib (types also from src/config)", () => {
    const dir = join(import.meta.dir, "../../../src/metrics");
    const problems: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      const source = readFileSync(join(dir, file), "utf8");
      for (const [, typeOnly, spec] of source.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gm)) {
        const allowed = /^(\.\/|\.\.\/core\/|\.\.\/lib\/)/.test(spec!) || (typeOnly && spec === "../config/types.ts");
        if (!allowed) problems.push(`${file} imports ${spec}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
