/**
 * The config schema as data: the valid keys of every section (the reference klag-exporter's,
 * key for key, plus ours), the defaults, and the keys that are accepted but have no effect. Pure.
 */

import type {
  HttpServerConfig,
  LeadershipConfig,
  OtelConfig,
  PerformanceConfig,
  TimestampSamplingConfig,
} from "./types.ts";

/** Valid keys per section; the section names are TOML table paths with `[n]` dropped. */
export const SECTION_KEYS = {
  "": ["exporter", "clusters"],
  exporter: [
    "poll_interval",
    "http_port",
    "http_host",
    "granularity",
    "staleness_threshold",
    "series_grace_period",
    "max_series",
    "timestamp_sampling",
    "performance",
    "otel",
    "leadership",
    "http",
  ],
  "exporter.timestamp_sampling": [
    "enabled",
    "mode",
    "cache_ttl",
    "max_concurrent_fetches",
    "fetch_timeout",
    "skip_data_loss_partitions",
    "rate_history_samples",
    "rate_history_max_age",
    "rate_min_msgs_per_sec",
  ],
  "exporter.performance": [
    "kafka_timeout",
    "offset_fetch_timeout",
    "max_concurrent_groups",
    "max_concurrent_watermarks",
    "group_fetch_retries",
    "client_recycle_interval",
    "max_blocking_threads",
    "compacted_topics_cache_ttl",
    "metadata_cache_ttl",
    "consumer_groups_cache_ttl",
  ],
  "exporter.otel": [
    "enabled",
    "endpoint",
    "export_interval",
    "timeout",
    "headers",
    "insecure",
    "ca_file",
    "cert_file",
    "key_file",
    "compression",
  ],
  "exporter.leadership": [
    "enabled",
    "provider",
    "lease_name",
    "lease_namespace",
    "identity",
    "lease_duration_secs",
    "grace_period_secs",
  ],
  "exporter.http": ["tls_cert_file", "tls_key_file", "tls_client_ca_file", "basic_auth_users", "health_without_auth"],
  clusters: [
    "name",
    "bootstrap_servers",
    "group_whitelist",
    "group_blacklist",
    "topic_whitelist",
    "topic_blacklist",
    "consumer_properties",
    "labels",
    "aws_msk_iam",
  ],
} as const satisfies Record<string, readonly string[]>;

export type SectionName = keyof typeof SECTION_KEYS;

/**
 * Keys that only tuned librdkafka or tokio (or a mechanism we replaced) in the reference:
 * accepted so existing configs keep working, and reported once as having no effect.
 */
export const NO_EFFECT_KEYS: Record<string, string> = {
  "exporter.performance.max_blocking_threads": "it sized the reference's tokio blocking-thread pool",
  "exporter.performance.client_recycle_interval":
    "it recycled librdkafka clients to free librdkafka's topic-handle cache, which does not exist here",
  "exporter.performance.max_concurrent_watermarks":
    "watermarks are read with one ListOffsets request per leader broker, not per partition",
  "exporter.performance.compacted_topics_cache_ttl":
    "compaction is detected from offset evidence, not from a cached cleanup.policy",
};

export const DEFAULT_POLL_INTERVAL_MS = 30_000;
export const DEFAULT_HTTP_PORT = 8000;
export const DEFAULT_HTTP_HOST = "0.0.0.0";
/** The reference's rule when `staleness_threshold` is unset: three poll intervals. */
export const STALENESS_POLL_MULTIPLIER = 3;
export const DEFAULT_SERIES_GRACE_PERIOD_MS = 0;
export const DEFAULT_MAX_SERIES = 0;

export const DEFAULT_TIMESTAMP_SAMPLING: TimestampSamplingConfig = {
  enabled: true,
  // The reference defaults to "rate"; our default is "hybrid" (spec §3).
  mode: "hybrid",
  cacheTtlMs: 60_000,
  maxConcurrentFetches: 5,
  fetchTimeoutMs: 5_000,
  skipDataLossPartitions: false,
  rateHistorySamples: 5,
  rateHistoryMaxAgeMs: 600_000,
  rateMinMsgsPerSec: 0.01,
};

export const DEFAULT_CLIENT_RECYCLE_INTERVAL_CYCLES = 50;

export const DEFAULT_PERFORMANCE: Omit<PerformanceConfig, "clientRecycleIntervalMs"> = {
  kafkaTimeoutMs: 30_000,
  offsetFetchTimeoutMs: 10_000,
  maxConcurrentGroups: 10,
  maxConcurrentWatermarks: 50,
  groupFetchRetries: 0,
  clientRecycleIntervalCycles: DEFAULT_CLIENT_RECYCLE_INTERVAL_CYCLES,
  maxBlockingThreads: 64,
  compactedTopicsCacheTtlMs: 3_600_000,
  metadataCacheTtlMs: 300_000,
  consumerGroupsCacheTtlMs: 60_000,
};

export const DEFAULT_OTEL: OtelConfig = {
  enabled: false,
  endpoint: "http://localhost:4317",
  exportIntervalMs: 60_000,
  timeoutMs: 10_000,
  headers: {},
  insecure: false,
  compression: "none",
};

export const DEFAULT_LEADERSHIP: LeadershipConfig = {
  enabled: false,
  provider: "kubernetes",
  leaseName: "klag-exporter",
  leaseNamespace: "default",
  leaseDurationSecs: 15,
  gracePeriodSecs: 5,
};

export const DEFAULT_HTTP: HttpServerConfig = {
  basicAuthUsers: {},
  healthWithoutAuth: true,
};

export const DEFAULT_GROUP_WHITELIST: readonly string[] = [".*"];
export const DEFAULT_GROUP_BLACKLIST: readonly string[] = [];
export const DEFAULT_TOPIC_WHITELIST: readonly string[] = [".*"];
export const DEFAULT_TOPIC_BLACKLIST: readonly string[] = ["__.*"];

/** Port librdkafka assumes when a bootstrap server has none. */
export const DEFAULT_KAFKA_PORT = 9092;

/** Label names our series already carry; a custom `[clusters.labels]` entry may not reuse them. */
export const BUILT_IN_LABELS: ReadonlySet<string> = new Set([
  "cluster_name",
  "group",
  "topic",
  "partition",
  "member_host",
  "consumer_id",
  "client_id",
  "compaction_detected",
  "data_loss_detected",
  "reason",
  "method",
  "api",
  "phase",
  "version",
  "runtime",
]);

/** Longest duration a JS timer can hold (setTimeout overflows above 2^31−1 ms ≈ 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;
