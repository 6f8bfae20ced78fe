/**
 * The OTLP bridge: pushes the series of the currently published gauge stores to an OTLP/gRPC
 * collector every `export_interval`, through the OpenTelemetry metrics SDK (MeterProvider,
 * PeriodicExportingMetricReader with a store-backed MetricProducer) and the OTLP/gRPC exporter
 * stack. See docs/otlp.md.
 */
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { OtelConfig } from "../config/types.ts";
import type { Logger } from "../lib/log.ts";
import type { GaugeStore } from "../metrics/store.ts";
import { createGuardedExporter, type ExportStats, type GuardedExporter, transportSetup } from "./exporter.ts";
import { createStoreProducer } from "./producer.ts";

export type { ExportStats } from "./exporter.ts";

export const SERVICE_NAME = "klag-exporter";

/** SDK cardinality limit when no series budget is configured. */
export const UNLIMITED_CARDINALITY = 1_000_000;

/**
 * Data points per OTLP request. A group-lag point with typical names is ~300 bytes encoded, so
 * a request stays near 0.6 MB (2 MB with 1 kB of labels per point), well under the 4 MiB that
 * grpc servers and the OpenTelemetry Collector accept by default.
 */
export const DEFAULT_POINTS_PER_REQUEST = 2_000;

export interface OtlpBridgeOptions {
  config: OtelConfig;
  /** The exporter's version: `service.version` and the instrumentation scope version. */
  version: string;
  logger: Logger;
  /** The stores published right now (stale clusters withdrawn), read at every export. */
  sources: () => Iterable<GaugeStore>;
  /** The series budget (`max_series`); the SDK's cardinality limits are raised to it. 0/absent = unlimited. */
  maxSeries?: number;
  /** Data points per OTLP request; a larger snapshot is sent as several requests. */
  maxPointsPerRequest?: number;
  /** A kind of export error is logged at most once per this interval (default 10 min). */
  logRepeatMs?: number;
  nowMs?: () => number;
}

export type OtlpStartResult = { kind: "started" } | { kind: "disabled" } | { kind: "error"; message: string };

export interface OtlpBridge {
  /** Starts periodic export. Never throws; unreadable TLS files are an `error` result and nothing starts. */
  start(): OtlpStartResult;
  /** Exports the current stores now (waits for an export in progress first). Never rejects. */
  flush(): Promise<void>;
  /** Stops the timer, makes a last export (bounded by the timeout) and closes the channel. Never rejects. */
  shutdown(): Promise<void>;
  /** OTLP requests accepted and failed since start. */
  stats(): ExportStats;
}

export function createOtlpBridge(opts: OtlpBridgeOptions): OtlpBridge {
  const { config } = opts;
  const logger = opts.logger.child({ component: "otlp" });
  const nowMs = opts.nowMs ?? Date.now;
  const exportTimeoutMs = Math.max(1, Math.min(config.timeoutMs, config.exportIntervalMs));
  // The reader's own timeout is a backstop behind the gRPC deadline, never above the interval.
  const readerTimeoutMs = Math.min(exportTimeoutMs + 1_000, config.exportIntervalMs);
  let provider: MeterProvider | undefined;
  let exporter: GuardedExporter | undefined;
  let stopped = false;

  return {
    start() {
      if (!config.enabled) return { kind: "disabled" };
      if (provider || stopped) return { kind: "started" };
      const setup = transportSetup(config);
      if (setup.kind === "error") {
        logger.error("OTLP export not started", { error: setup.message });
        return { kind: "error", message: setup.message };
      }
      if (config.insecure && (config.caFile || config.certFile || config.keyFile)) {
        logger.warn("exporter.otel.insecure is set: ca_file, cert_file and key_file are ignored");
      }
      exporter = createGuardedExporter({
        config,
        logger,
        timeoutMs: exportTimeoutMs,
        minRebuildMs: Math.max(1_000, config.exportIntervalMs / 2),
        nowMs,
        ...(opts.logRepeatMs !== undefined ? { logRepeatMs: opts.logRepeatMs } : {}),
      });
      const producer = createStoreProducer({
        sources: opts.sources,
        scope: { name: SERVICE_NAME, version: opts.version },
        nowMs,
        onError: (error) =>
          logger.once("otlp:collect", "error", "reading the gauge stores for OTLP failed", { error: String(error) }),
      });
      const limit = opts.maxSeries && opts.maxSeries > 0 ? opts.maxSeries : UNLIMITED_CARDINALITY;
      const reader = new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: config.exportIntervalMs,
        exportTimeoutMillis: readerTimeoutMs,
        metricProducers: [producer],
        cardinalityLimits: { default: limit },
        maxExportBatchSize: opts.maxPointsPerRequest ?? DEFAULT_POINTS_PER_REQUEST,
      });
      // OTEL_RESOURCE_ATTRIBUTES may add attributes; service.name and service.version are ours.
      const resource = defaultResource()
        .merge(detectResources({ detectors: [envDetector] }))
        .merge(resourceFromAttributes({ "service.name": SERVICE_NAME, "service.version": opts.version }));
      provider = new MeterProvider({ resource, readers: [reader] });
      logger.info("OTLP export started", {
        endpoint: config.endpoint,
        export_interval_ms: config.exportIntervalMs,
        timeout_ms: exportTimeoutMs,
        tls: setup.tls,
        compression: config.compression,
        headers: Object.keys(config.headers),
      });
      return { kind: "started" };
    },
    async flush() {
      await provider?.forceFlush({ timeoutMillis: readerTimeoutMs }).catch(() => {});
    },
    async shutdown() {
      stopped = true;
      const p = provider;
      provider = undefined;
      if (!p) return;
      await p.shutdown({ timeoutMillis: readerTimeoutMs + 1_000 }).catch((e: unknown) => {
        logger.warn("OTLP shutdown did not complete in time", { error: String(e) });
      });
      await exporter?.shutdown().catch(() => {});
    },
    stats: () => exporter?.stats() ?? { ok: 0, failed: 0 },
  };
}
