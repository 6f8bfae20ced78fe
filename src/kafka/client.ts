/**
 * One Kafka cluster as the daemon sees it: cached metadata, consumer groups (listed on every
 * broker, described and offset-fetched in batches per coordinator) and watermarks (one
 * ListOffsets per leader broker per round). Every call is bounded by `timeoutMs` and answers
 * Kafka failures with Outcome values; only programmer errors throw.
 */
import type {
  ClusterMetadata,
  CommittedOffset,
  FailureReason,
  GroupDescription,
  ListedGroup,
  Outcome,
  PartitionMetadata,
  TopicPartition,
} from "../core/types.ts";
import { fetchCommittedOffsetsBatched } from "./committed-offsets.ts";
import { type EdgeContext, fail, failureFromError, type MetadataState, ok } from "./context.ts";
import { createCoordinatorRouter } from "./coordinators.ts";
import { Deadline } from "./deadline.ts";
import { errorName, reasonForCode } from "./errors.ts";
import { describeGroupsBatched, toGroupState } from "./group-describe.ts";
import { decodeListGroupsResponse, encodeListGroupsRequest, LIST_GROUPS } from "./protocol/groups.ts";
import { decodeMetadataResponse, encodeMetadataRequest, isFlexibleMetadata, METADATA } from "./protocol/metadata.ts";
import {
  type BrokerHandle,
  createRawCluster,
  type KafkaConnection,
  type KafkaLogger,
  KafkaTransportError,
  pickVersion,
  RequestStats,
  sendRaw,
} from "./raw.ts";
import { fetchWatermarksByLeader, type WatermarksResult } from "./watermarks.ts";

export interface KafkaClusterClientOptions {
  /** Cluster name, for logs. */
  name: string;
  /** kafkajs connection options (src/kafka/connection-options.ts). */
  connection: KafkaConnection;
  /** Bound of every public call (all its requests together). */
  timeoutMs: number;
  /** Metadata is reused this long unless a refresh is forced or a request found it stale. */
  metadataTtlMs: number;
  logger: KafkaLogger;
  /** Groups per DescribeGroups / ConsumerGroupDescribe / OffsetFetch v8 / FindCoordinator request (default 100). */
  groupBatchSize?: number;
}

/** A broker whose ListGroups failed: the groups it coordinates are missing from this listing. */
export interface BrokerFailure {
  nodeId: number;
  reason: FailureReason;
  message: string;
}

export interface ListGroupsResult {
  /** Consumer groups (classic with protocol type "consumer" or "", and KIP-848); error when no broker answered. */
  groups: Outcome<ListedGroup[]>;
  /** How many brokers failed (their groups are absent, not gone). */
  failedBrokers: number;
  /**
   * Groups a failed broker listed last time that no broker listed now: missing this cycle, to be
   * counted (failed_groups) rather than silently dropped.
   */
  missing: { groupId: string; reason: FailureReason }[];
  brokerFailures: BrokerFailure[];
}

export type { WatermarkFailure, WatermarksResult } from "./watermarks.ts";

export interface KafkaClusterClient {
  readonly name: string;
  /** Connects to a bootstrap server and loads metadata. */
  connect(): Promise<Outcome<void>>;
  /** Closes every connection; idempotent; bounded (never hangs). */
  close(): Promise<void>;
  /** Topics, partitions, leaders, brokers; cached for `metadataTtlMs`. `refresh` forces a request. */
  metadata(opts?: { refresh?: boolean; topics?: readonly string[] }): Promise<Outcome<ClusterMetadata>>;
  /** ListGroups on every broker (groups live on their coordinator), consumer groups only. */
  listGroups(): Promise<ListGroupsResult>;
  /**
   * Descriptions per group (state, members, assignments). Pass the ListedGroup (with its
   * groupType) when known so KIP-848 groups go straight to ConsumerGroupDescribe.
   */
  describeGroups(groups: readonly (string | ListedGroup)[]): Promise<Map<string, Outcome<GroupDescription>>>;
  /** Committed offsets per group; never-committed partitions are left out. */
  fetchCommittedOffsets(groupIds: readonly string[]): Promise<Map<string, Outcome<CommittedOffset[]>>>;
  /** Earliest/latest (and last stable) offsets; key partitionKey(topic, partition). */
  fetchWatermarks(partitions: readonly TopicPartition[], opts: { lastStable: boolean }): Promise<WatermarksResult>;
  /** A connected broker by node id (for raw requests, e.g. fetch-batches.ts). Throws KafkaTransportError. */
  broker(nodeId: number, timeoutMs: number): Promise<BrokerHandle>;
  /** Runs `fn` with a connected broker; transport/decode errors (thrown by sendRaw) become an error Outcome. */
  withBroker<T>(nodeId: number, fn: (broker: BrokerHandle) => Promise<T>): Promise<Outcome<T>>;
  /** Cumulative requests and errors per API name, every request this client sent. */
  requestStats(): { api: string; requests: number; errors: number }[];
}

const DEFAULT_GROUP_BATCH = 100;
const CLOSE_TIMEOUT_MS = 3000;

export function createKafkaClusterClient(opts: KafkaClusterClientOptions): KafkaClusterClient {
  const { name, timeoutMs, metadataTtlMs, logger } = opts;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
  const stats = new RequestStats();
  const raw = createRawCluster({ name, connection: opts.connection, timeoutMs, stats, logger });
  let closed = false;
  let state: MetadataState | undefined;
  let stale = false;
  let inflight: Promise<Outcome<MetadataState>> | undefined;
  /** groupId → ListGroups v5 groupType, to send KIP-848 groups straight to ConsumerGroupDescribe. */
  const groupTypes = new Map<string, string>();
  /** node id → the groups that broker listed at its last successful ListGroups. */
  const lastListing = new Map<number, string[]>();

  /**
   * Metadata from any broker. A broker that hangs gets at most half the remaining time, then the
   * next broker is asked: one hung broker must not blank the whole cluster.
   */
  const refreshMetadata = async (deadline: Deadline): Promise<Outcome<MetadataState>> => {
    const avoid = new Set<number>();
    let last: Outcome<MetadataState> = fail("broker_error", "no broker answered Metadata");
    for (let attempt = 0; attempt < 3 && !deadline.expired(); attempt++) {
      const share = attempt < 2 ? Math.max(1, Math.floor(deadline.remainingMs() / 2)) : deadline.remainingMs();
      const outcome = await refreshMetadataOnce(new Deadline(share), avoid);
      if (outcome.kind === "ok" || !outcome.transport) return outcome.result;
      last = outcome.result;
    }
    return last;
  };

  const refreshMetadataOnce = async (
    deadline: Deadline,
    avoid: Set<number>,
  ): Promise<{ kind: "ok" | "error"; result: Outcome<MetadataState>; transport?: boolean }> => {
    let nodeId: number | undefined;
    try {
      const broker = await raw.anyBroker(deadline.remainingMs(), avoid);
      nodeId = broker.nodeId;
      const version = pickVersion(broker, METADATA.apiKey, METADATA.minVersion, METADATA.maxVersion);
      if (version === undefined) return { kind: "error", result: fail("broker_error", "broker lacks Metadata v1+") };
      const r = await sendRaw(broker, {
        apiKey: METADATA.apiKey,
        apiVersion: version,
        apiName: METADATA.apiName,
        body: encodeMetadataRequest(version, null),
        flexibleResponse: isFlexibleMetadata(version),
        timeoutMs: deadline.remainingMs(),
      });
      const response = decodeMetadataResponse(r, version);
      if (response.errorCode !== 0) {
        stats.error(METADATA.apiName);
        const reason = reasonForCode(response.errorCode, "broker_error");
        return { kind: "error", result: fail(reason, `Metadata ${errorName(response.errorCode)}`) };
      }
      const topics = new Map<string, PartitionMetadata[]>();
      const topicIds = new Map<string, string>();
      const topicNamesById = new Map<string, string>();
      for (const t of response.topics) {
        if (t.errorCode !== 0 || t.name === null) {
          logger("debug", "topic left out of metadata", {
            cluster: name,
            topic: t.name,
            error: errorName(t.errorCode),
          });
          continue;
        }
        topics.set(
          t.name,
          t.partitions
            .map((p) => ({ partition: p.partition, leader: p.leader }))
            .sort((a, b) => a.partition - b.partition),
        );
        if (t.topicId !== undefined && t.topicId !== "AAAAAAAAAAAAAAAAAAAAAA") {
          topicIds.set(t.name, t.topicId);
          topicNamesById.set(t.topicId, t.name);
        }
      }
      const brokers = response.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port }));
      raw.setBrokers(response.brokers);
      const metadata: ClusterMetadata = { topics, brokers };
      if (topicIds.size > 0) metadata.topicIds = topicIds;
      state = { metadata, topicNamesById, fetchedAtMs: Date.now() };
      stale = false;
      return { kind: "ok", result: ok(state) };
    } catch (error) {
      // A transport failure (timeout, broken connection): the next attempt asks another broker.
      if (nodeId !== undefined) avoid.add(nodeId);
      return {
        kind: "error",
        result: failureFromError(error, "broker_error"),
        transport: error instanceof KafkaTransportError,
      };
    }
  };

  const getMetadata: EdgeContext["metadata"] = (deadline, o = {}) => {
    if (closed) return Promise.resolve(fail("broker_error", "client is closed"));
    const cached = state;
    const fresh = cached !== undefined && !stale && Date.now() - cached.fetchedAtMs < metadataTtlMs;
    const complete = cached !== undefined && (o.topics ?? []).every((t) => cached.metadata.topics.has(t));
    if (!o.refresh && fresh && complete) return Promise.resolve(ok(cached));
    inflight ??= refreshMetadata(deadline).finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  const ctx: EdgeContext = {
    clusterName: name,
    raw,
    stats,
    log: logger,
    groupBatchSize: Math.max(1, opts.groupBatchSize ?? DEFAULT_GROUP_BATCH),
    metadata: getMetadata,
    markMetadataStale: () => {
      stale = true;
    },
  };
  const router = createCoordinatorRouter(ctx);

  const ensureBrokerKnown = async (nodeId: number, deadline: Deadline) => {
    if (!raw.knownNodeIds().includes(nodeId)) await getMetadata(deadline, { refresh: state !== undefined });
  };

  return {
    name,

    async connect() {
      const m = await getMetadata(new Deadline(timeoutMs), { refresh: true });
      return m.kind === "ok" ? ok(undefined) : m;
    },

    async close() {
      if (closed) return;
      closed = true;
      await raw.close(Math.min(timeoutMs, CLOSE_TIMEOUT_MS));
    },

    async metadata(o = {}) {
      const m = await getMetadata(new Deadline(timeoutMs), o);
      return m.kind === "ok" ? ok(m.value.metadata) : m;
    },

    async listGroups() {
      const deadline = new Deadline(timeoutMs);
      const meta = await getMetadata(deadline);
      if (meta.kind === "error") return { groups: meta, failedBrokers: 0, brokerFailures: [], missing: [] };
      const nodeIds = meta.value.metadata.brokers.map((b) => b.nodeId);
      const brokerFailures: BrokerFailure[] = [];
      const perBroker = await Promise.all(
        nodeIds.map(async (nodeId): Promise<ListedGroup[]> => {
          try {
            const broker = await raw.broker(nodeId, deadline.remainingMs());
            const version = pickVersion(broker, LIST_GROUPS.apiKey, LIST_GROUPS.minVersion, LIST_GROUPS.maxVersion);
            if (version === undefined) {
              brokerFailures.push({ nodeId, reason: "broker_error", message: "broker lacks ListGroups" });
              return [];
            }
            const r = await sendRaw(broker, {
              apiKey: LIST_GROUPS.apiKey,
              apiVersion: version,
              apiName: LIST_GROUPS.apiName,
              body: encodeListGroupsRequest(version, ["classic", "consumer"]),
              flexibleResponse: version >= 3,
              timeoutMs: deadline.remainingMs(),
            });
            const response = decodeListGroupsResponse(r, version);
            if (response.errorCode !== 0) {
              stats.error(LIST_GROUPS.apiName);
              const reason = reasonForCode(response.errorCode, "broker_error");
              brokerFailures.push({ nodeId, reason, message: `ListGroups ${errorName(response.errorCode)}` });
              return [];
            }
            const groups = response.groups.filter(isConsumerGroup).map((g) => {
              const listed: ListedGroup = { groupId: g.groupId, protocolType: g.protocolType };
              if (g.groupType !== undefined) listed.groupType = g.groupType;
              if (g.groupState !== undefined) listed.state = toGroupState(g.groupState);
              return listed;
            });
            lastListing.set(
              nodeId,
              groups.map((g) => g.groupId),
            );
            return groups;
          } catch (error) {
            const f = failureFromError(error, "broker_error");
            if (f.kind === "error") brokerFailures.push({ nodeId, reason: f.reason, message: f.message });
            return [];
          }
        }),
      );
      for (const f of brokerFailures) {
        logger("debug", "ListGroups failed on a broker", {
          cluster: name,
          broker: f.nodeId,
          reason: f.reason,
          error: f.message,
        });
      }
      if (nodeIds.length > 0 && brokerFailures.length === nodeIds.length) {
        const first = brokerFailures[0]!;
        return {
          groups: fail(first.reason, `ListGroups failed on every broker: ${first.message}`),
          failedBrokers: brokerFailures.length,
          brokerFailures,
          missing: [],
        };
      }
      // During a coordinator move a group can be listed by two brokers for a moment.
      const byId = new Map<string, ListedGroup>();
      for (const g of perBroker.flat()) if (!byId.has(g.groupId)) byId.set(g.groupId, g);
      for (const g of byId.values()) if (g.groupType !== undefined) groupTypes.set(g.groupId, g.groupType);
      if (brokerFailures.length === 0) {
        const listed = new Set(byId.keys());
        router.retainOnly(listed);
        for (const g of groupTypes.keys()) if (!listed.has(g)) groupTypes.delete(g);
      }
      const missing: { groupId: string; reason: FailureReason }[] = [];
      for (const f of brokerFailures) {
        for (const groupId of lastListing.get(f.nodeId) ?? []) {
          if (!byId.has(groupId)) missing.push({ groupId, reason: f.reason });
        }
      }
      for (const nodeId of lastListing.keys()) if (!nodeIds.includes(nodeId)) lastListing.delete(nodeId);
      const groups = [...byId.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
      return { groups: ok(groups), failedBrokers: brokerFailures.length, brokerFailures, missing };
    },

    async describeGroups(groups) {
      const wanted = new Map<string, boolean>();
      for (const g of groups) {
        const groupId = typeof g === "string" ? g : g.groupId;
        const type = typeof g === "string" ? groupTypes.get(g) : (g.groupType ?? groupTypes.get(g.groupId));
        wanted.set(groupId, type === "consumer");
      }
      if (wanted.size === 0) return new Map();
      if (closed) return closedAnswer([...wanted.keys()]);
      return describeGroupsBatched(
        ctx,
        router,
        [...wanted].map(([groupId, consumerProtocol]) => ({ groupId, consumerProtocol })),
        new Deadline(timeoutMs),
      );
    },

    async fetchCommittedOffsets(groupIds) {
      if (groupIds.length === 0) return new Map();
      if (closed) return closedAnswer([...new Set(groupIds)]);
      return fetchCommittedOffsetsBatched(ctx, router, groupIds, new Deadline(timeoutMs));
    },

    async fetchWatermarks(partitions, o) {
      return fetchWatermarksByLeader(ctx, partitions, o, new Deadline(timeoutMs));
    },

    async broker(nodeId, ms) {
      const deadline = new Deadline(Math.min(ms, timeoutMs));
      await ensureBrokerKnown(nodeId, deadline);
      return raw.broker(nodeId, deadline.remainingMs());
    },

    async withBroker<T>(nodeId: number, fn: (broker: BrokerHandle) => Promise<T>): Promise<Outcome<T>> {
      const deadline = new Deadline(timeoutMs);
      try {
        await ensureBrokerKnown(nodeId, deadline);
        const broker = await raw.broker(nodeId, deadline.remainingMs());
        return ok(await fn(broker));
      } catch (error) {
        return failureFromError(error, "broker_error");
      }
    },

    requestStats() {
      return stats.snapshot();
    },
  };
}

/**
 * Consumer groups: protocol type "consumer" (classic consumers and KIP-848 groups) and ""
 * (groups that only commit offsets, e.g. Spark/Flink with assign(), or offsets set by tools).
 * Connect, share and streams groups are not consumer-lag material here.
 */
function isConsumerGroup(g: { protocolType: string; groupType?: string }): boolean {
  if (g.groupType !== undefined && g.groupType !== "classic" && g.groupType !== "consumer") return false;
  return g.protocolType === "consumer" || g.protocolType === "";
}

function closedAnswer<T>(groupIds: readonly string[]): Map<string, Outcome<T>> {
  return new Map(groupIds.map((g) => [g, fail<T>("broker_error", "client is closed")]));
}
