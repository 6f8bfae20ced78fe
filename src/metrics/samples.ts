/**
 * Writes one cycle's lag results into a cluster's gauge store: the one place that decides
 * which series exist (granularity, unknown values → no series). No I/O, no clock.
 */

import type { Granularity } from "../config/types.ts";
import type { CycleLag, GroupLag, PartitionLag } from "../core/lag.ts";
import { GROUP_STATES } from "../core/types.ts";
import { M } from "./catalog.ts";
import type { GaugeStore } from "./store.ts";

export interface LagSampleOptions {
  clusterName: string;
  granularity: Granularity;
}

/** Writes partition watermarks, per-partition lag series and group aggregates. */
export function writeLagSamples(store: GaugeStore, lag: CycleLag, opts: LagSampleOptions): void {
  const steps = lagSampleSteps(store, lag, opts);
  while (!steps.next().done);
}

/** `writeLagSamples` as steps: yields every 256 partitions and after every group (lib/slice.ts). */
export function* lagSampleSteps(store: GaugeStore, lag: CycleLag, opts: LagSampleOptions): Generator<void, void, void> {
  const c = opts.clusterName;
  let n = 0;
  for (const [key, wm] of lag.watermarks) {
    const sep = key.indexOf("\u0000");
    const topic = key.slice(0, sep);
    const partition = key.slice(sep + 1);
    store.set(M.partitionLatestOffset, [c, topic, partition], wm.latest);
    store.set(M.partitionEarliestOffset, [c, topic, partition], wm.earliest);
    if ((++n & 255) === 0) yield;
  }
  for (const g of lag.groups) {
    writeGroup(store, c, g);
    if (opts.granularity === "partition" && g.membersKnown) {
      for (const p of g.partitions) writePartition(store, c, g.groupId, p);
    }
    yield;
  }
  store.set(M.dataLossPartitions, [c], lag.dataLossPartitions);
  store.set(M.compactionDetected, [c], lag.compactionDetectedPartitions);
}

function writeGroup(store: GaugeStore, c: string, g: GroupLag): void {
  store.set(M.groupMaxLag, [c, g.groupId], g.maxLag);
  store.set(M.groupSumLag, [c, g.groupId], g.sumLag);
  if (g.maxLagSeconds !== undefined) store.set(M.groupMaxLagSeconds, [c, g.groupId], g.maxLagSeconds);
  if (g.state !== undefined) store.set(M.groupState, [c, g.groupId], GROUP_STATES.indexOf(g.state));
  for (const [topic, sum] of g.topicSumLag) store.set(M.groupTopicSumLag, [c, g.groupId, topic], sum);
}

function writePartition(store: GaugeStore, c: string, group: string, p: PartitionLag): void {
  const partition = String(p.partition);
  const member = [c, group, p.topic, partition, p.member.host, p.member.consumerId, p.member.clientId];
  const flags = [p.compacted ? "true" : "false", p.dataLoss ? "true" : "false"];
  store.set(M.groupOffset, member, p.committed);
  store.set(M.groupLag, [...member, ...flags], p.lag);
  if (p.timeLag !== undefined) store.set(M.groupLagSeconds, [...member, ...flags], p.timeLag.seconds);
  const gp = [c, group, p.topic, partition];
  store.set(M.groupMessagesLost, gp, p.lostMessages);
  store.set(M.groupRetentionMargin, gp, p.retentionMargin);
  if (p.lagRetentionRatio !== undefined) store.set(M.groupLagRetentionRatio, gp, p.lagRetentionRatio);
  if (p.lagStable !== undefined) store.set(M.groupLagStable, gp, p.lagStable);
}
