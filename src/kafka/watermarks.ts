/**
 * Partition watermarks: ListOffsets with ONE request per leader broker per round for all its
 * partitions. Rounds: earliest (−2) and latest (−1) with READ_UNCOMMITTED (the high watermark,
 * as kafka-consumer-groups shows it), plus latest with READ_COMMITTED (the last stable offset)
 * when asked. All (broker, round) requests run in parallel. A partition whose offsets are not
 * all known is reported in `failed` with a reason — never as 0.
 */
import type { FailureReason, TopicPartition, Watermarks } from "../core/types.ts";
import { partitionKey } from "../core/types.ts";
import { type EdgeContext, failureFromError, type MetadataState } from "./context.ts";
import type { Deadline } from "./deadline.ts";
import { errorName, isMetadataStale, reasonForCode } from "./errors.ts";
import {
  decodeListOffsetsResponse,
  EARLIEST_TIMESTAMP,
  encodeListOffsetsRequest,
  LATEST_TIMESTAMP,
  LIST_OFFSETS,
  READ_COMMITTED,
  READ_UNCOMMITTED,
} from "./protocol/offsets.ts";
import { pickVersion, sendRaw } from "./raw.ts";

export interface WatermarkFailure {
  topic: string;
  partition: number;
  reason: FailureReason;
  message: string;
}

export interface WatermarksResult {
  /** partitionKey(topic, partition) → watermarks; only partitions with both earliest and latest. */
  watermarks: Map<string, Watermarks>;
  failed: WatermarkFailure[];
}

type Round = "earliest" | "latest" | "lastStable";

const ROUNDS: Record<Round, { timestamp: bigint; isolationLevel: number }> = {
  earliest: { timestamp: EARLIEST_TIMESTAMP, isolationLevel: READ_UNCOMMITTED },
  latest: { timestamp: LATEST_TIMESTAMP, isolationLevel: READ_UNCOMMITTED },
  lastStable: { timestamp: LATEST_TIMESTAMP, isolationLevel: READ_COMMITTED },
};

export async function fetchWatermarksByLeader(
  ctx: EdgeContext,
  partitions: readonly TopicPartition[],
  opts: { lastStable: boolean },
  deadline: Deadline,
): Promise<WatermarksResult> {
  const wanted = dedupe(partitions);
  const failed: WatermarkFailure[] = [];
  const result: WatermarksResult = { watermarks: new Map(), failed };
  if (wanted.length === 0) return result;

  const startedMs = Date.now();
  let meta = await ctx.metadata(deadline);
  // A partition a cached (older) metadata does not know may be new: look once more before giving up.
  const cached = meta.kind === "ok" ? meta.value : undefined;
  if (cached !== undefined && cached.fetchedAtMs < startedMs && wanted.some((p) => leaderOf(cached, p) === undefined)) {
    meta = await ctx.metadata(deadline, { refresh: true });
  }
  if (meta.kind === "error") {
    for (const p of wanted) failed.push({ ...p, reason: meta.reason, message: meta.message });
    return result;
  }

  const byLeader = new Map<number, TopicPartition[]>();
  for (const p of wanted) {
    const leader = leaderOf(meta.value, p);
    if (leader === undefined) {
      failed.push({ ...p, reason: "unknown_topic", message: "topic or partition not in metadata" });
    } else if (leader < 0) {
      failed.push({ ...p, reason: "no_leader", message: "partition has no leader" });
    } else {
      const list = byLeader.get(leader) ?? [];
      list.push(p);
      byLeader.set(leader, list);
    }
  }

  const rounds: Round[] = opts.lastStable ? ["earliest", "latest", "lastStable"] : ["earliest", "latest"];
  const offsets: Record<Round, Map<string, number>> = { earliest: new Map(), latest: new Map(), lastStable: new Map() };
  const errors = new Map<string, { reason: FailureReason; message: string }>();

  await Promise.all(
    [...byLeader].map(async ([nodeId, tps]) => {
      const topics = groupByTopic(tps);
      try {
        const broker = await ctx.raw.broker(nodeId, deadline.remainingMs());
        const version = pickVersion(broker, LIST_OFFSETS.apiKey, LIST_OFFSETS.minVersion, LIST_OFFSETS.maxVersion);
        if (version === undefined) {
          for (const p of tps)
            errors.set(partitionKey(p.topic, p.partition), {
              reason: "broker_error",
              message: "broker lacks ListOffsets v2+",
            });
          return;
        }
        await Promise.all(
          rounds.map(async (round) => {
            try {
              const { timestamp, isolationLevel } = ROUNDS[round];
              const r = await sendRaw(broker, {
                apiKey: LIST_OFFSETS.apiKey,
                apiVersion: version,
                apiName: LIST_OFFSETS.apiName,
                body: encodeListOffsetsRequest(version, {
                  isolationLevel,
                  timestamp,
                  topics,
                  timeoutMs: deadline.remainingMs(),
                }),
                flexibleResponse: version >= 6,
                timeoutMs: deadline.remainingMs(),
              });
              let anyError = false;
              for (const o of decodeListOffsetsResponse(r, version)) {
                const key = partitionKey(o.topic, o.partition);
                if (o.errorCode !== 0) {
                  anyError = true;
                  if (isMetadataStale(o.errorCode)) ctx.markMetadataStale();
                  // The LSO is extra: its failure leaves the watermarks themselves usable.
                  if (round !== "lastStable" && !errors.has(key)) {
                    errors.set(key, {
                      reason: reasonForCode(o.errorCode, "watermark_missing"),
                      message: `ListOffsets ${errorName(o.errorCode)} from broker ${nodeId}`,
                    });
                  }
                  continue;
                }
                if (!(o.offset >= 0)) {
                  anyError = true;
                  if (round !== "lastStable" && !errors.has(key)) {
                    errors.set(key, {
                      reason: "watermark_missing",
                      message: `ListOffsets returned offset ${Number.isNaN(o.offset) ? "outside the safe-integer range" : o.offset}`,
                    });
                  }
                  continue;
                }
                offsets[round].set(key, o.offset);
              }
              if (anyError) ctx.stats.error(LIST_OFFSETS.apiName);
            } catch (error) {
              if (round === "lastStable") return;
              const f = failureFromError(error, "watermark_missing");
              if (f.kind === "error") for (const p of tps) errors.set(partitionKey(p.topic, p.partition), f);
            }
          }),
        );
      } catch (error) {
        // The leader is unreachable: it may have left; look at the metadata again next time.
        ctx.markMetadataStale();
        const f = failureFromError(error, "broker_error");
        if (f.kind === "error") for (const p of tps) errors.set(partitionKey(p.topic, p.partition), f);
      }
    }),
  );

  for (const tps of byLeader.values()) {
    for (const p of tps) {
      const key = partitionKey(p.topic, p.partition);
      const earliest = offsets.earliest.get(key);
      const latest = offsets.latest.get(key);
      if (earliest === undefined || latest === undefined) {
        const e = errors.get(key) ?? {
          reason: "watermark_missing" as const,
          message: "partition missing from ListOffsets response",
        };
        failed.push({ ...p, reason: e.reason, message: e.message });
        continue;
      }
      const w: Watermarks = { earliest, latest };
      const lastStable = offsets.lastStable.get(key);
      if (lastStable !== undefined) w.lastStable = lastStable;
      result.watermarks.set(key, w);
    }
  }
  return result;
}

/** Leader node id, -1 without a leader, undefined when the topic or partition is unknown. */
function leaderOf(meta: MetadataState, p: TopicPartition): number | undefined {
  return meta.metadata.topics.get(p.topic)?.find((x) => x.partition === p.partition)?.leader;
}

function dedupe(partitions: readonly TopicPartition[]): TopicPartition[] {
  const seen = new Set<string>();
  const out: TopicPartition[] = [];
  for (const p of partitions) {
    const key = partitionKey(p.topic, p.partition);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ topic: p.topic, partition: p.partition });
  }
  return out;
}

function groupByTopic(tps: readonly TopicPartition[]): { topic: string; partitions: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const p of tps) {
    const list = byTopic.get(p.topic) ?? [];
    list.push(p.partition);
    byTopic.set(p.topic, list);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}
