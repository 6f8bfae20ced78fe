/**
 * The validated, typed configuration. Durations are milliseconds (`…Ms`). Produced by
 * `parseConfig` (src/config/parse.ts) from TOML text; consumed by the daemon and CLI.
 */

export type Granularity = "topic" | "partition";
export type TimeLagMode = "rate" | "message" | "hybrid";

export interface TimestampSamplingConfig {
  enabled: boolean;
  mode: TimeLagMode;
  cacheTtlMs: number;
  maxConcurrentFetches: number;
  fetchTimeoutMs: number;
  skipDataLossPartitions: boolean;
  rateHistorySamples: number;
  rateHistoryMaxAgeMs: number;
  rateMinMsgsPerSec: number;
}

export interface PerformanceConfig {
  kafkaTimeoutMs: number;
  offsetFetchTimeoutMs: number;
  maxConcurrentGroups: number;
  maxConcurrentWatermarks: number;
  groupFetchRetries: number;
  /**
   * Reference semantics: collection cycles between client recycles (0 = never). No effect here;
   * `clientRecycleIntervalMs` is the same interval in time (cycles × poll interval).
   */
  clientRecycleIntervalCycles: number;
  clientRecycleIntervalMs: number;
  maxBlockingThreads: number;
  compactedTopicsCacheTtlMs: number;
  metadataCacheTtlMs: number;
  consumerGroupsCacheTtlMs: number;
}

export interface OtelConfig {
  enabled: boolean;
  endpoint: string;
  exportIntervalMs: number;
  timeoutMs: number;
  headers: Record<string, string>;
  insecure: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  compression: "none" | "gzip";
}

export interface LeadershipConfig {
  enabled: boolean;
  provider: "kubernetes";
  leaseName: string;
  leaseNamespace: string;
  identity?: string;
  leaseDurationSecs: number;
  gracePeriodSecs: number;
}

export interface HttpServerConfig {
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsClientCaFile?: string;
  /** user → bcrypt hash */
  basicAuthUsers: Record<string, string>;
  /** Keep /health reachable without auth. */
  healthWithoutAuth: boolean;
}

export interface ExporterConfig {
  pollIntervalMs: number;
  httpPort: number;
  httpHost: string;
  granularity: Granularity;
  /** A cluster whose last good data is older than this is stale (disappears, /ready 503). */
  stalenessThresholdMs: number;
  /** Series absent from a cycle are kept this long before they disappear (0 = drop at once). */
  seriesGracePeriodMs: number;
  /** Per-cluster cardinality budget; 0 = unlimited. */
  maxSeries: number;
  timestampSampling: TimestampSamplingConfig;
  performance: PerformanceConfig;
  otel: OtelConfig;
  leadership: LeadershipConfig;
  http: HttpServerConfig;
}

export interface ClusterConfig {
  name: string;
  bootstrapServers: string[];
  groupWhitelist: string[];
  groupBlacklist: string[];
  topicWhitelist: string[];
  topicBlacklist: string[];
  /** librdkafka-named client properties, as given (secrets included; redact before printing). */
  consumerProperties: Record<string, string>;
  labels: Record<string, string>;
}

export interface Config {
  exporter: ExporterConfig;
  clusters: ClusterConfig[];
}

/** One validation problem: the offending key path and what to do. */
export interface ConfigProblem {
  path: string;
  message: string;
}

export type ConfigResult =
  | { kind: "ok"; config: Config; notices: string[] }
  | { kind: "invalid"; problems: ConfigProblem[] };
