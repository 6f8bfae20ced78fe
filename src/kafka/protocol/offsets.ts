/**
 * Offset APIs: OffsetFetch (9) — v8 for many groups per request, v2–v7 one group — and
 * ListOffsets (2) v2–v11 for earliest/latest/last-stable offsets of many partitions at once.
 * Offsets stay bigint here; the client checks the safe-integer range. Pure.
 */
import type { ProtocolReader } from "../wire.ts";
import {
  endStruct,
  endWrite,
  readArray,
  readNullableString,
  readString,
  requestWriter,
  writeArray,
  writeString,
} from "./codec.ts";

// ---- OffsetFetch --------------------------------------------------------------------------

/** v9+ adds member id/epoch (KIP-848 fencing) and v10 topic ids; v8 is all we need. */
export const OFFSET_FETCH = { apiKey: 9, apiName: "OffsetFetch", minVersion: 2, maxVersion: 8 } as const;
export const OFFSET_FETCH_MULTI_GROUP_MIN_VERSION = 8;

export interface FetchedOffsetsGroup {
  groupId: string;
  errorCode: number;
  partitions: { topic: string; partition: number; offset: bigint; errorCode: number }[];
}

/** All committed offsets (topics = null) of `groupIds`; versions below 8 take exactly one group. */
export function encodeOffsetFetchRequest(version: number, groupIds: readonly string[]): Uint8Array {
  const flex = version >= 6;
  const w = requestWriter(flex);
  if (version >= OFFSET_FETCH_MULTI_GROUP_MIN_VERSION) {
    w.compactArray(groupIds, (w, g) => {
      w.compactString(g);
      w.compactArray(null, () => {}); // topics: null = all
      w.emptyTaggedFields();
    });
  } else {
    if (groupIds.length !== 1) throw new Error(`OffsetFetch v${version} takes one group, got ${groupIds.length}`);
    writeString(w, flex, groupIds[0]!);
    writeArray(w, flex, null, () => {}); // topics: null = all
  }
  if (version >= 7) w.boolean(false); // require_stable
  endWrite(w, flex);
  return w.toBytes();
}

/** Per group; for versions below 8 `singleGroup` names the group asked for. */
export function decodeOffsetFetchResponse(
  r: ProtocolReader,
  version: number,
  singleGroup?: string,
): FetchedOffsetsGroup[] {
  const flex = version >= 6;
  if (version >= 3) r.int32(); // throttle_time_ms
  const readTopics = () =>
    readArray(r, flex, (r) => {
      const topic = readString(r, flex);
      const partitions = readArray(r, flex, (r) => {
        const partition = r.int32();
        const offset = r.int64();
        if (version >= 5) r.int32(); // committed_leader_epoch
        readNullableString(r, flex); // metadata
        const errorCode = r.int16();
        endStruct(r, flex);
        return { topic, partition, offset, errorCode };
      });
      endStruct(r, flex);
      return partitions;
    }).flat();
  if (version >= OFFSET_FETCH_MULTI_GROUP_MIN_VERSION) {
    const groups = r.compactArray((r) => {
      const groupId = r.compactString();
      const partitions = readTopics();
      const errorCode = r.int16();
      r.skipTaggedFields();
      return { groupId, errorCode, partitions };
    });
    r.skipTaggedFields();
    return groups;
  }
  const partitions = readTopics();
  const errorCode = r.int16(); // v2+
  endStruct(r, flex);
  return [{ groupId: singleGroup ?? "", errorCode, partitions }];
}

// ---- ListOffsets --------------------------------------------------------------------------

export const LIST_OFFSETS = { apiKey: 2, apiName: "ListOffsets", minVersion: 2, maxVersion: 11 } as const;

export const EARLIEST_TIMESTAMP = -2n;
export const LATEST_TIMESTAMP = -1n;
export const READ_UNCOMMITTED = 0;
export const READ_COMMITTED = 1;

export interface ListOffsetsQuery {
  isolationLevel: number;
  /** -2 earliest, -1 latest. */
  timestamp: bigint;
  topics: { topic: string; partitions: number[] }[];
  /** v10+: how long the broker may wait for remote-storage lookups. */
  timeoutMs: number;
}

export interface ListedOffset {
  topic: string;
  partition: number;
  errorCode: number;
  /** NaN when the broker sent a value outside ±(2^53 − 1) (no real offset is). */
  offset: number;
}

export function encodeListOffsetsRequest(version: number, q: ListOffsetsQuery): Uint8Array {
  const flex = version >= 6;
  const w = requestWriter(flex, 64 + q.topics.length * 32);
  w.int32(-1); // replica_id: a consumer
  w.int8(q.isolationLevel);
  writeArray(w, flex, q.topics, (w, t) => {
    writeString(w, flex, t.topic);
    writeArray(w, flex, t.partitions, (w, p) => {
      w.int32(p);
      if (version >= 4) w.int32(-1); // current_leader_epoch: unknown, no fencing
      w.int64(q.timestamp);
      endWrite(w, flex);
    });
    endWrite(w, flex);
  });
  if (version >= 10) w.int32(Math.max(0, Math.min(q.timeoutMs, 2_147_483_647)));
  endWrite(w, flex);
  return w.toBytes();
}

export function decodeListOffsetsResponse(r: ProtocolReader, version: number): ListedOffset[] {
  const flex = version >= 6;
  r.int32(); // throttle_time_ms (v2+)
  // Thousands of partitions per response, every cycle: one flat array, numbers not BigInts.
  const out: ListedOffset[] = [];
  readArray(r, flex, (r) => {
    const topic = readString(r, flex);
    readArray(r, flex, (r) => {
      const partition = r.int32();
      const errorCode = r.int16();
      r.skip(8); // timestamp
      const offset = r.int64OrNaN();
      if (version >= 4) r.int32(); // leader_epoch
      endStruct(r, flex);
      out.push({ topic, partition, errorCode, offset });
    });
    endStruct(r, flex);
  });
  endStruct(r, flex);
  return out;
}
