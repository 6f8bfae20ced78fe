/**
 * Domain types shared by every layer: what the Kafka edge observes and what the pure core
 * computes from it. Offsets are safe-integer `number`s, checked once at the Kafka boundary.
 */

/** Group states in the numeric encoding of `kafka_consumergroup_group_state`. */
export const GROUP_STATES = [
  "Unknown",
  "PreparingRebalance",
  "CompletingRebalance",
  "Stable",
  "Dead",
  "Empty",
  "Assigning",
  "Reconciling",
] as const;
export type GroupState = (typeof GROUP_STATES)[number];

/** `topic` + `partition` identify a partition everywhere. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** Partition metadata from the Metadata API. */
export interface PartitionMetadata {
  partition: number;
  /** Leader broker node id; -1 when the partition has no leader right now. */
  leader: number;
}

export interface ClusterMetadata {
  /** topic → partitions sorted by partition number. */
  topics: Map<string, PartitionMetadata[]>;
  brokers: { nodeId: number; host: string; port: number }[];
  /** topic → topic id (Kafka's base64url form), when the broker reports ids (Metadata v10+). */
  topicIds?: Map<string, string>;
}

/** Earliest/latest offsets (low/high watermark) of one partition, read in one round. */
export interface Watermarks {
  earliest: number;
  latest: number;
  /** Last stable offset (READ_COMMITTED latest); undefined when not collected. */
  lastStable?: number;
}

/** A consumer group as listed by ListGroups. */
export interface ListedGroup {
  groupId: string;
  /** ListGroups protocolType: "consumer" for classic and KIP-848 consumer groups. */
  protocolType: string;
  /** ListGroups v5 groupType when the broker reports it: "classic" | "consumer" | "share" | "streams". */
  groupType?: string;
  /** ListGroups v4+ state when reported. */
  state?: GroupState;
}

export interface GroupMember {
  memberId: string;
  clientId: string;
  host: string;
  /** Partitions currently assigned to this member. */
  assignment: TopicPartition[];
}

export interface GroupDescription {
  groupId: string;
  state: GroupState;
  /** Which protocol described it: classic DescribeGroups or KIP-848 ConsumerGroupDescribe. */
  kind: "classic" | "consumer";
  members: GroupMember[];
}

/** A committed offset; never-committed partitions (offset -1) are not represented. */
export interface CommittedOffset {
  topic: string;
  partition: number;
  offset: number;
}

/** Failure reasons used as the `reason` label of skipped_partitions / failed_groups. */
export const FAILURE_REASONS = [
  "timeout",
  "coordinator_unavailable",
  "authorization",
  "unknown_topic",
  "no_leader",
  "watermark_missing",
  "describe_failed",
  "offset_fetch_failed",
  "broker_error",
  "error",
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export type Outcome<T> = { kind: "ok"; value: T } | { kind: "error"; reason: FailureReason; message: string };

/** What one collection cycle observed for a group. */
export interface GroupObservation {
  groupId: string;
  /** Description; an error outcome means state and members are unknown this cycle. */
  description: Outcome<GroupDescription>;
  /** Committed offsets; an error outcome means no partition series for this group this cycle. */
  offsets: Outcome<CommittedOffset[]>;
}

/** Per-partition time-lag input, filled by the time-lag stage (rate / message / hybrid). */
export interface TimeLagValue {
  seconds: number;
  method: "message" | "rate";
}

/** The raw facts of one cycle for one cluster, handed to the pure core. */
export interface CycleObservation {
  nowMs: number;
  /** "topic\u0000partition" → watermarks; missing key = watermark unknown this cycle. */
  watermarks: Map<string, Watermarks>;
  /** Why a partition's watermarks are missing, when the edge knows ("no_leader", "unknown_topic", …). */
  watermarkFailures?: Map<string, FailureReason>;
  groups: GroupObservation[];
  /** Compaction evidence keyed by "group\u0000topic\u0000partition" (true = committed record compacted away). */
  compaction?: Map<string, boolean>;
  /** Time lag keyed by "group\u0000topic\u0000partition". */
  timeLag?: Map<string, TimeLagValue>;
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export function groupPartitionKey(group: string, topic: string, partition: number): string {
  return `${group}\u0000${topic}\u0000${partition}`;
}
