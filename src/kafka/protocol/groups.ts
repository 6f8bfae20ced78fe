/**
 * Group APIs: ListGroups (16), FindCoordinator (10), DescribeGroups (15) and KIP-848
 * ConsumerGroupDescribe (69), plus the ConsumerProtocol assignment carried in DescribeGroups
 * member bytes. Request encoders and response decoders only; pure.
 */
import { type ProtocolReader, ProtocolReader as Reader } from "../wire.ts";
import {
  endStruct,
  endWrite,
  readArray,
  readBytes,
  readNullableString,
  readString,
  requestWriter,
  writeArray,
  writeString,
} from "./codec.ts";

// ---- ListGroups ---------------------------------------------------------------------------

export const LIST_GROUPS = { apiKey: 16, apiName: "ListGroups", minVersion: 0, maxVersion: 5 } as const;

export interface ListGroupsResponse {
  errorCode: number;
  groups: { groupId: string; protocolType: string; groupState?: string; groupType?: string }[];
}

/** `typesFilter` applies from v5 (e.g. ["classic", "consumer"]); empty = all types. */
export function encodeListGroupsRequest(version: number, typesFilter: readonly string[]): Uint8Array {
  const flex = version >= 3;
  const w = requestWriter(flex);
  if (version >= 4) w.compactArray([], () => {}); // states_filter: all states
  if (version >= 5) w.compactArray(typesFilter, (w, t) => w.compactString(t));
  endWrite(w, flex);
  return w.toBytes();
}

export function decodeListGroupsResponse(r: ProtocolReader, version: number): ListGroupsResponse {
  const flex = version >= 3;
  if (version >= 1) r.int32(); // throttle_time_ms
  const errorCode = r.int16();
  const groups = readArray(r, flex, (r) => {
    const groupId = readString(r, flex);
    const protocolType = readString(r, flex);
    const groupState = version >= 4 ? readString(r, flex) : undefined;
    const groupType = version >= 5 ? readString(r, flex) : undefined;
    endStruct(r, flex);
    return {
      groupId,
      protocolType,
      ...(groupState === undefined ? {} : { groupState }),
      ...(groupType === undefined ? {} : { groupType }),
    };
  });
  endStruct(r, flex);
  return { errorCode, groups };
}

// ---- FindCoordinator ----------------------------------------------------------------------

/** v4+ takes many keys per request (KIP-699); v1–v3 one key. */
export const FIND_COORDINATOR = { apiKey: 10, apiName: "FindCoordinator", minVersion: 1, maxVersion: 6 } as const;
export const FIND_COORDINATOR_BATCHED_MIN_VERSION = 4;

export interface CoordinatorResult {
  key: string;
  nodeId: number;
  host: string;
  port: number;
  errorCode: number;
  errorMessage: string | null;
}

/** Group coordinators (key type 0) for `keys`; v1–v3 accept exactly one key. */
export function encodeFindCoordinatorRequest(version: number, keys: readonly string[]): Uint8Array {
  const flex = version >= 3;
  const w = requestWriter(flex);
  if (version >= FIND_COORDINATOR_BATCHED_MIN_VERSION) {
    w.int8(0); // key_type: group
    w.compactArray(keys, (w, k) => w.compactString(k));
  } else {
    if (keys.length !== 1) throw new Error(`FindCoordinator v${version} takes one key, got ${keys.length}`);
    writeString(w, flex, keys[0]!);
    w.int8(0);
  }
  endWrite(w, flex);
  return w.toBytes();
}

/** Coordinators per key; for v1–v3 `singleKey` names the key asked for. */
export function decodeFindCoordinatorResponse(
  r: ProtocolReader,
  version: number,
  singleKey?: string,
): CoordinatorResult[] {
  const flex = version >= 3;
  r.int32(); // throttle_time_ms (v1+)
  if (version >= FIND_COORDINATOR_BATCHED_MIN_VERSION) {
    const out = r.compactArray((r) => {
      const key = r.compactString();
      const nodeId = r.int32();
      const host = r.compactString();
      const port = r.int32();
      const errorCode = r.int16();
      const errorMessage = r.compactNullableString();
      r.skipTaggedFields();
      return { key, nodeId, host, port, errorCode, errorMessage };
    });
    r.skipTaggedFields();
    return out;
  }
  const errorCode = r.int16();
  const errorMessage = readNullableString(r, flex);
  const nodeId = r.int32();
  const host = readString(r, flex);
  const port = r.int32();
  endStruct(r, flex);
  return [{ key: singleKey ?? "", nodeId, host, port, errorCode, errorMessage }];
}

// ---- DescribeGroups -----------------------------------------------------------------------

export const DESCRIBE_GROUPS = { apiKey: 15, apiName: "DescribeGroups", minVersion: 0, maxVersion: 6 } as const;

export interface DescribedClassicGroup {
  errorCode: number;
  errorMessage: string | null;
  groupId: string;
  groupState: string;
  protocolType: string;
  protocolData: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    memberAssignment: Uint8Array;
  }[];
}

export function encodeDescribeGroupsRequest(version: number, groupIds: readonly string[]): Uint8Array {
  const flex = version >= 5;
  const w = requestWriter(flex);
  writeArray(w, flex, groupIds, (w, g) => writeString(w, flex, g));
  if (version >= 3) w.boolean(false); // include_authorized_operations
  endWrite(w, flex);
  return w.toBytes();
}

export function decodeDescribeGroupsResponse(r: ProtocolReader, version: number): DescribedClassicGroup[] {
  const flex = version >= 5;
  if (version >= 1) r.int32(); // throttle_time_ms
  const groups = readArray(r, flex, (r): DescribedClassicGroup => {
    const errorCode = r.int16();
    const errorMessage = version >= 6 ? readNullableString(r, flex) : null;
    const groupId = readString(r, flex);
    const groupState = readString(r, flex);
    const protocolType = readString(r, flex);
    const protocolData = readString(r, flex);
    const members = readArray(r, flex, (r) => {
      const memberId = readString(r, flex);
      const groupInstanceId = version >= 4 ? readNullableString(r, flex) : null;
      const clientId = readString(r, flex);
      const clientHost = readString(r, flex);
      readBytes(r, flex); // member_metadata (subscription)
      const memberAssignment = readBytes(r, flex);
      endStruct(r, flex);
      return { memberId, groupInstanceId, clientId, clientHost, memberAssignment };
    });
    if (version >= 3) r.int32(); // authorized_operations
    endStruct(r, flex);
    return { errorCode, errorMessage, groupId, groupState, protocolType, protocolData, members };
  });
  endStruct(r, flex);
  return groups;
}

// ---- ConsumerGroupDescribe (KIP-848) --------------------------------------------------------

export const CONSUMER_GROUP_DESCRIBE = {
  apiKey: 69,
  apiName: "ConsumerGroupDescribe",
  minVersion: 0,
  maxVersion: 1,
} as const;

export interface DescribedConsumerGroup {
  errorCode: number;
  errorMessage: string | null;
  groupId: string;
  groupState: string;
  members: {
    memberId: string;
    instanceId: string | null;
    clientId: string;
    clientHost: string;
    /** Current assignment: topic id, topic name (empty if the broker does not know it), partitions. */
    assignment: { topicId: string; topicName: string; partitions: number[] }[];
  }[];
}

export function encodeConsumerGroupDescribeRequest(_version: number, groupIds: readonly string[]): Uint8Array {
  const w = requestWriter(true);
  w.compactArray(groupIds, (w, g) => w.compactString(g));
  w.boolean(false); // include_authorized_operations
  w.emptyTaggedFields();
  return w.toBytes();
}

export function decodeConsumerGroupDescribeResponse(r: ProtocolReader, version: number): DescribedConsumerGroup[] {
  r.int32(); // throttle_time_ms
  const readAssignment = (r: ProtocolReader) => {
    const topics = r.compactArray((r) => {
      const topicId = r.uuid();
      const topicName = r.compactString();
      const partitions = r.compactArray((r) => r.int32());
      r.skipTaggedFields();
      return { topicId, topicName, partitions };
    });
    r.skipTaggedFields();
    return topics;
  };
  const groups = r.compactArray((r): DescribedConsumerGroup => {
    const errorCode = r.int16();
    const errorMessage = r.compactNullableString();
    const groupId = r.compactString();
    const groupState = r.compactString();
    r.int32(); // group_epoch
    r.int32(); // assignment_epoch
    r.compactString(); // assignor_name
    const members = r.compactArray((r) => {
      const memberId = r.compactString();
      const instanceId = r.compactNullableString();
      r.compactNullableString(); // rack_id
      r.int32(); // member_epoch
      const clientId = r.compactString();
      const clientHost = r.compactString();
      r.compactArray((r) => r.compactString()); // subscribed_topic_names
      r.compactNullableString(); // subscribed_topic_regex
      const assignment = readAssignment(r);
      readAssignment(r); // target_assignment
      if (version >= 1) r.int8(); // member_type
      r.skipTaggedFields();
      return { memberId, instanceId, clientId, clientHost, assignment };
    });
    r.int32(); // authorized_operations
    r.skipTaggedFields();
    return { errorCode, errorMessage, groupId, groupState, members };
  });
  r.skipTaggedFields();
  return groups;
}

// ---- ConsumerProtocol assignment ----------------------------------------------------------

/**
 * Decodes a classic consumer's assignment (ConsumerProtocolAssignment v0–v3; newer versions
 * only append fields, so they decode as v3). Empty bytes (no assignment yet) → [].
 * Example: version 3, [("orders", [0, 2])], null user data → [{topic:"orders", partitions:[0,2]}].
 */
export function decodeConsumerAssignment(bytes: Uint8Array): { topic: string; partitions: number[] }[] {
  if (bytes.length === 0) return [];
  const r = new Reader(bytes);
  const version = r.int16();
  if (version < 0) throw new RangeError(`consumer assignment version ${version}`);
  return r.array((r) => ({ topic: r.string(), partitions: r.array((r) => r.int32()) }));
}
