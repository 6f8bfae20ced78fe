/**
 * Metadata (API 3), versions 1–13: brokers, topics (with topic ids from v10), partitions and
 * their leaders. We send it ourselves because kafkajs stops at v6 (no topic ids) and throws on
 * any partition error, while a partition without a leader is normal during a broker restart.
 */
import type { ProtocolReader } from "../wire.ts";
import { endStruct, endWrite, readArray, readNullableString, readString, requestWriter } from "./codec.ts";

export const METADATA = { apiKey: 3, apiName: "Metadata", minVersion: 1, maxVersion: 13 } as const;

const ZERO_UUID = new Uint8Array(16);

export interface MetadataBroker {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface MetadataPartition {
  errorCode: number;
  partition: number;
  leader: number;
  leaderEpoch: number;
}

export interface MetadataTopic {
  errorCode: number;
  /** Null only when a v12+ broker answers a by-id query; we always query by name or all. */
  name: string | null;
  /** Kafka's base64url topic id (v10+), undefined before. */
  topicId?: string;
  isInternal: boolean;
  partitions: MetadataPartition[];
}

export interface MetadataResponse {
  brokers: MetadataBroker[];
  controllerId: number;
  topics: MetadataTopic[];
  /** Top-level error (v13+), else 0. */
  errorCode: number;
}

export function isFlexibleMetadata(version: number): boolean {
  return version >= 9;
}

/** `topics` null = all topics. Never asks the broker to auto-create topics. */
export function encodeMetadataRequest(version: number, topics: readonly string[] | null): Uint8Array {
  const flex = isFlexibleMetadata(version);
  const w = requestWriter(flex);
  if (version >= 10) {
    w.compactArray(topics, (w, name) => {
      w.raw(ZERO_UUID).compactNullableString(name).emptyTaggedFields();
    });
  } else if (flex) {
    w.compactArray(topics, (w, name) => {
      w.compactString(name).emptyTaggedFields();
    });
  } else {
    w.nullableArray(topics, (w, name) => {
      w.string(name);
    });
  }
  if (version >= 4) w.boolean(false); // allow_auto_topic_creation
  if (version >= 8 && version <= 10) w.boolean(false); // include_cluster_authorized_operations
  if (version >= 8) w.boolean(false); // include_topic_authorized_operations
  endWrite(w, flex);
  return w.toBytes();
}

export function decodeMetadataResponse(r: ProtocolReader, version: number): MetadataResponse {
  const flex = isFlexibleMetadata(version);
  if (version >= 3) r.int32(); // throttle_time_ms
  const brokers = readArray(r, flex, (r) => {
    const nodeId = r.int32();
    const host = readString(r, flex);
    const port = r.int32();
    const rack = readNullableString(r, flex);
    endStruct(r, flex);
    return { nodeId, host, port, rack };
  });
  if (version >= 2) readNullableString(r, flex); // cluster_id
  const controllerId = r.int32();
  const topics = readArray(r, flex, (r): MetadataTopic => {
    const errorCode = r.int16();
    const name = version >= 12 ? readNullableString(r, flex) : readString(r, flex);
    const topicId = version >= 10 ? r.uuid() : undefined;
    const isInternal = r.boolean();
    const partitions = readArray(r, flex, (r) => {
      const errorCode = r.int16();
      const partition = r.int32();
      const leader = r.int32();
      const leaderEpoch = version >= 7 ? r.int32() : -1;
      readArray(r, flex, (r) => r.int32()); // replica_nodes
      readArray(r, flex, (r) => r.int32()); // isr_nodes
      if (version >= 5) readArray(r, flex, (r) => r.int32()); // offline_replicas
      endStruct(r, flex);
      return { errorCode, partition, leader, leaderEpoch };
    });
    if (version >= 8) r.int32(); // topic_authorized_operations
    endStruct(r, flex);
    return topicId === undefined
      ? { errorCode, name, isInternal, partitions }
      : { errorCode, name, topicId, isInternal, partitions };
  });
  if (version >= 8 && version <= 10) r.int32(); // cluster_authorized_operations
  const errorCode = version >= 13 ? r.int16() : 0;
  endStruct(r, flex);
  return { brokers, controllerId, topics, errorCode };
}
