/**
 * TOML text + environment → validated `Config`, or every problem found (path + what to do).
 * Pure apart from Bun.TOML.parse: no file access, no process.env (the caller passes `env`).
 */

import { formatDuration } from "../lib/duration.ts";
import { checkConsumerProperties } from "./consumer-properties.ts";
import { type Env, isPlainTable, substituteTree } from "./env.ts";
import { childPath } from "./path.ts";
import { compilePattern } from "./patterns.ts";
import {
  boolean,
  type Ctx,
  describe,
  duration,
  float,
  integer,
  oneOf,
  openSection,
  optionalString,
  port,
  problem,
  string,
  stringList,
  stringMap,
  type Table,
} from "./readers.ts";
import {
  BUILT_IN_LABELS,
  DEFAULT_GROUP_BLACKLIST,
  DEFAULT_GROUP_WHITELIST,
  DEFAULT_HTTP,
  DEFAULT_HTTP_HOST,
  DEFAULT_HTTP_PORT,
  DEFAULT_KAFKA_PORT,
  DEFAULT_LEADERSHIP,
  DEFAULT_MAX_SERIES,
  DEFAULT_OTEL,
  DEFAULT_PERFORMANCE,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_SERIES_GRACE_PERIOD_MS,
  DEFAULT_TIMESTAMP_SAMPLING,
  DEFAULT_TOPIC_BLACKLIST,
  DEFAULT_TOPIC_WHITELIST,
  STALENESS_POLL_MULTIPLIER,
} from "./schema.ts";
import type {
  ClusterConfig,
  Config,
  ConfigResult,
  ExporterConfig,
  Granularity,
  HttpServerConfig,
  LeadershipConfig,
  OtelConfig,
  PerformanceConfig,
  TimeLagMode,
  TimestampSamplingConfig,
} from "./types.ts";

/**
 * Parses and validates a config file's text. `env` supplies `${VAR}` substitutions (pass
 * `process.env` at the edge, a literal object in tests). Every problem is reported, not just the first.
 */
export function parseConfig(text: string, env: Env): ConfigResult {
  let raw: unknown;
  try {
    raw = Bun.TOML.parse(text);
  } catch (e) {
    return { kind: "invalid", problems: [{ path: "", message: tomlErrorMessage(e, text) }] };
  }
  const substituted = substituteTree(raw, env);
  const ctx: Ctx = {
    problems: [...substituted.problems],
    notices: [],
    whole: substituted.wholePaths,
    failed: substituted.failedPaths,
  };
  const root = openSection(ctx, substituted.tree, "", "");
  const exporter = readExporter(ctx, root.values.exporter);
  const clusters = readClusters(ctx, root.values.clusters);
  if (ctx.problems.length > 0) return { kind: "invalid", problems: ctx.problems };
  const config: Config = { exporter, clusters };
  return { kind: "ok", config, notices: [...new Set(ctx.notices)] };
}

// ---------------------------------------------------------------------------------------------
// Sections

function readExporter(ctx: Ctx, value: unknown): ExporterConfig {
  const t = openSection(ctx, value, "exporter", "exporter");
  const pollIntervalMs = duration(ctx, t, "poll_interval", { min: 1 }) ?? DEFAULT_POLL_INTERVAL_MS;
  const httpPort = port(ctx, t, "http_port") ?? DEFAULT_HTTP_PORT;
  const httpHost = string(ctx, t, "http_host", { nonEmpty: true }) ?? DEFAULT_HTTP_HOST;
  const granularity = oneOf<Granularity>(ctx, t, "granularity", ["topic", "partition"]) ?? "topic";
  const explicitStaleness = duration(ctx, t, "staleness_threshold", { min: 1 });
  const stalenessThresholdMs = explicitStaleness ?? pollIntervalMs * STALENESS_POLL_MULTIPLIER;
  if (explicitStaleness !== undefined && explicitStaleness <= pollIntervalMs) {
    problem(
      ctx,
      childPath(t.path, "staleness_threshold"),
      `staleness_threshold (${formatDuration(explicitStaleness)}) must be longer than poll_interval ` +
        `(${formatDuration(pollIntervalMs)}), or every cluster goes stale between cycles; ` +
        `remove it to use ${STALENESS_POLL_MULTIPLIER} × poll_interval`,
    );
  }
  const seriesGracePeriodMs = duration(ctx, t, "series_grace_period", { min: 0 }) ?? DEFAULT_SERIES_GRACE_PERIOD_MS;
  const maxSeries = integer(ctx, t, "max_series", { min: 0 }) ?? DEFAULT_MAX_SERIES;
  return {
    pollIntervalMs,
    httpPort,
    httpHost,
    granularity,
    stalenessThresholdMs,
    seriesGracePeriodMs,
    maxSeries,
    timestampSampling: readTimestampSampling(ctx, t.values.timestamp_sampling),
    performance: readPerformance(ctx, t.values.performance, pollIntervalMs),
    otel: readOtel(ctx, t.values.otel),
    leadership: readLeadership(ctx, t.values.leadership),
    http: readHttp(ctx, t.values.http),
  };
}

function readTimestampSampling(ctx: Ctx, value: unknown): TimestampSamplingConfig {
  const t = openSection(ctx, value, "exporter.timestamp_sampling", "exporter.timestamp_sampling");
  const d = DEFAULT_TIMESTAMP_SAMPLING;
  const enabled = boolean(ctx, t, "enabled") ?? d.enabled;
  const mode = oneOf<TimeLagMode>(ctx, t, "mode", ["rate", "message", "hybrid"]) ?? d.mode;
  const maxConcurrentFetches = integer(ctx, t, "max_concurrent_fetches", { min: 0 }) ?? d.maxConcurrentFetches;
  const rateHistorySamples = integer(ctx, t, "rate_history_samples", { min: 0 }) ?? d.rateHistorySamples;
  // Like the reference, only the knobs of the selected mode are held to their minimums.
  if (enabled && mode !== "rate" && maxConcurrentFetches < 1) {
    problem(ctx, childPath(t.path, "max_concurrent_fetches"), `must be at least 1 when mode = "${mode}"`);
  }
  if (enabled && mode !== "message" && rateHistorySamples < 2) {
    problem(
      ctx,
      childPath(t.path, "rate_history_samples"),
      `must be at least 2 when mode = "${mode}" (a rate needs two samples)`,
    );
  }
  return {
    enabled,
    mode,
    cacheTtlMs: duration(ctx, t, "cache_ttl", { min: 0 }) ?? d.cacheTtlMs,
    maxConcurrentFetches,
    fetchTimeoutMs: duration(ctx, t, "fetch_timeout", { min: 1 }) ?? d.fetchTimeoutMs,
    skipDataLossPartitions: boolean(ctx, t, "skip_data_loss_partitions") ?? d.skipDataLossPartitions,
    rateHistorySamples,
    rateHistoryMaxAgeMs: duration(ctx, t, "rate_history_max_age", { min: 1 }) ?? d.rateHistoryMaxAgeMs,
    rateMinMsgsPerSec: float(ctx, t, "rate_min_msgs_per_sec", { min: 0 }) ?? d.rateMinMsgsPerSec,
  };
}

function readPerformance(ctx: Ctx, value: unknown, pollIntervalMs: number): PerformanceConfig {
  const t = openSection(ctx, value, "exporter.performance", "exporter.performance");
  const d = DEFAULT_PERFORMANCE;
  const cycles = integer(ctx, t, "client_recycle_interval", { min: 0 }) ?? d.clientRecycleIntervalCycles;
  return {
    kafkaTimeoutMs: duration(ctx, t, "kafka_timeout", { min: 1 }) ?? d.kafkaTimeoutMs,
    offsetFetchTimeoutMs: duration(ctx, t, "offset_fetch_timeout", { min: 1 }) ?? d.offsetFetchTimeoutMs,
    maxConcurrentGroups: integer(ctx, t, "max_concurrent_groups", { min: 1 }) ?? d.maxConcurrentGroups,
    maxConcurrentWatermarks: integer(ctx, t, "max_concurrent_watermarks", { min: 1 }) ?? d.maxConcurrentWatermarks,
    groupFetchRetries: integer(ctx, t, "group_fetch_retries", { min: 0, max: 100 }) ?? d.groupFetchRetries,
    clientRecycleIntervalCycles: cycles,
    clientRecycleIntervalMs: cycles * pollIntervalMs,
    maxBlockingThreads: integer(ctx, t, "max_blocking_threads", { min: 1 }) ?? d.maxBlockingThreads,
    compactedTopicsCacheTtlMs:
      duration(ctx, t, "compacted_topics_cache_ttl", { min: 0 }) ?? d.compactedTopicsCacheTtlMs,
    metadataCacheTtlMs: duration(ctx, t, "metadata_cache_ttl", { min: 0 }) ?? d.metadataCacheTtlMs,
    consumerGroupsCacheTtlMs: duration(ctx, t, "consumer_groups_cache_ttl", { min: 0 }) ?? d.consumerGroupsCacheTtlMs,
  };
}

function readOtel(ctx: Ctx, value: unknown): OtelConfig {
  const t = openSection(ctx, value, "exporter.otel", "exporter.otel");
  const d = DEFAULT_OTEL;
  const endpoint = string(ctx, t, "endpoint", { nonEmpty: true }) ?? d.endpoint;
  if (t.values.endpoint !== undefined && !isHttpUrl(endpoint)) {
    problem(
      ctx,
      childPath(t.path, "endpoint"),
      `not an http(s) URL: ${JSON.stringify(endpoint)}; write e.g. "http://otel-collector:4317"`,
    );
  }
  const exportIntervalMs = duration(ctx, t, "export_interval", { min: 1 }) ?? d.exportIntervalMs;
  const timeoutMs = duration(ctx, t, "timeout", { min: 1 }) ?? Math.min(d.timeoutMs, exportIntervalMs);
  if (timeoutMs > exportIntervalMs) {
    problem(
      ctx,
      childPath(t.path, "timeout"),
      `timeout (${formatDuration(timeoutMs)}) must not exceed export_interval (${formatDuration(exportIntervalMs)})`,
    );
  }
  const headersPath = childPath(t.path, "headers");
  const headers = stringMap(ctx, t.values.headers, headersPath, "header values") ?? {};
  for (const name of Object.keys(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      problem(ctx, childPath(headersPath, name), `invalid header name ${JSON.stringify(name)}`);
    }
  }
  const certFile = optionalString(ctx, t, "cert_file");
  const keyFile = optionalString(ctx, t, "key_file");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problem(
      ctx,
      childPath(t.path, certFile === undefined ? "cert_file" : "key_file"),
      "a client certificate needs both cert_file and key_file",
    );
  }
  const out: OtelConfig = {
    enabled: boolean(ctx, t, "enabled") ?? d.enabled,
    endpoint,
    exportIntervalMs,
    timeoutMs,
    headers,
    insecure: boolean(ctx, t, "insecure") ?? d.insecure,
    compression: oneOf<"none" | "gzip">(ctx, t, "compression", ["none", "gzip"]) ?? d.compression,
  };
  const caFile = optionalString(ctx, t, "ca_file");
  if (caFile !== undefined) out.caFile = caFile;
  if (certFile !== undefined) out.certFile = certFile;
  if (keyFile !== undefined) out.keyFile = keyFile;
  return out;
}

function readLeadership(ctx: Ctx, value: unknown): LeadershipConfig {
  const t = openSection(ctx, value, "exporter.leadership", "exporter.leadership");
  const d = DEFAULT_LEADERSHIP;
  const leaseDurationSecs = integer(ctx, t, "lease_duration_secs", { min: 1 }) ?? d.leaseDurationSecs;
  const gracePeriodSecs = integer(ctx, t, "grace_period_secs", { min: 0 }) ?? d.gracePeriodSecs;
  if (gracePeriodSecs >= leaseDurationSecs) {
    problem(
      ctx,
      childPath(t.path, "grace_period_secs"),
      `grace_period_secs (${gracePeriodSecs}) must be less than lease_duration_secs (${leaseDurationSecs})`,
    );
  }
  const out: LeadershipConfig = {
    enabled: boolean(ctx, t, "enabled") ?? d.enabled,
    provider: oneOf<"kubernetes">(ctx, t, "provider", ["kubernetes"]) ?? d.provider,
    leaseName: string(ctx, t, "lease_name", { nonEmpty: true }) ?? d.leaseName,
    leaseNamespace: string(ctx, t, "lease_namespace", { nonEmpty: true }) ?? d.leaseNamespace,
    leaseDurationSecs,
    gracePeriodSecs,
  };
  const identity = optionalString(ctx, t, "identity");
  if (identity !== undefined) out.identity = identity;
  return out;
}

/** bcrypt hashes as htpasswd and Prometheus web-config write them: $2a$/$2b$/$2y$, cost, 53 chars. */
const BCRYPT_HASH = /^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/;

function readHttp(ctx: Ctx, value: unknown): HttpServerConfig {
  const t = openSection(ctx, value, "exporter.http", "exporter.http");
  const d = DEFAULT_HTTP;
  const tlsCertFile = optionalString(ctx, t, "tls_cert_file");
  const tlsKeyFile = optionalString(ctx, t, "tls_key_file");
  const tlsClientCaFile = optionalString(ctx, t, "tls_client_ca_file");
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    problem(
      ctx,
      childPath(t.path, tlsCertFile === undefined ? "tls_cert_file" : "tls_key_file"),
      "TLS needs both tls_cert_file and tls_key_file",
    );
  }
  if (tlsClientCaFile !== undefined && tlsCertFile === undefined) {
    problem(
      ctx,
      childPath(t.path, "tls_client_ca_file"),
      "client certificate checks need TLS: set tls_cert_file and tls_key_file too",
    );
  }
  const usersPath = childPath(t.path, "basic_auth_users");
  const users = stringMap(ctx, t.values.basic_auth_users, usersPath, "bcrypt hashes", { stringify: false }) ?? {};
  for (const [user, hash] of Object.entries(users)) {
    if (user === "" || user.includes(":")) {
      problem(ctx, childPath(usersPath, user), "a basic-auth user name must be non-empty and contain no ':'");
    } else if (!BCRYPT_HASH.test(hash)) {
      problem(
        ctx,
        childPath(usersPath, user),
        "expected a bcrypt hash ($2y$…, 60 characters); make one with `htpasswd -nbBC 10 USER PASSWORD`",
      );
    }
  }
  const out: HttpServerConfig = {
    basicAuthUsers: users,
    healthWithoutAuth: boolean(ctx, t, "health_without_auth") ?? d.healthWithoutAuth,
  };
  if (tlsCertFile !== undefined) out.tlsCertFile = tlsCertFile;
  if (tlsKeyFile !== undefined) out.tlsKeyFile = tlsKeyFile;
  if (tlsClientCaFile !== undefined) out.tlsClientCaFile = tlsClientCaFile;
  return out;
}

function readClusters(ctx: Ctx, value: unknown): ClusterConfig[] {
  if (value === undefined) {
    problem(ctx, "clusters", "no clusters configured; add a [[clusters]] table with `name` and `bootstrap_servers`");
    return [];
  }
  if (isPlainTable(value)) {
    problem(ctx, "clusters", "write [[clusters]] (an array of tables, one per cluster), not [clusters]");
    return [];
  }
  if (!Array.isArray(value)) {
    problem(ctx, "clusters", `expected [[clusters]] tables, got ${describe(value)}`);
    return [];
  }
  if (value.length === 0) {
    problem(ctx, "clusters", "no clusters configured; add a [[clusters]] table with `name` and `bootstrap_servers`");
    return [];
  }
  const clusters: ClusterConfig[] = [];
  const namesSeen = new Map<string, string>();
  value.forEach((item, index) => {
    const path = childPath("clusters", index);
    if (!isPlainTable(item)) {
      problem(ctx, path, `expected a [[clusters]] table, got ${describe(item)}`);
      return;
    }
    const cluster = readCluster(ctx, item, path);
    if (cluster.name !== "") {
      const previous = namesSeen.get(cluster.name);
      if (previous !== undefined) {
        problem(
          ctx,
          childPath(path, "name"),
          `duplicate cluster name ${JSON.stringify(cluster.name)} (also ${previous}); each cluster needs a unique name`,
        );
      } else {
        namesSeen.set(cluster.name, childPath(path, "name"));
      }
    }
    clusters.push(cluster);
  });
  return clusters;
}

function readCluster(ctx: Ctx, value: Record<string, unknown>, path: string): ClusterConfig {
  const t = openSection(ctx, value, path, "clusters");
  const namePath = childPath(path, "name");
  let name = "";
  if (t.values.name === undefined) {
    problem(ctx, namePath, "missing `name`; every cluster needs a unique name (it becomes the cluster_name label)");
  } else {
    name = (string(ctx, t, "name") ?? "").trim();
    if (name === "" && typeof t.values.name === "string" && !ctx.failed.has(namePath)) {
      problem(
        ctx,
        namePath,
        "cluster name is empty; give the cluster a unique name (it becomes the cluster_name label)",
      );
    }
  }
  const consumerPath = childPath(path, "consumer_properties");
  const consumerProperties = stringMap(ctx, t.values.consumer_properties, consumerPath, "property values") ?? {};
  const propertyCheck = checkConsumerProperties(consumerProperties, consumerPath, name);
  ctx.problems.push(...propertyCheck.problems);
  ctx.notices.push(...propertyCheck.notices);
  if (t.values.aws_msk_iam !== undefined) {
    problem(
      ctx,
      childPath(path, "aws_msk_iam"),
      `AWS MSK IAM authentication is not supported (${name === "" ? "this cluster" : `cluster \`${name}\``}); ` +
        'use SASL/SCRAM, or OAUTHBEARER with sasl.oauthbearer.method = "oidc"',
    );
  }
  return {
    name,
    bootstrapServers: bootstrapServers(ctx, t),
    groupWhitelist: patternList(ctx, t, "group_whitelist") ?? [...DEFAULT_GROUP_WHITELIST],
    groupBlacklist: patternList(ctx, t, "group_blacklist") ?? [...DEFAULT_GROUP_BLACKLIST],
    topicWhitelist: patternList(ctx, t, "topic_whitelist") ?? [...DEFAULT_TOPIC_WHITELIST],
    topicBlacklist: patternList(ctx, t, "topic_blacklist") ?? [...DEFAULT_TOPIC_BLACKLIST],
    consumerProperties,
    labels: labels(ctx, t.values.labels, childPath(path, "labels")),
  };
}

/** `"a:9092, b:9092"` (the reference's form) or `["a:9092", "b:9092"]` → normalized `host:port` list. */
function bootstrapServers(ctx: Ctx, t: Table): string[] {
  const path = childPath(t.path, "bootstrap_servers");
  const raw = t.values.bootstrap_servers;
  if (ctx.failed.has(path)) return [];
  const hint = 'list brokers as "host1:9092,host2:9092"';
  if (raw === undefined) {
    problem(ctx, path, `missing \`bootstrap_servers\`; ${hint}`);
    return [];
  }
  let entries: { text: string; path: string }[];
  if (typeof raw === "string") {
    entries = raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "")
      .map((text) => ({ text, path }));
  } else if (Array.isArray(raw)) {
    entries = [];
    raw.forEach((item, index) => {
      const itemPath = childPath(path, index);
      if (typeof item !== "string") problem(ctx, itemPath, `expected a "host:port" string, got ${describe(item)}`);
      else if (item.trim() !== "" && !ctx.failed.has(itemPath)) entries.push({ text: item.trim(), path: itemPath });
    });
  } else {
    problem(ctx, path, `expected a string, got ${describe(raw)}; ${hint}`);
    return [];
  }
  if (entries.length === 0) {
    problem(ctx, path, `bootstrap_servers is empty; ${hint}`);
    return [];
  }
  const out: string[] = [];
  for (const entry of entries) {
    const broker = parseBroker(entry.text);
    if (broker === undefined) {
      problem(ctx, entry.path, `invalid broker address ${JSON.stringify(entry.text)}; ${hint}`);
    } else {
      out.push(broker);
    }
  }
  return out;
}

/** `host`, `host:port`, `[v6]:port`, optionally `PROTOCOL://`-prefixed (librdkafka accepts it) → `host:port`. */
function parseBroker(text: string): string | undefined {
  const bare = text.replace(/^[A-Za-z_]+:\/\//, "");
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(bare);
  if (m === null) return undefined;
  const host = m[1]!;
  const port = m[2] === undefined ? DEFAULT_KAFKA_PORT : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return `${host}:${port}`;
}

function patternList(ctx: Ctx, t: Table, key: string): string[] | undefined {
  const list = stringList(ctx, t, key);
  if (list === undefined) return undefined;
  const path = childPath(t.path, key);
  list.forEach((pattern, index) => {
    const itemPath = childPath(path, index);
    if (ctx.failed.has(itemPath)) return;
    const compiled = compilePattern(pattern);
    if (compiled.kind === "error") problem(ctx, itemPath, `${compiled.message}; fix the pattern (JavaScript syntax)`);
  });
  return list;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function labels(ctx: Ctx, value: unknown, path: string): Record<string, string> {
  const map = stringMap(ctx, value, path, "label values") ?? {};
  for (const name of Object.keys(map)) {
    const at = childPath(path, name);
    if (!LABEL_NAME.test(name)) {
      problem(
        ctx,
        at,
        `invalid label name ${JSON.stringify(name)}; use letters, digits and _ (not starting with a digit)`,
      );
    } else if (name.startsWith("__")) {
      problem(ctx, at, `label name ${JSON.stringify(name)} starts with "__", which Prometheus reserves; rename it`);
    } else if (BUILT_IN_LABELS.has(name)) {
      problem(
        ctx,
        at,
        `custom label ${JSON.stringify(name)} collides with a built-in label of the exporter's series; rename it ` +
          `(e.g. "custom_${name}")`,
      );
    }
  }
  return map;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/**
 * Bun's TOML errors carry no position. We find the line cheaply: the error sits on the first
 * line after which every longer prefix of the document fails to parse (a prefix ending inside a
 * multi-line string also fails, but a later, complete prefix parses again).
 */
function tomlErrorMessage(e: unknown, text: string): string {
  const reason = (e instanceof Error ? e.message : String(e)).replace(/^TOML Parse error: /, "");
  const line = errorLine(text);
  return `TOML syntax error${line === undefined ? "" : ` on line ${line}`}: ${reason}`;
}

function errorLine(text: string): number | undefined {
  const lines = text.split("\n");
  if (lines.length > 5000) return undefined;
  for (let k = lines.length - 1; k >= 1; k--) {
    try {
      Bun.TOML.parse(lines.slice(0, k).join("\n"));
      return k + 1;
    } catch {
      // keep shrinking
    }
  }
  return 1;
}
