/**
 * Kafka protocol error codes we meet on the read path, their names, and how each maps to a
 * `FailureReason` (the `reason` label of skipped_partitions / failed_groups).
 * Codes: https://kafka.apache.org/protocol#protocol_error_codes
 */
import type { FailureReason } from "../core/types.ts";

export const ErrorCode = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  BROKER_NOT_AVAILABLE: 8,
  REPLICA_NOT_AVAILABLE: 9,
  NETWORK_EXCEPTION: 13,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  UNSUPPORTED_VERSION: 35,
  INVALID_REQUEST: 42,
  KAFKA_STORAGE_ERROR: 56,
  GROUP_ID_NOT_FOUND: 69,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  OFFSET_NOT_AVAILABLE: 78,
  UNSTABLE_OFFSET_COMMIT: 88,
  UNKNOWN_TOPIC_ID: 100,
} as const;

const NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));
NAMES.set(-1, "UNKNOWN_SERVER_ERROR");
NAMES.set(24, "INVALID_GROUP_ID");
NAMES.set(25, "UNKNOWN_MEMBER_ID");
NAMES.set(113, "STALE_MEMBER_EPOCH");

/** "NOT_COORDINATOR (16)"; unknown codes as "error 123". */
export function errorName(code: number): string {
  const name = NAMES.get(code);
  if (name === undefined) return `error ${code}`;
  const hint = ACL_HINTS.get(code);
  return hint === undefined ? `${name} (${code})` : `${name} (${code}; ${hint})`;
}

/** Which ACL an authorization error means is missing, so the log says what to grant. */
const ACL_HINTS = new Map<number, string>([
  [29, "grant the exporter's principal DESCRIBE on the topic, and READ for message-mode time lag"],
  [30, "grant the exporter's principal DESCRIBE on the group"],
  [31, "grant the exporter's principal DESCRIBE on the cluster"],
]);

/** Errors after which a cached coordinator must be looked up again. */
export function isCoordinatorMoved(code: number): boolean {
  return code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_NOT_AVAILABLE;
}

/** Partition errors after which the cached metadata (leaders, topics) is suspect. */
export function isMetadataStale(code: number): boolean {
  return (
    code === ErrorCode.NOT_LEADER_OR_FOLLOWER ||
    code === ErrorCode.LEADER_NOT_AVAILABLE ||
    code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION ||
    code === ErrorCode.UNKNOWN_TOPIC_ID ||
    code === ErrorCode.FENCED_LEADER_EPOCH ||
    code === ErrorCode.UNKNOWN_LEADER_EPOCH ||
    code === ErrorCode.REPLICA_NOT_AVAILABLE ||
    code === ErrorCode.KAFKA_STORAGE_ERROR
  );
}

/**
 * The failure reason for a Kafka error code; `fallback` names what failed when the code
 * says nothing more specific (e.g. "describe_failed" for a group description).
 */
export function reasonForCode(code: number, fallback: FailureReason): FailureReason {
  switch (code) {
    case ErrorCode.GROUP_AUTHORIZATION_FAILED:
    case ErrorCode.TOPIC_AUTHORIZATION_FAILED:
    case ErrorCode.CLUSTER_AUTHORIZATION_FAILED:
      return "authorization";
    case ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
    case ErrorCode.COORDINATOR_NOT_AVAILABLE:
    case ErrorCode.NOT_COORDINATOR:
      return "coordinator_unavailable";
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.UNKNOWN_TOPIC_ID:
      return "unknown_topic";
    case ErrorCode.LEADER_NOT_AVAILABLE:
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.FENCED_LEADER_EPOCH:
    case ErrorCode.UNKNOWN_LEADER_EPOCH:
    case ErrorCode.OFFSET_NOT_AVAILABLE:
    case ErrorCode.REPLICA_NOT_AVAILABLE:
      return "no_leader";
    case ErrorCode.REQUEST_TIMED_OUT:
      return "timeout";
    default:
      return fallback;
  }
}
