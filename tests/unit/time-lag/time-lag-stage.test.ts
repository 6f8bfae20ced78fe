import { describe, expect, test } from "bun:test";
import type { TimestampSamplingConfig } from "../../../src/config/types.ts";
import { type ClusterMetadata, groupPartitionKey, partitionKey, type Watermarks } from "../../../src/core/types.ts";
import { createTimeLagStage } from "../../../src/daemon/time-lag-stage.ts";
import type { FetchBrokers } from "../../../src/kafka/fetch-batches.ts";
import { KafkaTransportError } from "../../../src/kafka/raw.ts";
import { createLogger } from "../../../src/lib/log.ts";

const T0 = 1_700_000_000_000;
const metadata: ClusterMetadata = {
  topics: new Map([
    [
      "orders",
      [
        { partition: 0, leader: 1 },
        { partition: 1, leader: 1 },
      ],
    ],
  ]),
  brokers: [{ nodeId: 1, host: "127.0.0.1", port: 1 }],
};
const config = (over: Partial<TimestampSamplingConfig> = {}): TimestampSamplingConfig => ({
  enabled: true,
  mode: "hybrid",
  cacheTtlMs: 60_000,
  maxConcurrentFetches: 4,
  fetchTimeoutMs: 1000,
  skipDataLossPartitions: true,
  rateHistorySamples: 10,
  rateHistoryMaxAgeMs: 600_000,
  rateMinMsgsPerSec: 0.5,
  ...over,
});
/** A broker that cannot be reached: every read fails, and the stage must still answer. */
let attempts = 0;
const unreachable: FetchBrokers = {
  broker: async () => {
    attempts++;
    throw new KafkaTransportError("connection", "connect ECONNREFUSED");
  },
};
const logger = createLogger({ level: "error", format: "logfmt", write: () => {} });
const wm = (latest: number): Map<string, Watermarks> =>
  new Map([
    [partitionKey("orders", 0), { earliest: 0, latest }],
    [partitionKey("orders", 1), { earliest: 0, latest: 50 }],
  ]);
const committed = [
  { group: "g", topic: "orders", partition: 0, offset: 100 },
  { group: "g", topic: "orders", partition: 1, offset: 50 },
];

describe("createTimeLagStage", () => {
  test("hybrid falls back to the rate estimate when the leader cannot be read", async () => {
    const stage = createTimeLagStage({ config: config(), client: unreachable, logger });
    const first = await stage.run({ nowMs: T0, metadata, watermarks: wm(1000), committed });
    // One sample only: no rate yet, and the read failed: absent, not 0. The caught-up partition is 0.
    expect(first.timeLag.has(groupPartitionKey("g", "orders", 0))).toBe(false);
    expect(first.timeLag.get(groupPartitionKey("g", "orders", 1))).toEqual({ seconds: 0, method: "message" });
    expect(first.gaps).toEqual({ insufficientHistory: 1 });
    expect(first.stats.fetchErrors).toBe(1);
    const second = await stage.run({ nowMs: T0 + 30_000, metadata, watermarks: wm(1300), committed });
    // 300 messages in 30 s = 10 msg/s; lag 1200 → 120 s.
    expect(second.timeLag.get(groupPartitionKey("g", "orders", 0))).toEqual({ seconds: 120, method: "rate" });
    expect(second.methodCounts).toEqual({ message: 1, rate: 1 });
  });

  test("message mode leaves a failed read absent and never throws", async () => {
    const stage = createTimeLagStage({ config: config({ mode: "message" }), client: unreachable, logger });
    const r = await stage.run({ nowMs: T0, metadata, watermarks: wm(1000), committed });
    expect(r.timeLag.has(groupPartitionKey("g", "orders", 0))).toBe(false);
    expect(r.gaps).toEqual({ fetchFailed: 1 });
    expect(r.compaction.get(groupPartitionKey("g", "orders", 0))).toBe(false);
  });

  test("rate mode never touches a broker", async () => {
    attempts = 0;
    const stage = createTimeLagStage({ config: config({ mode: "rate" }), client: unreachable, logger });
    await stage.run({ nowMs: T0, metadata, watermarks: wm(1000), committed });
    const r = await stage.run({ nowMs: T0 + 10_000, metadata, watermarks: wm(1100), committed });
    expect(attempts).toBe(0);
    expect(r.timeLag.get(groupPartitionKey("g", "orders", 0))).toEqual({ seconds: 100, method: "rate" });
  });

  test("a partition missing from the watermarks gets no value and costs no read", async () => {
    attempts = 0;
    const stage = createTimeLagStage({ config: config({ mode: "message" }), client: unreachable, logger });
    const r = await stage.run({ nowMs: T0, metadata, watermarks: new Map(), committed });
    expect(attempts).toBe(0);
    expect(r.timeLag.size).toBe(0);
    expect(r.gaps).toEqual({ watermarkMissing: 2 });
  });

  test("disabled sampling produces nothing", async () => {
    const stage = createTimeLagStage({ config: config({ enabled: false }), client: unreachable, logger });
    const r = await stage.run({ nowMs: T0, metadata, watermarks: wm(1000), committed });
    expect(r.timeLag.size).toBe(0);
    expect(r.compaction.size).toBe(0);
  });
});
