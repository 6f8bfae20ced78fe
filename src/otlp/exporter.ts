/**
 * The OTLP/gRPC push exporter as the bridge uses it: the OpenTelemetry gRPC export stack
 * (OTLPMetricExporterBase over the otlp-grpc-exporter-base delegate: channel, credentials,
 * metadata, compression, deadline, response handling) with our protobuf encoder in place of the
 * generic one (see encode.ts). Counts and logs outcomes (one line per distinct error until
 * exports succeed again), rebuilds the channel after connection failures, and never queues: a
 * request that cannot go out now is failed, not kept.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { type ChannelCredentials, credentials, status as grpcStatus, Metadata } from "@grpc/grpc-js";
import { OTLPMetricExporterBase } from "@opentelemetry/exporter-metrics-otlp-http";
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate } from "@opentelemetry/otlp-grpc-exporter-base";
import { MetricsExporterMetricsHelper, ProtobufMetricsSerializer } from "@opentelemetry/otlp-transformer";
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { OtelConfig } from "../config/types.ts";
import type { Logger } from "../lib/log.ts";
import { encodeExportRequest, Writer } from "./encode.ts";

type ExporterOptions = Parameters<typeof convertLegacyOtlpGrpcOptions>[0];
type ExportCallback = Parameters<PushMetricExporter["export"]>[1];
type ExportResult = Parameters<ExportCallback>[0];

/** `ExportResultCode` of @opentelemetry/core (not imported: several copies of core are installed). */
const SUCCESS = 0;
const FAILED = 1;

/** Error kinds remembered for log suppression; beyond this, new kinds are only counted. */
const MAX_LOGGED_KINDS = 16;
/** A kind of error already logged is logged again only after this long (a flapping collector costs no log flood). */
export const DEFAULT_LOG_REPEAT_MS = 10 * 60_000;

export interface ExportStats {
  /** OTLP requests the collector accepted. */
  ok: number;
  /** OTLP requests that failed, timed out, or were not sent because the collection had already failed. */
  failed: number;
  /** Epoch ms of the last accepted request. */
  lastSuccessMs?: number;
  /** The last failure, as logged (no secrets: headers are never part of it). */
  lastError?: string;
}

export type TransportSetup =
  | { kind: "ok"; credentials: ChannelCredentials; metadata: Metadata; tls: boolean }
  | { kind: "error"; message: string };

/**
 * Channel credentials and metadata for the config. TLS when the endpoint is https:// or a
 * ca/cert/key file is given, unless `insecure`; the files are read now (so a rebuilt channel
 * picks up rotated certificates).
 */
export function transportSetup(config: OtelConfig): TransportSetup {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(config.headers)) {
    const key = name.toLowerCase();
    metadata.set(key, key.endsWith("-bin") ? Buffer.from(value) : value);
  }
  const hasFiles = config.caFile !== undefined || config.certFile !== undefined || config.keyFile !== undefined;
  const tls = !config.insecure && (/^https:\/\//i.test(config.endpoint) || hasFiles);
  if (!tls) return { kind: "ok", credentials: credentials.createInsecure(), metadata, tls };
  const read = (what: string, path: string | undefined): Buffer | null | string => {
    if (path === undefined) return null;
    try {
      return readFileSync(path);
    } catch (e) {
      return `cannot read ${what} ${path}: ${(e as Error).message}`;
    }
  };
  const ca = read("ca_file", config.caFile);
  const cert = read("cert_file", config.certFile);
  const key = read("key_file", config.keyFile);
  for (const v of [ca, cert, key]) if (typeof v === "string") return { kind: "error", message: v };
  try {
    const creds = credentials.createSsl(ca as Buffer | null, key as Buffer | null, cert as Buffer | null);
    return { kind: "ok", credentials: withoutIpServername(creds), metadata, tls };
  } catch (e) {
    return { kind: "error", message: `invalid TLS material for the OTLP endpoint: ${(e as Error).message}` };
  }
}

type ConnectorFactory = (...args: unknown[]) => { connectionOptions?: { servername?: unknown } };

/**
 * grpc-js passes the endpoint host as the TLS `servername` even when it is an IP address. RFC 6066
 * forbids that; Node only warns, Bun refuses to connect. This drops an IP servername (no SNI, as
 * Node's own tls does for IPs); the certificate is still checked against the IP (`host`).
 * grpc-js internals: if their shape changes, this does nothing (and the TLS tests say so).
 */
function withoutIpServername(creds: ChannelCredentials): ChannelCredentials {
  const target = creds as unknown as { _createSecureConnector?: ConnectorFactory };
  const original = target._createSecureConnector;
  if (typeof original !== "function") return creds;
  target._createSecureConnector = function (this: unknown, ...args: unknown[]) {
    const connector = original.apply(this, args);
    const options = connector?.connectionOptions;
    if (options && typeof options.servername === "string" && isIP(options.servername) !== 0) delete options.servername;
    return connector;
  };
  return creds;
}

export interface GuardedExporterOptions {
  config: OtelConfig;
  logger: Logger;
  /** gRPC deadline of one request. */
  timeoutMs: number;
  /** Least time between two channel rebuilds while the collector is unreachable. */
  minRebuildMs: number;
  /** A kind of error (gRPC status) is logged at most once per this interval; default 10 min. */
  logRepeatMs?: number;
  nowMs?: () => number;
}

export interface GuardedExporter extends PushMetricExporter {
  stats(): ExportStats;
}

/** gRPC codes after which the channel is rebuilt at the next export (its reconnect backoff can reach 2 min). */
const REBUILD_CODES = new Set<number>([grpcStatus.UNAVAILABLE, grpcStatus.DEADLINE_EXCEEDED]);

export function createGuardedExporter(opts: GuardedExporterOptions): GuardedExporter {
  const { config, logger } = opts;
  const nowMs = opts.nowMs ?? Date.now;
  const stats: ExportStats = { ok: 0, failed: 0 };
  let inner: OTLPMetricExporterBase | undefined;
  let builtMs = Number.NEGATIVE_INFINITY;
  let rebuild = false;
  let shutDown = false;
  /** Collection (end time) whose earlier request failed to connect: its remaining requests are not sent. */
  let abandoned: string | undefined;
  const logRepeatMs = opts.logRepeatMs ?? DEFAULT_LOG_REPEAT_MS;
  /** Error kind → when it was last logged. */
  const logged = new Map<string, number>();
  /** Whether a failure line was written since the last success (then recovery is logged too). */
  let outageLogged = false;
  let outageStartMs: number | undefined;
  let outageFailures = 0;

  // One encode buffer for every request (it grows to the largest request and stays).
  const writer = new Writer();
  const serializer = {
    serializeRequest: (metrics: ResourceMetrics) => encodeExportRequest(metrics, writer),
    deserializeResponse: (data: Uint8Array) => ProtobufMetricsSerializer.deserializeResponse(data),
  };

  function build(): OTLPMetricExporterBase | string {
    const setup = transportSetup(config);
    if (setup.kind === "error") return setup.message;
    const options: ExporterOptions = {
      url: config.endpoint,
      credentials: setup.credentials,
      metadata: setup.metadata,
      compression: config.compression as ExporterOptions["compression"],
      timeoutMillis: opts.timeoutMs,
      // One request in flight is all the reader ever makes; anything beyond is failed, not queued.
      concurrencyLimit: 2,
    };
    // What OTLPMetricExporter (exporter-metrics-otlp-grpc) builds, with our serializer.
    const delegate = createOtlpGrpcExportDelegate(
      convertLegacyOtlpGrpcOptions(options, "METRICS"),
      serializer,
      "otlp_grpc_metric_exporter",
      MetricsExporterMetricsHelper,
      undefined,
      "MetricsExportService",
      "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    );
    const exporter = new OTLPMetricExporterBase(delegate, { temporalityPreference: AggregationTemporality.CUMULATIVE });
    builtMs = nowMs();
    return exporter;
  }

  function current(): OTLPMetricExporterBase | string {
    if (inner && rebuild && nowMs() - builtMs >= opts.minRebuildMs) {
      const old = inner;
      inner = undefined;
      // Closes the old channel once its in-flight request (bounded by the deadline) ends.
      old.shutdown().catch(() => {});
    }
    if (!inner) {
      const built = build();
      if (typeof built === "string") return built;
      inner = built;
      rebuild = false;
    }
    return inner;
  }

  function collectionOf(metrics: ResourceMetrics): string | undefined {
    const point = metrics.scopeMetrics[0]?.metrics[0]?.dataPoints[0];
    return point ? `${point.endTime[0]}.${point.endTime[1]}` : undefined;
  }

  function onFailure(kind: string, message: string): void {
    stats.failed++;
    stats.lastError = message;
    outageFailures++;
    const now = nowMs();
    outageStartMs ??= now;
    for (const [k, at] of logged) if (now - at >= logRepeatMs) logged.delete(k);
    if (logged.has(kind) || logged.size >= MAX_LOGGED_KINDS) return;
    logged.set(kind, now);
    outageLogged = true;
    logger.warn(
      "OTLP export failed; exports keep being attempted every interval, this error is not logged again for a while",
      {
        endpoint: config.endpoint,
        error: message,
        code: kind,
        failed_exports: stats.failed,
      },
    );
  }

  function onSuccess(): void {
    stats.ok++;
    stats.lastSuccessMs = nowMs();
    if (outageLogged && outageStartMs !== undefined) {
      logger.info("OTLP export recovered", {
        endpoint: config.endpoint,
        failed_requests: outageFailures,
        outage_s: Math.round((nowMs() - outageStartMs) / 1000),
      });
    }
    outageLogged = false;
    outageStartMs = undefined;
    outageFailures = 0;
  }

  return {
    export(metrics, resultCallback) {
      const done = (result: ExportResult) => {
        try {
          resultCallback(result);
        } catch {
          // The reader's callback never throws; nothing of ours may escape into the SDK either.
        }
      };
      if (shutDown) {
        done({ code: FAILED, error: new Error("OTLP exporter is shut down") });
        return;
      }
      const collection = collectionOf(metrics);
      if (collection !== undefined && collection === abandoned) {
        stats.failed++;
        done({
          code: FAILED,
          error: new Error("skipped: an earlier request of this collection could not be delivered"),
        });
        return;
      }
      const exporter = current();
      if (typeof exporter === "string") {
        onFailure("config", exporter);
        abandoned = collection;
        done({ code: FAILED, error: new Error(exporter) });
        return;
      }
      try {
        exporter.export(metrics, (result) => {
          if (result.code === SUCCESS) onSuccess();
          else {
            const err = result.error;
            const code = grpcCode(err);
            const kind = code !== undefined ? (grpcStatus[code] ?? `grpc ${code}`) : (err?.name ?? "Error");
            onFailure(kind, err?.message ?? "export failed");
            if (code === undefined || REBUILD_CODES.has(code)) {
              rebuild = true;
              abandoned = collection;
            }
          }
          done(result);
        });
      } catch (e) {
        onFailure("exception", (e as Error).message);
        rebuild = true;
        done({ code: FAILED, error: e as Error });
      }
    },
    async forceFlush() {
      await inner?.forceFlush().catch(() => {});
    },
    async shutdown() {
      shutDown = true;
      const old = inner;
      inner = undefined;
      await old?.shutdown().catch(() => {});
    },
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
    stats: () => ({ ...stats }),
  };
}

function grpcCode(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "number") return err.code;
  return undefined;
}
