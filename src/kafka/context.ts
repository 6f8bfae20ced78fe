/**
 * What the client's parts share: broker connections, request stats, the metadata cache and
 * the helpers that turn thrown transport/decode errors into Outcome values.
 */
import type { ClusterMetadata, FailureReason, Outcome } from "../core/types.ts";
import { type Deadline, KafkaTimeoutError } from "./deadline.ts";
import { type KafkaLogger, KafkaTransportError, type RawCluster, type RequestStats } from "./raw.ts";
import { ProtocolDecodeError } from "./wire.ts";

export interface MetadataState {
  metadata: ClusterMetadata;
  /** Topic id (base64url) → name, from Metadata v10+. */
  topicNamesById: Map<string, string>;
  fetchedAtMs: number;
}

export interface EdgeContext {
  clusterName: string;
  raw: RawCluster;
  stats: RequestStats;
  log: KafkaLogger;
  /** Groups per DescribeGroups / ConsumerGroupDescribe / OffsetFetch v8 / FindCoordinator v4 request. */
  groupBatchSize: number;
  /** Cached metadata; `refresh` forces a Metadata request. */
  metadata(
    deadline: Deadline,
    opts?: { refresh?: boolean; topics?: readonly string[] },
  ): Promise<Outcome<MetadataState>>;
  /** Leaders moved or topics changed: the next metadata() call refreshes. */
  markMetadataStale(): void;
}

export function ok<T>(value: T): Outcome<T> {
  return { kind: "ok", value };
}

export function fail<T = never>(reason: FailureReason, message: string): Outcome<T> {
  return { kind: "error", reason, message };
}

/**
 * An Outcome for an error thrown by a Kafka call: transport and decode errors become values;
 * anything else is a programmer error and is rethrown.
 */
export function failureFromError<T = never>(error: unknown, fallback: FailureReason): Outcome<T> {
  if (error instanceof KafkaTransportError)
    return fail(error.kind === "timeout" ? "timeout" : "broker_error", error.message);
  if (error instanceof KafkaTimeoutError) return fail("timeout", error.message);
  if (error instanceof ProtocolDecodeError) return fail(fallback, `malformed response: ${error.message}`);
  throw error;
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
