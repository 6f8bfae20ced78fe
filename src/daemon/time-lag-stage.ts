/**
 * The per-cycle time-lag stage of one cluster: records rate samples, reads the records at committed
 * offsets in one bounded Fetch round (deduplicated across groups, cached), and decides time lag and
 * compaction evidence per (group, topic, partition). Never throws.
 */

import type { TimestampSamplingConfig } from "../config/types.ts";
import { compactionDetected } from "../core/compaction.ts";
import { createRateHistory, type RateTimeLag } from "../core/rate.ts";
import { decideTimeLag, type FetchedRecord, needsRecordFetch, type TimeLagGap } from "../core/time-lag.ts";
import {
  type ClusterMetadata,
  groupPartitionKey,
  partitionKey,
  type TimeLagValue,
  type Watermarks,
} from "../core/types.ts";
import { type FetchBrokers, type FetchTarget, fetchRecordsAt, fetchTargetKey } from "../kafka/fetch-batches.ts";
import { createTimestampCache } from "../kafka/timestamp-cache.ts";
import type { Logger } from "../lib/log.ts";

export interface TimeLagStageOptions {
  config: TimestampSamplingConfig;
  /** Connected brokers by node id (a `RawCluster` from src/kafka/raw.ts, or the client's equivalent). */
  client: FetchBrokers;
  logger: Logger;
  /** Byte budget of the Fetch round (defaults in src/kafka/fetch-batches.ts FETCH_DEFAULTS). */
  fetch?: { partitionMaxBytes?: number; followUpMaxBytes?: number; requestMaxBytes?: number };
  /** Entries of the (topic, partition, offset) cache; default 100 000 (~150 bytes each). */
  cacheMaxEntries?: number;
  /** Wall clock for durations only (time lag uses the cycle's `nowMs`). */
  clock?: () => number;
}

export interface CommittedInput {
  group: string;
  topic: string;
  partition: number;
  offset: number;
}

export interface TimeLagStageInput {
  nowMs: number;
  metadata: ClusterMetadata;
  /** partitionKey → watermarks of this cycle; missing = unknown. */
  watermarks: Map<string, Watermarks>;
  committed: readonly CommittedInput[];
}

export interface TimeLagStageStats {
  /** Fetch requests sent this cycle. */
  fetchRequests: number;
  /** Fetch response bytes received this cycle. */
  bytesFetched: number;
  /** Wall time of the stage. */
  durationMs: number;
  /** Distinct (topic, partition, offset) reads needed, answered from the cache, and sent. */
  readsNeeded: number;
  cacheHits: number;
  followUps: number;
  /** Reads answered out of range (data loss seen by Fetch) and failed reads. */
  outOfRange: number;
  fetchErrors: number;
}

export interface TimeLagStageResult {
  /** groupPartitionKey → time lag; absent = no value this cycle (never a made-up 0). */
  timeLag: Map<string, TimeLagValue>;
  /** groupPartitionKey → compaction evidence (true only when the committed record is gone). */
  compaction: Map<string, boolean>;
  /** Partitions per method that produced a value (`kafka_lag_exporter_time_lag_method`). */
  methodCounts: Record<"message" | "rate", number>;
  /** Partitions without a value, by reason. */
  gaps: Partial<Record<TimeLagGap, number>>;
  stats: TimeLagStageStats;
}

export interface TimeLagStage {
  run(input: TimeLagStageInput): Promise<TimeLagStageResult>;
}

export function createTimeLagStage(opts: TimeLagStageOptions): TimeLagStage {
  const { config, client, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const history = createRateHistory({ capacity: config.rateHistorySamples, maxAgeMs: config.rateHistoryMaxAgeMs });
  const cache = createTimestampCache({ ttlMs: config.cacheTtlMs, maxEntries: opts.cacheMaxEntries ?? 100_000 });

  async function run(input: TimeLagStageInput): Promise<TimeLagStageResult> {
    const started = clock();
    const result = emptyResult();
    if (!config.enabled) return result;
    const { nowMs, watermarks } = input;
    const mode = config.mode;

    // Every watermark is a rate sample, whatever the mode: hybrid needs the history the moment a read
    // fails, and a mode switch on reload should not start from nothing.
    for (const [key, wm] of watermarks) history.recordSample(key, nowMs, wm.latest);
    history.prune(nowMs);
    cache.prune(nowMs);

    // Reads to make: one per distinct (topic, partition, offset), whichever groups share it.
    const reads = new Map<string, FetchedRecord>();
    const targets: FetchTarget[] = [];
    const leaders = leaderIndex(input.metadata);
    for (const c of input.committed) {
      const wm = watermarks.get(partitionKey(c.topic, c.partition));
      if (!needsRecordFetch(mode, c.offset, wm, config.skipDataLossPartitions) || wm === undefined) continue;
      const key = fetchTargetKey(c.topic, c.partition, c.offset);
      if (reads.has(key)) continue;
      result.stats.readsNeeded++;
      const cached = cache.get(c.topic, c.partition, c.offset, nowMs, wm.latest);
      if (cached !== undefined) {
        reads.set(key, cached);
        result.stats.cacheHits++;
        continue;
      }
      reads.set(key, { kind: "error", reason: "not read" });
      targets.push({
        topic: c.topic,
        partition: c.partition,
        offset: c.offset,
        leader: leaders.get(partitionKey(c.topic, c.partition)) ?? -1,
      });
    }

    if (targets.length > 0) {
      try {
        const round = await fetchRecordsAt(targets, {
          brokers: client,
          timeoutMs: config.fetchTimeoutMs,
          maxConcurrentBrokers: config.maxConcurrentFetches,
          ...opts.fetch,
        });
        result.stats.fetchRequests = round.stats.requests;
        result.stats.bytesFetched = round.stats.bytesFetched;
        result.stats.followUps = round.stats.followUps;
        for (const t of targets) {
          const key = fetchTargetKey(t.topic, t.partition, t.offset);
          const read = round.results.get(key) ?? { kind: "error", reason: "not read" };
          reads.set(key, read);
          const wm = watermarks.get(partitionKey(t.topic, t.partition));
          if (wm !== undefined) cache.set(t.topic, t.partition, t.offset, read, nowMs, wm.latest);
          if (read.kind === "outOfRange") result.stats.outOfRange++;
          if (read.kind === "error") {
            result.stats.fetchErrors++;
            // Once per broker and kind of failure (numbers stripped: offsets must not make the key unbounded).
            logger.once(
              `timelag:fetch:${t.leader}:${read.reason.replace(/\d+/g, "#")}`,
              "warn",
              "time-lag read failed",
              {
                broker: t.leader,
                reason: read.reason,
                topic: t.topic,
                partition: t.partition,
              },
            );
          }
        }
      } catch (error) {
        // fetchRecordsAt does not throw; this guards the stage's own promise against a bug.
        logger.once("timelag:round", "error", "time-lag fetch round failed", { error: String(error) });
      }
    }

    for (const c of input.committed) {
      const pkey = partitionKey(c.topic, c.partition);
      const wm = watermarks.get(pkey);
      const gkey = groupPartitionKey(c.group, c.topic, c.partition);
      const fetched = reads.get(fetchTargetKey(c.topic, c.partition, c.offset));
      const lag = wm === undefined ? 0 : Math.max(0, wm.latest - c.offset);
      const rate: RateTimeLag | undefined =
        mode === "message" || wm === undefined
          ? undefined
          : history.estimateTimeLag(pkey, lag, nowMs, config.rateMinMsgsPerSec);
      const decision = decideTimeLag({ mode, nowMs, committed: c.offset, watermarks: wm, fetched, rate });
      if (decision.kind === "value") {
        result.timeLag.set(gkey, { seconds: decision.seconds, method: decision.method });
        result.methodCounts[decision.method]++;
      } else {
        result.gaps[decision.reason] = (result.gaps[decision.reason] ?? 0) + 1;
      }
      if (wm !== undefined) result.compaction.set(gkey, compactionDetected(c.offset, wm, fetched));
    }
    result.stats.durationMs = clock() - started;
    return result;
  }

  return {
    async run(input) {
      try {
        return await run(input);
      } catch (error) {
        logger.once("timelag:stage", "error", "time-lag stage failed", { error: String(error) });
        return emptyResult();
      }
    },
  };
}

function leaderIndex(metadata: ClusterMetadata): Map<string, number> {
  const out = new Map<string, number>();
  for (const [topic, partitions] of metadata.topics) {
    for (const p of partitions) out.set(partitionKey(topic, p.partition), p.leader);
  }
  return out;
}

/** A result with no values: the stage is off, or it failed this cycle (values absent, never 0). */
function emptyResult(): TimeLagStageResult {
  return {
    timeLag: new Map(),
    compaction: new Map(),
    methodCounts: { message: 0, rate: 0 },
    gaps: {},
    stats: {
      fetchRequests: 0,
      bytesFetched: 0,
      durationMs: 0,
      readsNeeded: 0,
      cacheHits: 0,
      followUps: 0,
      outOfRange: 0,
      fetchErrors: 0,
    },
  };
}
