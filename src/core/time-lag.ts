/**
 * Time-lag decision per (group, topic, partition) for the three modes: rate, message and hybrid.
 * Pure: the caller brings the committed offset, watermarks, the fetched record and the rate estimate.
 */
import type { RateTimeLag } from "./rate.ts";
import type { Watermarks } from "./types.ts";

export type TimeLagModeName = "rate" | "message" | "hybrid";

/**
 * What reading the log at the committed offset found (see src/kafka/fetch-batches.ts):
 * - `record`: the first consumable (non-control) record at or after the offset. `precision: "batch"`
 *   means only the batch header was readable and `timestampMs` is the batch's first timestamp.
 *   `firstPresentOffset` is the first offset ≥ the requested one present in the log (control records
 *   included); undefined when not decodable. It is the compaction evidence.
 * - `noRecord`: nothing consumable at or after the offset yet.
 * - `outOfRange`: the offset is outside the log (retention or DeleteRecords removed it): data loss.
 * - `error`: the partition could not be read this cycle.
 */
export type FetchedRecord =
  | {
      kind: "record";
      offset: number;
      timestampMs: number;
      timestampType: "CreateTime" | "LogAppendTime";
      precision: "exact" | "batch";
      firstPresentOffset: number | undefined;
    }
  | { kind: "noRecord"; firstPresentOffset: number | undefined }
  | { kind: "outOfRange" }
  | { kind: "error"; reason: string };

export type TimeLagMethod = "message" | "rate";

/** Why a partition has no time-lag value this cycle (each is "absent", never 0). */
export const TIME_LAG_GAPS = [
  "watermarkMissing",
  "dataLoss",
  "notFetched",
  "fetchFailed",
  "outOfRange",
  "noRecord",
  "noTimestamp",
  "insufficientHistory",
  "belowMinRate",
] as const;
export type TimeLagGap = (typeof TIME_LAG_GAPS)[number];

export type TimeLagDecision =
  | { kind: "value"; seconds: number; method: TimeLagMethod }
  | { kind: "none"; reason: TimeLagGap };

export interface TimeLagInput {
  mode: TimeLagModeName;
  nowMs: number;
  committed: number;
  /** Undefined when the watermarks of the partition are unknown this cycle. */
  watermarks: Watermarks | undefined;
  /** The record read at the committed offset; undefined when no read was made or finished. */
  fetched: FetchedRecord | undefined;
  /** The rate estimate for `latest − committed` messages; undefined when not computed. */
  rate: RateTimeLag | undefined;
}

/**
 * Whether the committed offset needs a log read this cycle: never in rate mode, never when there is
 * nothing to consume (committed ≥ latest), and not for data-loss partitions when told to skip them.
 */
export function needsRecordFetch(
  mode: TimeLagModeName,
  committed: number,
  watermarks: Watermarks | undefined,
  skipDataLossPartitions: boolean,
): boolean {
  if (mode === "rate" || watermarks === undefined) return false;
  if (committed >= watermarks.latest) return false;
  if (committed < watermarks.earliest && skipDataLossPartitions) return false;
  return true;
}

/**
 * Decides one partition's time lag.
 *
 * | situation                          | rate          | message                  | hybrid                  |
 * |------------------------------------|---------------|--------------------------|-------------------------|
 * | watermarks unknown                 | none          | none                     | none                    |
 * | committed ≥ latest (lag 0)         | 0 (rate)      | 0 (message)              | 0 (message)             |
 * | record with timestamp ts ≥ 0       | lag / rate    | max(0, now − ts) / 1000  | max(0, now − ts) / 1000 |
 * | timestamp −1, noRecord, outOfRange,| lag / rate    | none                     | lag / rate              |
 * |   fetch error, data loss skipped   |               |                          |                         |
 *
 * Example: now = 1_000_000_600_000, committed record written at 1_000_000_000_000 → 600 s (message);
 * the same partition with an unreadable leader in hybrid, lag 1200 at 4 msg/s → 300 s (rate).
 */
export function decideTimeLag(input: TimeLagInput): TimeLagDecision {
  const { mode, watermarks, committed } = input;
  if (watermarks === undefined) return { kind: "none", reason: "watermarkMissing" };
  const lag = Math.max(0, watermarks.latest - committed);
  if (lag === 0) return { kind: "value", seconds: 0, method: mode === "rate" ? "rate" : "message" };
  if (mode === "rate") return fromRate(input.rate);
  const message = fromMessage(input);
  if (message.kind === "value" || mode === "message") return message;
  return fromRate(input.rate);
}

function fromMessage(input: TimeLagInput): TimeLagDecision {
  const { fetched, watermarks, committed } = input;
  if (fetched === undefined) {
    const dataLoss = watermarks !== undefined && committed < watermarks.earliest;
    return { kind: "none", reason: dataLoss ? "dataLoss" : "notFetched" };
  }
  switch (fetched.kind) {
    case "record":
      // Kafka's "no timestamp" is -1; any negative value is not a time.
      if (fetched.timestampMs < 0) return { kind: "none", reason: "noTimestamp" };
      // A producer clock ahead of ours would give a negative lag; the record is at most "now".
      return { kind: "value", seconds: Math.max(0, input.nowMs - fetched.timestampMs) / 1000, method: "message" };
    case "noRecord":
      return { kind: "none", reason: "noRecord" };
    case "outOfRange":
      return { kind: "none", reason: "outOfRange" };
    case "error":
      return { kind: "none", reason: "fetchFailed" };
  }
}

function fromRate(rate: RateTimeLag | undefined): TimeLagDecision {
  if (rate === undefined) return { kind: "none", reason: "insufficientHistory" };
  if (rate.kind === "none") return { kind: "none", reason: rate.reason };
  return { kind: "value", seconds: rate.seconds, method: "rate" };
}
