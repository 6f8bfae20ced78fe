/**
 * The effective config as TOML text with secrets replaced by "<redacted>" (for `check-config`
 * and status pages), and the raw secret values (so logs and outputs can be scanned for leaks). Pure.
 */

import { formatDuration } from "../lib/duration.ts";
import { SECRET_PROPERTIES } from "./consumer-properties.ts";
import { escapeSubstitution } from "./env.ts";
import type { ClusterConfig, Config } from "./types.ts";

export const REDACTED = "<redacted>";

/** OTLP header names whose values are credentials (Authorization, api-key, x-auth-token, …). */
const SECRET_HEADER = /auth|token|key|secret|password|passwd|credential|cookie|session|signature/i;

/**
 * Renders `config` as TOML that `parseConfig` accepts and that yields the same config (apart
 * from redacted secrets). Every key is written, defaults included; unset optional keys are omitted.
 */
export function toEffectiveConfigText(config: Config): string {
  const e = config.exporter;
  const ts = e.timestampSampling;
  const p = e.performance;
  const o = e.otel;
  const l = e.leadership;
  const h = e.http;
  const out: string[] = [];
  const section = (name: string, entries: [string, TomlValue | undefined][]) => {
    if (out.length > 0) out.push("");
    out.push(name);
    for (const [key, value] of entries) if (value !== undefined) out.push(`${tomlKey(key)} = ${tomlValue(value)}`);
  };
  const d = (ms: number) => ({ duration: ms });

  section("[exporter]", [
    ["poll_interval", d(e.pollIntervalMs)],
    ["http_port", e.httpPort],
    ["http_host", e.httpHost],
    ["granularity", e.granularity],
    ["staleness_threshold", d(e.stalenessThresholdMs)],
    ["series_grace_period", d(e.seriesGracePeriodMs)],
    ["max_series", e.maxSeries],
  ]);
  section("[exporter.timestamp_sampling]", [
    ["enabled", ts.enabled],
    ["mode", ts.mode],
    ["cache_ttl", d(ts.cacheTtlMs)],
    ["max_concurrent_fetches", ts.maxConcurrentFetches],
    ["fetch_timeout", d(ts.fetchTimeoutMs)],
    ["skip_data_loss_partitions", ts.skipDataLossPartitions],
    ["rate_history_samples", ts.rateHistorySamples],
    ["rate_history_max_age", d(ts.rateHistoryMaxAgeMs)],
    ["rate_min_msgs_per_sec", { float: ts.rateMinMsgsPerSec }],
  ]);
  section("[exporter.performance]", [
    ["kafka_timeout", d(p.kafkaTimeoutMs)],
    ["offset_fetch_timeout", d(p.offsetFetchTimeoutMs)],
    ["max_concurrent_groups", p.maxConcurrentGroups],
    ["max_concurrent_watermarks", p.maxConcurrentWatermarks],
    ["group_fetch_retries", p.groupFetchRetries],
    ["client_recycle_interval", p.clientRecycleIntervalCycles],
    ["max_blocking_threads", p.maxBlockingThreads],
    ["compacted_topics_cache_ttl", d(p.compactedTopicsCacheTtlMs)],
    ["metadata_cache_ttl", d(p.metadataCacheTtlMs)],
    ["consumer_groups_cache_ttl", d(p.consumerGroupsCacheTtlMs)],
  ]);
  section("[exporter.otel]", [
    ["enabled", o.enabled],
    ["endpoint", redactUrl(o.endpoint)],
    ["export_interval", d(o.exportIntervalMs)],
    ["timeout", d(o.timeoutMs)],
    ["insecure", o.insecure],
    ["ca_file", o.caFile],
    ["cert_file", o.certFile],
    ["key_file", o.keyFile],
    ["compression", o.compression],
  ]);
  section(
    "[exporter.otel.headers]",
    Object.entries(o.headers).map(([name, value]) => [name, SECRET_HEADER.test(name) ? REDACTED : value]),
  );
  section("[exporter.leadership]", [
    ["enabled", l.enabled],
    ["provider", l.provider],
    ["lease_name", l.leaseName],
    ["lease_namespace", l.leaseNamespace],
    ["identity", l.identity],
    ["lease_duration_secs", l.leaseDurationSecs],
    ["grace_period_secs", l.gracePeriodSecs],
  ]);
  section("[exporter.http]", [
    ["tls_cert_file", h.tlsCertFile],
    ["tls_key_file", h.tlsKeyFile],
    ["tls_client_ca_file", h.tlsClientCaFile],
    ["health_without_auth", h.healthWithoutAuth],
  ]);
  section(
    "[exporter.http.basic_auth_users]",
    Object.keys(h.basicAuthUsers).map((user) => [user, REDACTED]),
  );
  for (const c of config.clusters) {
    section("[[clusters]]", [
      ["name", c.name],
      ["bootstrap_servers", c.bootstrapServers.join(",")],
      ["group_whitelist", c.groupWhitelist],
      ["group_blacklist", c.groupBlacklist],
      ["topic_whitelist", c.topicWhitelist],
      ["topic_blacklist", c.topicBlacklist],
    ]);
    section(
      "[clusters.consumer_properties]",
      Object.entries(c.consumerProperties).map(([key, value]) => [key, SECRET_PROPERTIES.has(key) ? REDACTED : value]),
    );
    section("[clusters.labels]", Object.entries(c.labels));
  }
  return `${out.join("\n")}\n`;
}

/** Every secret value in `config` (non-empty, deduplicated), for leak scans of logs and outputs. */
export function secretValues(config: Config): string[] {
  const found = new Set<string>();
  const add = (value: string | undefined) => {
    if (value !== undefined && value !== "") found.add(value);
  };
  for (const [name, value] of Object.entries(config.exporter.otel.headers)) {
    if (!SECRET_HEADER.test(name)) continue;
    add(value);
    // "Bearer <token>": the token alone leaks too.
    add(/^(?:bearer|basic|token)\s+(.+)$/i.exec(value)?.[1]);
  }
  add(urlPassword(config.exporter.otel.endpoint));
  for (const hash of Object.values(config.exporter.http.basicAuthUsers)) add(hash);
  for (const cluster of config.clusters) for (const value of clusterSecrets(cluster)) add(value);
  return [...found];
}

function clusterSecrets(cluster: ClusterConfig): string[] {
  return Object.entries(cluster.consumerProperties)
    .filter(([key]) => SECRET_PROPERTIES.has(key))
    .map(([, value]) => value);
}

type TomlValue = string | number | boolean | string[] | { duration: number } | { float: number };

function tomlValue(value: TomlValue): string {
  if (typeof value === "string") return tomlString(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(tomlString).join(", ")}]`;
  if ("duration" in value) return tomlString(formatDuration(value.duration));
  return Number.isInteger(value.float) ? value.float.toFixed(1) : String(value.float);
}

/** A TOML basic string; `$` before `{`/`$` is doubled so env substitution gives the value back. */
function tomlString(value: string): string {
  return JSON.stringify(escapeSubstitution(value)).replace(
    /[\u007f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
}

function urlPassword(endpoint: string): string | undefined {
  try {
    const url = new URL(endpoint);
    return url.password === "" ? undefined : decodeURIComponent(url.password);
  } catch {
    return undefined;
  }
}

function redactUrl(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    if (url.password === "") return endpoint;
    url.password = "redacted";
    return url.toString();
  } catch {
    return endpoint;
  }
}
