/**
 * The metric catalog: one definition per metric family (name, HELP, type, label names in
 * exposition order, level, granularity, drop priority). Names and labels match the reference
 * exporter so dashboards keep working. Pure data; imports nothing.
 */

export type MetricType = "gauge" | "counter";

/** What one series describes; the cardinality budget drops partition level first, then topic level. */
export type MetricLevel = "partition" | "topic" | "group" | "cluster" | "process";

/** "partition": emitted only with `granularity = "partition"`; "both": emitted in either mode. */
export type MetricGranularity = "partition" | "both";

export interface MetricDef {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Label names in exposition order; `set()` takes values in this order. */
  readonly labels: readonly string[];
  readonly level: MetricLevel;
  readonly granularity: MetricGranularity;
  /**
   * Budget priority: when a store is over `maxSeries`, series of the lowest priority go first.
   * Only partition- and topic-level families are ever dropped (see `isDroppable`).
   */
  readonly priority: number;
  /** Where the metric comes from: the reference exporter (kept for compatibility) or new here. */
  readonly origin: "reference" | "new";
  /** What `promtool check metrics` says about this name, when it is kept for compatibility. */
  readonly promtoolLint?: string;
  /** Extra documentation for docs/metrics.md (differences from the reference, value meaning). */
  readonly note?: string;
}

/** Group and cluster aggregates and process metrics are never dropped by the cardinality budget. */
export function isDroppable(def: MetricDef): boolean {
  return def.level === "partition" || def.level === "topic";
}

/** Whether a family is emitted under the configured `granularity` ("topic" skips group partition series). */
export function includedAt(def: MetricDef, granularity: "topic" | "partition"): boolean {
  return granularity === "partition" || def.granularity === "both";
}

const PARTITION_LABELS = ["cluster_name", "topic", "partition"] as const;
const GROUP_PARTITION_LABELS = ["cluster_name", "group", "topic", "partition"] as const;
const MEMBER_LABELS = [...GROUP_PARTITION_LABELS, "member_host", "consumer_id", "client_id"] as const;
const LAG_LABELS = [...MEMBER_LABELS, "compaction_detected", "data_loss_detected"] as const;
const GROUP_LABELS = ["cluster_name", "group"] as const;
const CLUSTER_LABELS = ["cluster_name"] as const;

const TOTAL_ON_GAUGE = 'non-counter metrics should not have "_total" suffix';

function gauge(d: Omit<MetricDef, "type" | "origin"> & { origin?: MetricDef["origin"] }): MetricDef {
  return Object.freeze({ type: "gauge", origin: "reference", ...d });
}

function counter(d: Omit<MetricDef, "type" | "origin"> & { origin?: MetricDef["origin"] }): MetricDef {
  return Object.freeze({ type: "counter", origin: "reference", ...d });
}

/** Every metric, by role. Priorities: partition 10–40, topic 60, group/cluster/process 100+. */
export const M = {
  // Partition watermarks (per topic partition, independent of groups).
  partitionLatestOffset: gauge({
    name: "kafka_partition_latest_offset",
    help: "High watermark of the partition: the offset the next produced record will get.",
    labels: PARTITION_LABELS,
    level: "partition",
    granularity: "both",
    priority: 14,
  }),
  partitionEarliestOffset: gauge({
    name: "kafka_partition_earliest_offset",
    help: "Low watermark of the partition: the first offset still retained in the log.",
    labels: PARTITION_LABELS,
    level: "partition",
    granularity: "both",
    priority: 13,
  }),

  // Per group and partition.
  groupOffset: gauge({
    name: "kafka_consumergroup_group_offset",
    help: "Offset the consumer group committed for the partition.",
    labels: MEMBER_LABELS,
    level: "partition",
    granularity: "partition",
    priority: 20,
  }),
  groupLag: gauge({
    name: "kafka_consumergroup_group_lag",
    help: "Messages the consumer group still has to consume on the partition (high watermark minus committed offset).",
    labels: LAG_LABELS,
    level: "partition",
    granularity: "partition",
    priority: 40,
    note: "On data loss the reference reports 0; we report the true distance to the high watermark (and the loss in `kafka_consumergroup_group_messages_lost`).",
  }),
  groupLagSeconds: gauge({
    name: "kafka_consumergroup_group_lag_seconds",
    help: "Age in seconds of the oldest record the consumer group has not consumed on the partition (0 when caught up).",
    labels: LAG_LABELS,
    level: "partition",
    granularity: "partition",
    priority: 30,
    note: "Absent (never 0) when no estimate exists, e.g. an idle partition in rate mode. `kafka_lag_exporter_time_lag_method` says which method produced the values.",
  }),
  groupMessagesLost: gauge({
    name: "kafka_consumergroup_group_messages_lost",
    help: "Messages removed from the log (retention or record deletion) before the consumer group consumed them.",
    labels: GROUP_PARTITION_LABELS,
    level: "partition",
    granularity: "partition",
    priority: 25,
  }),
  groupRetentionMargin: gauge({
    name: "kafka_consumergroup_group_retention_margin",
    help: "Committed offset minus the low watermark: how far the consumer group is from the deletion boundary (negative after data loss).",
    labels: GROUP_PARTITION_LABELS,
    level: "partition",
    granularity: "partition",
    priority: 12,
  }),
  groupLagRetentionRatio: gauge({
    name: "kafka_consumergroup_group_lag_retention_ratio",
    help: "Lag as a percentage of the retained offset range (0 caught up, 100 at the deletion boundary, above 100 data loss).",
    labels: GROUP_PARTITION_LABELS,
    level: "partition",
    granularity: "partition",
    priority: 11,
    note: "Absent when the partition retains no records (high watermark equals low watermark).",
  }),
  groupLagStable: gauge({
    name: "kafka_consumergroup_group_lag_stable",
    help: "Messages between the committed offset and the last stable offset; a read_committed consumer cannot pass the last stable offset while a transaction is open.",
    labels: GROUP_PARTITION_LABELS,
    level: "partition",
    granularity: "partition",
    priority: 15,
    origin: "new",
    note: "Present only where the last stable offset was collected. A gap between this and `kafka_consumergroup_group_lag` is an open transaction.",
  }),

  // Per group and topic.
  groupTopicSumLag: gauge({
    name: "kafka_consumergroup_group_topic_sum_lag",
    help: "Sum of the consumer group's lag over the partitions of one topic.",
    labels: ["cluster_name", "group", "topic"],
    level: "topic",
    granularity: "both",
    priority: 60,
  }),

  // Per group.
  groupMaxLag: gauge({
    name: "kafka_consumergroup_group_max_lag",
    help: "Largest lag of the consumer group over its partitions.",
    labels: GROUP_LABELS,
    level: "group",
    granularity: "both",
    priority: 100,
  }),
  groupSumLag: gauge({
    name: "kafka_consumergroup_group_sum_lag",
    help: "Sum of the consumer group's lag over its partitions.",
    labels: GROUP_LABELS,
    level: "group",
    granularity: "both",
    priority: 100,
  }),
  groupMaxLagSeconds: gauge({
    name: "kafka_consumergroup_group_max_lag_seconds",
    help: "Largest time lag in seconds of the consumer group over the partitions that have one.",
    labels: GROUP_LABELS,
    level: "group",
    granularity: "both",
    priority: 100,
    note: "Absent when no partition of the group has a time lag value.",
  }),
  groupState: gauge({
    name: "kafka_consumergroup_group_state",
    help: "Consumer group state: 0 Unknown, 1 PreparingRebalance, 2 CompletingRebalance, 3 Stable, 4 Dead, 5 Empty, 6 Assigning, 7 Reconciling.",
    labels: GROUP_LABELS,
    level: "group",
    granularity: "both",
    priority: 100,
    note: "KIP-848 groups are described with ConsumerGroupDescribe, so they show their real state (the reference reports them as Dead).",
  }),

  // Per cluster (reference).
  pollTimeMs: gauge({
    name: "kafka_consumergroup_poll_time_ms",
    help: "Milliseconds the last collection cycle took to read offsets from the cluster.",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
    promtoolLint: "metric names should not contain abbreviated units",
  }),
  compactionDetected: gauge({
    name: "kafka_lag_exporter_compaction_detected_total",
    help: "Partitions with evidence in the last cycle that the record at the committed offset was compacted away (time lag may read low).",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
    promtoolLint: TOTAL_ON_GAUGE,
    note: "A gauge despite the `_total` suffix, as in the reference. Counts evidence (an offset gap after the committed offset), not `cleanup.policy=compact`.",
  }),
  dataLossPartitions: gauge({
    name: "kafka_lag_exporter_data_loss_partitions_total",
    help: "Group partitions whose committed offset was below the low watermark in the last cycle.",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
    promtoolLint: TOTAL_ON_GAUGE,
    note: "A gauge despite the `_total` suffix, as in the reference.",
  }),
  scrapeDuration: gauge({
    name: "kafka_lag_exporter_scrape_duration_seconds",
    help: "Seconds the last collection cycle of the cluster took.",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
  }),
  lastUpdate: gauge({
    name: "kafka_lag_exporter_last_update_timestamp_seconds",
    help: "Unix time in seconds of the cluster's last successful collection cycle.",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
  }),
  up: gauge({
    name: "kafka_lag_exporter_up",
    help: "1 while the exporter is running; each cluster's health is kafka_lag_exporter_cluster_up.",
    labels: [],
    level: "process",
    granularity: "both",
    priority: 200,
    note: "The reference turns this to 0 when any cluster fails; here it stays 1 and each cluster has `kafka_lag_exporter_cluster_up`, so one unreachable cluster does not flap the whole exporter.",
  }),
  clusterUp: gauge({
    name: "kafka_lag_exporter_cluster_up",
    help: "1 when the cluster's last collection cycle succeeded and its data is fresh, 0 otherwise.",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),

  // Self-observability (new).
  cycleDuration: gauge({
    name: "kafka_lag_exporter_cycle_duration_seconds",
    help: "Seconds each phase of the cluster's last collection cycle took.",
    labels: ["cluster_name", "phase"],
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  kafkaRequests: counter({
    name: "kafka_lag_exporter_kafka_requests_total",
    help: "Requests sent to the cluster's brokers, by Kafka API.",
    labels: ["cluster_name", "api"],
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  kafkaRequestErrors: counter({
    name: "kafka_lag_exporter_kafka_request_errors_total",
    help: "Requests to the cluster's brokers that failed or returned an error code, by Kafka API.",
    labels: ["cluster_name", "api"],
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  skippedPartitions: gauge({
    name: "kafka_lag_exporter_skipped_partitions",
    help: "Group partitions left out of the last cycle because an input was missing, by reason.",
    labels: ["cluster_name", "reason"],
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  failedGroups: gauge({
    name: "kafka_lag_exporter_failed_groups",
    help: "Consumer groups that could not be described or whose offsets could not be fetched in the last cycle, by reason.",
    labels: ["cluster_name", "reason"],
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  series: gauge({
    name: "kafka_lag_exporter_series",
    help: "Series the cluster contributes to the exposition after the last cycle.",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  seriesDropped: gauge({
    name: "kafka_lag_exporter_series_dropped",
    help: "Series the cardinality budget (max_series) left out of the cluster's last cycle.",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  staleSeries: gauge({
    name: "kafka_lag_exporter_stale_series",
    help: "Series not produced by the cluster's last cycle but still exposed with their last value during the grace period.",
    labels: CLUSTER_LABELS,
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  timeLagMethod: gauge({
    name: "kafka_lag_exporter_time_lag_method",
    help: "Group partitions whose time lag in the last cycle came from each method (message timestamp or rate estimate).",
    labels: ["cluster_name", "method"],
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  timeLagGaps: gauge({
    name: "kafka_lag_exporter_time_lag_gaps",
    help: "Lagging group partitions without a time lag value in the last cycle, by reason (no record after the committed offset, read failed, too little rate history, …).",
    labels: ["cluster_name", "reason"],
    level: "cluster",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  otlpExports: counter({
    name: "kafka_lag_exporter_otlp_exports_total",
    help: "OTLP metric exports attempted, by result.",
    labels: ["result"],
    level: "process",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
  buildInfo: gauge({
    name: "kafka_lag_exporter_build_info",
    help: "Always 1; the labels carry the exporter version and the runtime it was built with.",
    labels: ["version", "runtime"],
    level: "process",
    granularity: "both",
    priority: 200,
    origin: "new",
  }),
} as const satisfies Record<string, MetricDef>;

/** Every family, sorted by name (the exposition order). */
export const ALL_METRICS: readonly MetricDef[] = Object.freeze(
  Object.values(M).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
);

/** Label names used by the catalog; a `[clusters.labels]` key may not reuse one of these. */
export const BUILT_IN_LABELS: ReadonlySet<string> = new Set(ALL_METRICS.flatMap((d) => d.labels));
