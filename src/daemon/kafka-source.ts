/**
 * Builds a cluster's Kafka client (and time-lag stage) from its config: librdkafka-named
 * properties → kafkajs options → our client. A property that cannot be honoured (an unreadable
 * certificate file, say) turns every call into an error outcome that names it; nothing throws.
 */
import { readFileSync } from "node:fs";
import type { ClusterConfig, ExporterConfig } from "../config/types.ts";
import { createKafkaClusterClient } from "../kafka/client.ts";
import { toKafkaJsConnection } from "../kafka/connection-options.ts";
import type { Logger } from "../lib/log.ts";
import type { LagSource, TimeLagPort } from "./cluster-loop.ts";
import { createTimeLagStage } from "./time-lag-stage.ts";

export interface KafkaSource {
  lagSource: LagSource;
  timeLag: TimeLagPort | undefined;
}

export function createKafkaSource(opts: {
  cluster: ClusterConfig;
  exporter: ExporterConfig;
  logger: Logger;
}): KafkaSource {
  const { cluster, exporter, logger } = opts;
  const connection = toKafkaJsConnection(cluster, (path) => readFileSync(path, "utf8"));
  if (connection.kind === "error") {
    logger.error("cluster connection settings unusable", { cluster: cluster.name, error: connection.message });
    return { lagSource: failingSource(connection.message), timeLag: undefined };
  }
  const client = createKafkaClusterClient({
    name: cluster.name,
    connection: connection.options,
    timeoutMs: exporter.performance.kafkaTimeoutMs,
    metadataTtlMs: exporter.performance.metadataCacheTtlMs,
    logger: (level, msg, fields) => logger[level](msg, { cluster: cluster.name, ...fields }),
  });
  const lagSource: LagSource = {
    metadata: (o) => client.metadata(o),
    listGroups: () => client.listGroups(),
    describeGroups: (groups) => client.describeGroups(groups),
    fetchCommittedOffsets: (ids) => client.fetchCommittedOffsets(ids),
    fetchWatermarks: (partitions, o) => client.fetchWatermarks(partitions, o),
    requestStats: () => client.requestStats(),
    close: () => client.close(),
  };
  const sampling = exporter.timestampSampling;
  const timeLag = sampling.enabled ? createTimeLagStage({ config: sampling, client, logger }) : undefined;
  return { lagSource, timeLag };
}

function failingSource(message: string): LagSource {
  const error = { kind: "error", reason: "error", message } as const;
  return {
    metadata: async () => error,
    listGroups: async () => ({ groups: error, failedBrokers: 0 }),
    describeGroups: async () => new Map(),
    fetchCommittedOffsets: async () => new Map(),
    fetchWatermarks: async () => ({ watermarks: new Map(), failed: [] }),
    requestStats: () => [],
    close: async () => {},
  };
}
