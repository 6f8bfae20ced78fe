/**
 * Request encoders and response decoders against bytes written by Apache Kafka's own generated
 * message classes (fixtures/ProtocolFixtures.java → protocol-fixtures.json), version by version.
 */
import { describe, expect, test } from "bun:test";
import { ErrorCode, errorName, isCoordinatorMoved, isMetadataStale, reasonForCode } from "../../../src/kafka/errors.ts";
import { toGroupState } from "../../../src/kafka/group-describe.ts";
import {
  decodeConsumerAssignment,
  decodeConsumerGroupDescribeResponse,
  decodeDescribeGroupsResponse,
  decodeFindCoordinatorResponse,
  decodeListGroupsResponse,
  encodeConsumerGroupDescribeRequest,
  encodeDescribeGroupsRequest,
  encodeFindCoordinatorRequest,
  encodeListGroupsRequest,
} from "../../../src/kafka/protocol/groups.ts";
import { decodeMetadataResponse, encodeMetadataRequest } from "../../../src/kafka/protocol/metadata.ts";
import {
  decodeListOffsetsResponse,
  decodeOffsetFetchResponse,
  encodeListOffsetsRequest,
  encodeOffsetFetchRequest,
} from "../../../src/kafka/protocol/offsets.ts";
import { ProtocolReader } from "../../../src/kafka/wire.ts";
import fixtures from "./fixtures/protocol-fixtures.json";

const F = fixtures as Record<string, string>;

function fixture(name: string): Uint8Array {
  const hex = F[name];
  if (hex === undefined) throw new Error(`no fixture ${name}; regenerate protocol-fixtures.json`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** Our request body minus the request-header tagged-field byte that flexible versions carry. */
function body(bytes: Uint8Array, flexible: boolean): string {
  if (flexible) expect(bytes[0]).toBe(0);
  return Buffer.from(flexible ? bytes.subarray(1) : bytes).toString("hex");
}

/** Decodes a whole fixture and checks every byte was consumed. */
function decodeAll<T>(name: string, decode: (r: ProtocolReader) => T): T {
  const r = new ProtocolReader(fixture(name));
  const value = decode(r);
  expect(r.remaining).toBe(0);
  return value;
}

describe("request encoders write what Kafka's own classes write", () => {
  const rows: { fixture: string; flexible: boolean; encode: () => Uint8Array }[] = [
    ...[1, 4, 8, 9, 10, 12, 13].flatMap((v) => [
      { fixture: `metadata-req-v${v}-all`, flexible: v >= 9, encode: () => encodeMetadataRequest(v, null) },
      {
        fixture: `metadata-req-v${v}-named`,
        flexible: v >= 9,
        encode: () => encodeMetadataRequest(v, ["orders", "payments"]),
      },
    ]),
    ...[0, 3, 4, 5].map((v) => ({
      fixture: `list-groups-req-v${v}`,
      flexible: v >= 3,
      encode: () => encodeListGroupsRequest(v, ["classic", "consumer"]),
    })),
    ...[1, 2, 3].map((v) => ({
      fixture: `find-coordinator-req-v${v}`,
      flexible: v >= 3,
      encode: () => encodeFindCoordinatorRequest(v, ["g1"]),
    })),
    ...[4, 6].map((v) => ({
      fixture: `find-coordinator-req-v${v}`,
      flexible: true,
      encode: () => encodeFindCoordinatorRequest(v, ["g1", "g2"]),
    })),
    ...[0, 3, 4, 5, 6].map((v) => ({
      fixture: `describe-groups-req-v${v}`,
      flexible: v >= 5,
      encode: () => encodeDescribeGroupsRequest(v, ["g1", "g2"]),
    })),
    ...[0, 1].map((v) => ({
      fixture: `consumer-group-describe-req-v${v}`,
      flexible: true,
      encode: () => encodeConsumerGroupDescribeRequest(v, ["g1", "g2"]),
    })),
    ...[2, 5, 6, 7].map((v) => ({
      fixture: `offset-fetch-req-v${v}`,
      flexible: v >= 6,
      encode: () => encodeOffsetFetchRequest(v, ["g1"]),
    })),
    { fixture: "offset-fetch-req-v8", flexible: true, encode: () => encodeOffsetFetchRequest(8, ["g1", "g2"]) },
    ...[2, 4, 6, 10, 11].map((v) => ({
      fixture: `list-offsets-req-v${v}`,
      flexible: v >= 6,
      encode: () =>
        encodeListOffsetsRequest(v, {
          isolationLevel: 1,
          timestamp: -2n,
          timeoutMs: 5000,
          topics: [
            { topic: "orders", partitions: [0, 3] },
            { topic: "payments", partitions: [1] },
          ],
        }),
    })),
  ];
  for (const r of rows) {
    test(r.fixture, () => {
      expect(body(r.encode(), r.flexible)).toBe(Buffer.from(fixture(r.fixture)).toString("hex"));
    });
  }

  test("single-key FindCoordinator and single-group OffsetFetch refuse several keys", () => {
    expect(() => encodeFindCoordinatorRequest(3, ["a", "b"])).toThrow();
    expect(() => encodeOffsetFetchRequest(7, ["a", "b"])).toThrow();
  });
});

describe("Metadata responses decode at every version we speak", () => {
  for (const v of [1, 2, 5, 7, 8, 9, 10, 12, 13]) {
    test(`v${v}`, () => {
      const m = decodeAll(`metadata-resp-v${v}`, (r) => decodeMetadataResponse(r, v));
      const id = (s: string) => (v >= 10 ? { topicId: s } : {});
      expect(m).toEqual({
        brokers: [
          { nodeId: 1, host: "kafka-1", port: 9092, rack: "rack-a" },
          { nodeId: 2, host: "kafka-2", port: 9093, rack: null },
        ],
        controllerId: 2,
        errorCode: 0,
        topics: [
          {
            errorCode: 0,
            name: "orders",
            ...id("ABEiM0RVZneImaq7zN3u_w"),
            isInternal: false,
            partitions: [
              { errorCode: 0, partition: 1, leader: 2, leaderEpoch: v >= 7 ? 7 : -1 },
              { errorCode: ErrorCode.LEADER_NOT_AVAILABLE, partition: 0, leader: -1, leaderEpoch: v >= 7 ? 3 : -1 },
            ],
          },
          {
            errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            name: "gone",
            ...id("AAAAAAAAAAAAAAAAAAAAAA"),
            isInternal: false,
            partitions: [],
          },
          {
            errorCode: 0,
            name: "__consumer_offsets",
            ...id("AAAAAAAAAAAAAAAAAAAAAQ"),
            isInternal: true,
            partitions: [],
          },
        ],
      });
    });
  }
});

describe("group API responses decode at every version we speak", () => {
  for (const v of [0, 1, 3, 4, 5]) {
    test(`ListGroups v${v} carries state from v4 and type from v5`, () => {
      const l = decodeAll(`list-groups-resp-v${v}`, (r) => decodeListGroupsResponse(r, v));
      const extra = (state: string, type: string) => ({
        ...(v >= 4 ? { groupState: state } : {}),
        ...(v >= 5 ? { groupType: type } : {}),
      });
      expect(l).toEqual({
        errorCode: 0,
        groups: [
          { groupId: "g1", protocolType: "consumer", ...extra("Stable", "classic") },
          { groupId: "g2", protocolType: "consumer", ...extra("Reconciling", "consumer") },
          { groupId: "c1", protocolType: "connect", ...extra("Empty", "classic") },
        ],
      });
    });
  }

  test("ListGroups broker-level error", () => {
    expect(decodeAll("list-groups-resp-v4-error", (r) => decodeListGroupsResponse(r, 4))).toEqual({
      errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE,
      groups: [],
    });
  });

  for (const v of [1, 2, 3]) {
    test(`FindCoordinator v${v} answers the one key asked`, () => {
      expect(decodeAll(`find-coordinator-resp-v${v}`, (r) => decodeFindCoordinatorResponse(r, v, "g1"))).toEqual([
        { key: "g1", nodeId: 3, host: "kafka-3", port: 9094, errorCode: 0, errorMessage: null },
      ]);
    });
  }
  for (const v of [4, 6]) {
    test(`FindCoordinator v${v} answers each key, errors per key`, () => {
      expect(decodeAll(`find-coordinator-resp-v${v}`, (r) => decodeFindCoordinatorResponse(r, v))).toEqual([
        { key: "g1", nodeId: 3, host: "kafka-3", port: 9094, errorCode: 0, errorMessage: "" },
        {
          key: "g2",
          nodeId: -1,
          host: "",
          port: -1,
          errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE,
          errorMessage: "The coordinator is not available.",
        },
      ]);
    });
  }

  for (const v of [0, 1, 3, 4, 5, 6]) {
    test(`DescribeGroups v${v}: members with assignment bytes, per-group errors`, () => {
      const groups = decodeAll(`describe-groups-resp-v${v}`, (r) => decodeDescribeGroupsResponse(r, v));
      expect(groups).toEqual([
        {
          errorCode: 0,
          errorMessage: null,
          groupId: "g1",
          groupState: "Stable",
          protocolType: "consumer",
          protocolData: "range",
          members: [
            {
              memberId: "m-1",
              groupInstanceId: v >= 4 ? "static-1" : null,
              clientId: "app",
              clientHost: "/10.0.0.7",
              memberAssignment: fixture("consumer-assignment-v3"),
            },
          ],
        },
        {
          errorCode: ErrorCode.NOT_COORDINATOR,
          errorMessage: v >= 6 ? "not the coordinator" : null,
          groupId: "g2",
          groupState: "",
          protocolType: "",
          protocolData: "",
          members: [],
        },
      ]);
    });
  }

  for (const v of [0, 1]) {
    test(`ConsumerGroupDescribe v${v}: current assignment with topic ids and names`, () => {
      const groups = decodeAll(`consumer-group-describe-resp-v${v}`, (r) => decodeConsumerGroupDescribeResponse(r, v));
      expect(groups).toEqual([
        {
          errorCode: 0,
          errorMessage: null,
          groupId: "g1",
          groupState: "Reconciling",
          members: [
            {
              memberId: "m-848",
              instanceId: null,
              clientId: "app-848",
              clientHost: "/10.0.0.8",
              assignment: [{ topicId: "ABEiM0RVZneImaq7zN3u_w", topicName: "orders", partitions: [0, 1] }],
            },
          ],
        },
        {
          errorCode: ErrorCode.GROUP_ID_NOT_FOUND,
          errorMessage: "Group g2 is not a consumer group.",
          groupId: "g2",
          groupState: "",
          members: [],
        },
      ]);
    });
  }

  for (const v of [0, 3]) {
    test(`ConsumerProtocol assignment v${v} decodes to topic partitions (user data ignored)`, () => {
      expect(decodeConsumerAssignment(fixture(`consumer-assignment-v${v}`))).toEqual([
        { topic: "orders", partitions: [0, 2] },
        { topic: "payments", partitions: [1] },
      ]);
    });
  }

  test("an empty assignment (member not yet synced) is no partitions", () => {
    expect(decodeConsumerAssignment(new Uint8Array(0))).toEqual([]);
  });
});

describe("offset API responses decode at every version we speak", () => {
  for (const v of [2, 3, 5, 6, 7]) {
    test(`OffsetFetch v${v}: one group, -1 and beyond-2^53 offsets kept as bigint`, () => {
      expect(decodeAll(`offset-fetch-resp-v${v}`, (r) => decodeOffsetFetchResponse(r, v, "g1"))).toEqual([
        {
          groupId: "g1",
          errorCode: 0,
          partitions: [
            { topic: "orders", partition: 0, offset: 42n, errorCode: 0 },
            { topic: "orders", partition: 1, offset: -1n, errorCode: 0 },
            { topic: "orders", partition: 2, offset: 9007199254740993n, errorCode: 0 },
          ],
        },
      ]);
    });
  }

  test("OffsetFetch v6 group-level error", () => {
    expect(decodeAll("offset-fetch-resp-v6-error", (r) => decodeOffsetFetchResponse(r, 6, "g1"))).toEqual([
      { groupId: "g1", errorCode: ErrorCode.NOT_COORDINATOR, partitions: [] },
    ]);
  });

  test("OffsetFetch v8: many groups, partition and group errors", () => {
    expect(decodeAll("offset-fetch-resp-v8", (r) => decodeOffsetFetchResponse(r, 8))).toEqual([
      {
        groupId: "g1",
        errorCode: 0,
        partitions: [
          { topic: "orders", partition: 0, offset: 42n, errorCode: 0 },
          { topic: "orders", partition: 1, offset: -1n, errorCode: 0 },
          { topic: "payments", partition: 3, offset: 7n, errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT },
        ],
      },
      { groupId: "g2", errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, partitions: [] },
    ]);
  });

  for (const v of [2, 4, 6, 10, 11]) {
    test(`ListOffsets v${v}: offsets and partition errors`, () => {
      expect(decodeAll(`list-offsets-resp-v${v}`, (r) => decodeListOffsetsResponse(r, v))).toEqual([
        { topic: "orders", partition: 0, errorCode: 0, offset: 1234 },
        { topic: "orders", partition: 3, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, offset: -1 },
        // 2^53 + 1 cannot be a number: NaN, which the watermark code reports as a missing watermark.
        { topic: "payments", partition: 1, errorCode: 0, offset: Number.NaN },
      ]);
    });
  }
});

describe("error codes and states", () => {
  const reasons = [
    { code: ErrorCode.GROUP_AUTHORIZATION_FAILED, reason: "authorization" },
    { code: ErrorCode.TOPIC_AUTHORIZATION_FAILED, reason: "authorization" },
    { code: ErrorCode.NOT_COORDINATOR, reason: "coordinator_unavailable" },
    { code: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, reason: "coordinator_unavailable" },
    { code: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, reason: "unknown_topic" },
    { code: ErrorCode.NOT_LEADER_OR_FOLLOWER, reason: "no_leader" },
    { code: ErrorCode.OFFSET_NOT_AVAILABLE, reason: "no_leader" },
    { code: ErrorCode.REQUEST_TIMED_OUT, reason: "timeout" },
    { code: ErrorCode.GROUP_ID_NOT_FOUND, reason: "describe_failed" },
    { code: 12345, reason: "describe_failed" },
  ] as const;
  for (const r of reasons) {
    test(`${errorName(r.code)} is reason ${r.reason}`, () => {
      expect(reasonForCode(r.code, "describe_failed")).toBe(r.reason);
    });
  }

  test("error names carry the code; unknown codes stay readable", () => {
    expect(errorName(16)).toBe("NOT_COORDINATOR (16)");
    expect(errorName(-1)).toBe("UNKNOWN_SERVER_ERROR (-1)");
    expect(errorName(12345)).toBe("error 12345");
  });

  test("coordinator moves and stale metadata are recognised", () => {
    expect([16, 15, 14, 30].map(isCoordinatorMoved)).toEqual([true, true, false, false]);
    expect([6, 3, 5, 78, 0].map(isMetadataStale)).toEqual([true, true, true, false, false]);
  });

  const states = [
    { name: "Stable", state: "Stable" },
    { name: "PreparingRebalance", state: "PreparingRebalance" },
    { name: "CompletingRebalance", state: "CompletingRebalance" },
    { name: "Empty", state: "Empty" },
    { name: "Dead", state: "Dead" },
    { name: "Assigning", state: "Assigning" },
    { name: "Reconciling", state: "Reconciling" },
    { name: "STABLE", state: "Stable" },
    { name: "NotReady", state: "Unknown" },
    { name: "", state: "Unknown" },
  ] as const;
  for (const s of states) {
    test(`group state "${s.name}" maps to ${s.state}`, () => {
      expect(toGroupState(s.name)).toBe(s.state);
    });
  }
});
