/**
 * Offset lag, data loss and retention math per (group, topic, partition), and group aggregates.
 * Pure: everything arrives in a CycleObservation; nothing here does I/O or reads the clock.
 */
import type { NameFilter } from "./filters.ts";
import {
  type CycleObservation,
  type FailureReason,
  type GroupState,
  groupPartitionKey,
  partitionKey,
  type TimeLagValue,
  type Watermarks,
} from "./types.ts";

/** Where a committed offset sits within the partition's retained range [earliest, latest). */
export type RetentionStatus =
  | { kind: "ok"; lag: number; marginMessages: number; lagRatioPercent: number | undefined }
  | {
      kind: "dataLoss";
      lag: number;
      lostMessages: number;
      marginMessages: number;
      lagRatioPercent: number | undefined;
    };

/**
 * Places a committed offset within the partition's offsets.
 *
 * | committed | earliest | latest | result                                            |
 * |-----------|----------|--------|---------------------------------------------------|
 * | 40        | 0        | 100    | ok, lag 60, margin 40, ratio 60 %                 |
 * | 100       | 0        | 100    | ok, lag 0, margin 100, ratio 0 %                  |
 * | 10        | 30       | 100    | dataLoss, lag 90, lost 20, margin −20, ratio 128.6 % |
 * | 5         | 5        | 5      | ok, lag 0, margin 0, ratio undefined (empty log)  |
 */
export function retentionStatus(committed: number, earliest: number, latest: number): RetentionStatus {
  // Offsets are read after watermarks, so a fast group can appear ahead: clamp at zero.
  const lag = Math.max(latest - committed, 0);
  const retained = latest - earliest;
  const lagRatioPercent = retained > 0 ? (lag / retained) * 100 : undefined;
  const marginMessages = committed - earliest;
  if (committed < earliest) {
    // Unlike the reference, lag stays the true distance to the latest offset: hiding it is how incidents hide.
    return { kind: "dataLoss", lag, lostMessages: earliest - committed, marginMessages, lagRatioPercent };
  }
  return { kind: "ok", lag, marginMessages, lagRatioPercent };
}

export interface MemberLabels {
  host: string;
  consumerId: string;
  clientId: string;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  committed: number;
  watermarks: Watermarks;
  lag: number;
  dataLoss: boolean;
  lostMessages: number;
  retentionMargin: number;
  lagRetentionRatio: number | undefined;
  /** Distance from the committed offset to the last stable offset (read_committed lag); undefined if not collected. */
  lagStable: number | undefined;
  member: MemberLabels;
  compacted: boolean;
  timeLag: TimeLagValue | undefined;
}

export interface GroupLag {
  groupId: string;
  /** Undefined when the description failed this cycle (state series absent, never a guess). */
  state: GroupState | undefined;
  /** False when the description failed: member labels are unknown, so partition series are withheld. */
  membersKnown: boolean;
  partitions: PartitionLag[];
  maxLag: number;
  sumLag: number;
  /** Over partitions with a time lag value; undefined when none has one. */
  maxLagSeconds: number | undefined;
  topicSumLag: Map<string, number>;
}

export interface CycleLag {
  groups: GroupLag[];
  /** Partitions of monitored topics with watermarks this cycle (for the partition offset gauges). */
  watermarks: Map<string, Watermarks>;
  skippedPartitions: Map<FailureReason, number>;
  failedGroups: Map<FailureReason, number>;
  dataLossPartitions: number;
  compactionDetectedPartitions: number;
}

const CAUGHT_UP: TimeLagValue = { seconds: 0, method: "message" };
const NO_MEMBER: MemberLabels = { host: "", consumerId: "", clientId: "" };

/**
 * Computes lag for every committed (group, topic, partition) whose topic passes `topicFilter`.
 * A partition without watermarks this cycle is skipped and counted, never reported as 0.
 * A group whose offset fetch failed is counted and emits nothing; a group whose every
 * partition is filtered out emits nothing.
 */
export function computeCycleLag(obs: CycleObservation, topicFilter: NameFilter): CycleLag {
  const steps = cycleLagSteps(obs, topicFilter);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * `computeCycleLag` as steps: yields after every group, so a caller can spread thousands of
 * groups over several turns of its event loop (see lib/slice.ts). Same result.
 */
export function* cycleLagSteps(obs: CycleObservation, topicFilter: NameFilter): Generator<void, CycleLag, void> {
  const skippedPartitions = new Map<FailureReason, number>();
  const failedGroups = new Map<FailureReason, number>();
  const groups: GroupLag[] = [];
  let dataLossPartitions = 0;
  let compactionDetectedPartitions = 0;

  for (const group of obs.groups) {
    if (group.offsets.kind === "error") {
      bump(failedGroups, group.offsets.reason);
      continue;
    }
    const description = group.description.kind === "ok" ? group.description.value : undefined;
    if (group.description.kind === "error") bump(failedGroups, group.description.reason);
    const members = new Map<string, MemberLabels>();
    for (const m of description?.members ?? []) {
      const labels = { host: m.host, consumerId: m.memberId, clientId: m.clientId };
      for (const tp of m.assignment) members.set(partitionKey(tp.topic, tp.partition), labels);
    }

    const partitions: PartitionLag[] = [];
    const topicSumLag = new Map<string, number>();
    let maxLag = 0;
    let sumLag = 0;
    let maxLagSeconds: number | undefined;
    for (const c of group.offsets.value) {
      if (!topicFilter(c.topic)) continue;
      const key = partitionKey(c.topic, c.partition);
      const wm = obs.watermarks.get(key);
      if (!wm) {
        bump(skippedPartitions, obs.watermarkFailures?.get(key) ?? "watermark_missing");
        continue;
      }
      const status = retentionStatus(c.offset, wm.earliest, wm.latest);
      const gkey = groupPartitionKey(group.groupId, c.topic, c.partition);
      const compacted = status.kind === "ok" && obs.compaction?.get(gkey) === true;
      // With time lag enabled, a caught-up partition is 0 s behind whatever the estimator says.
      const timeLag = obs.timeLag && status.lag === 0 ? CAUGHT_UP : obs.timeLag?.get(gkey);
      const lagStable = wm.lastStable === undefined ? undefined : Math.max(wm.lastStable - c.offset, 0);
      partitions.push({
        topic: c.topic,
        partition: c.partition,
        committed: c.offset,
        watermarks: wm,
        lag: status.lag,
        dataLoss: status.kind === "dataLoss",
        lostMessages: status.kind === "dataLoss" ? status.lostMessages : 0,
        retentionMargin: status.marginMessages,
        lagRetentionRatio: status.lagRatioPercent,
        lagStable,
        member: members.get(key) ?? NO_MEMBER,
        compacted,
        timeLag,
      });
      if (status.kind === "dataLoss") dataLossPartitions++;
      if (compacted) compactionDetectedPartitions++;
      maxLag = Math.max(maxLag, status.lag);
      sumLag += status.lag;
      topicSumLag.set(c.topic, (topicSumLag.get(c.topic) ?? 0) + status.lag);
      if (timeLag) maxLagSeconds = Math.max(maxLagSeconds ?? 0, timeLag.seconds);
    }
    yield;
    if (partitions.length === 0) continue;
    groups.push({
      groupId: group.groupId,
      state: description?.state,
      membersKnown: description !== undefined,
      partitions,
      maxLag,
      sumLag,
      maxLagSeconds,
      topicSumLag,
    });
  }

  const watermarks = new Map<string, Watermarks>();
  for (const [key, wm] of obs.watermarks) {
    const topic = key.slice(0, key.indexOf("\u0000"));
    if (topicFilter(topic)) watermarks.set(key, wm);
  }
  return { groups, watermarks, skippedPartitions, failedGroups, dataLossPartitions, compactionDetectedPartitions };
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
