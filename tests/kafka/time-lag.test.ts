/**
 * Time lag, data loss, compaction evidence and transactions against a real broker. Every timestamp a
 * test checks was written by the test itself (explicit CreateTime, or the wall clock around a
 * LogAppendTime produce).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { CompressionTypes, Kafka, logLevel, type Producer } from "kafkajs";
import type { TimestampSamplingConfig } from "../../src/config/types.ts";
import { computeCycleLag, type PartitionLag } from "../../src/core/lag.ts";
import { type CycleObservation, groupPartitionKey, type Watermarks } from "../../src/core/types.ts";
import { createTimeLagStage, type TimeLagStage, type TimeLagStageResult } from "../../src/daemon/time-lag-stage.ts";
import { createKafkaClusterClient, type KafkaClusterClient } from "../../src/kafka/client.ts";
import {
  decodeFetchResponse,
  encodeFetchRequest,
  FETCH,
  fetchRecordsAt,
  fetchTargetKey,
} from "../../src/kafka/fetch-batches.ts";
import { sendRaw } from "../../src/kafka/raw.ts";
import { parseRecordBatches } from "../../src/kafka/record-batch.ts";
import { createLogger } from "../../src/lib/log.ts";
import { admin, closeHarnessClients, commitOffsets, createTopic, kafka, produce, uniqueName } from "./harness.ts";

const SEC = 1000;
setDefaultTimeout(60_000);
let client: KafkaClusterClient;
let bootstrap: string[];
const logger = createLogger({ level: "error", format: "logfmt" });

function config(over: Partial<TimestampSamplingConfig> = {}): TimestampSamplingConfig {
  return {
    enabled: true,
    mode: "message",
    cacheTtlMs: 60_000,
    maxConcurrentFetches: 10,
    fetchTimeoutMs: 5_000,
    skipDataLossPartitions: true,
    rateHistorySamples: 30,
    rateHistoryMaxAgeMs: 600_000,
    rateMinMsgsPerSec: 0.5,
    ...over,
  };
}

function stageFor(over: Partial<TimestampSamplingConfig> = {}): TimeLagStage {
  return createTimeLagStage({ config: config(over), client, logger });
}

interface Cycle {
  nowMs: number;
  result: TimeLagStageResult;
  watermarks: Map<string, Watermarks>;
  /** group → topic/partition → core/lag.ts's computation with our time lag and compaction. */
  lag: Map<string, PartitionLag[]>;
}

/** One collection cycle for `groups` on `topics`, through the real client, the stage and core/lag. */
async function cycle(stage: TimeLagStage, groups: string[], topics: string[], nowMs = Date.now()): Promise<Cycle> {
  const md = await client.metadata({ refresh: true });
  if (md.kind !== "ok") throw new Error(`metadata: ${md.message}`);
  const partitions = topics.flatMap((topic) =>
    (md.value.topics.get(topic) ?? []).map((p) => ({ topic, partition: p.partition })),
  );
  const wm = await client.fetchWatermarks(partitions, { lastStable: true });
  expect(wm.failed).toEqual([]);
  const offsets = await client.fetchCommittedOffsets(groups);
  const committed = groups.flatMap((group) => {
    const o = offsets.get(group);
    if (o?.kind !== "ok") throw new Error(`offsets of ${group}: ${o?.kind === "error" ? o.message : "missing"}`);
    return o.value.filter((c) => topics.includes(c.topic)).map((c) => ({ group, ...c }));
  });
  const result = await stage.run({ nowMs, metadata: md.value, watermarks: wm.watermarks, committed });
  const observation: CycleObservation = {
    nowMs,
    watermarks: wm.watermarks,
    groups: groups.map((groupId) => ({
      groupId,
      description: { kind: "ok", value: { groupId, state: "Empty", kind: "classic", members: [] } },
      offsets: offsets.get(groupId)!,
    })),
    timeLag: result.timeLag,
    compaction: result.compaction,
  };
  const computed = computeCycleLag(observation, (t) => topics.includes(t));
  const lag = new Map(computed.groups.map((g) => [g.groupId, g.partitions]));
  return { nowMs, result, watermarks: wm.watermarks, lag };
}

function seconds(c: Cycle, group: string, topic: string, partition: number): number | undefined {
  return c.result.timeLag.get(groupPartitionKey(group, topic, partition))?.seconds;
}

function partitionLag(c: Cycle, group: string, topic: string, partition: number): PartitionLag {
  const p = c.lag.get(group)?.find((x) => x.topic === topic && x.partition === partition);
  if (p === undefined) throw new Error(`no lag for ${group} ${topic}/${partition}`);
  return p;
}

/** partition → latest offset, from our client. */
async function latestOffsets(topic: string): Promise<Map<number, number>> {
  const md = await client.metadata({ refresh: true });
  if (md.kind !== "ok") throw new Error("metadata");
  const parts = (md.value.topics.get(topic) ?? []).map((p) => ({ topic, partition: p.partition }));
  const wm = await client.fetchWatermarks(parts, { lastStable: false });
  return new Map(parts.map((p) => [p.partition, wm.watermarks.get(`${topic}\u0000${p.partition}`)!.latest]));
}

/** The compression codec of the first batch stored in a partition, read with our own Fetch. */
async function storedCodec(topic: string, partition: number): Promise<string | undefined> {
  const md = await client.metadata({ refresh: true });
  if (md.kind !== "ok") throw new Error("metadata");
  const leader = md.value.topics.get(topic)!.find((p) => p.partition === partition)!.leader;
  const broker = await client.broker(leader, 5000);
  const reader = await sendRaw(broker, {
    apiKey: FETCH.apiKey,
    apiVersion: FETCH.version,
    apiName: FETCH.apiName,
    body: encodeFetchRequest([{ topic, partition, fetchOffset: 0, maxBytes: 65536 }], 65536),
    flexibleResponse: false,
  });
  const records = decodeFetchResponse(reader).partitions[0]!.records;
  return parseRecordBatches(records).batches[0]?.header.compression;
}

beforeAll(async () => {
  const env = await kafka(1);
  bootstrap = env.bootstrap;
  client = createKafkaClusterClient({
    name: "time-lag-test",
    connection: { clientId: "klag-time-lag-test", brokers: bootstrap },
    timeoutMs: 10_000,
    metadataTtlMs: 0,
    logger: () => {},
  });
  const connected = await client.connect();
  if (connected.kind !== "ok") throw new Error(`connect: ${connected.message}`);
});

afterAll(async () => {
  await client?.close();
  await closeHarnessClients();
});

describe("message and hybrid mode", () => {
  test("report now minus the timestamp of the record at the committed offset", async () => {
    const topic = uniqueName("tl-msg");
    const group = uniqueName("g-msg");
    await createTopic(topic, 2);
    const base = Date.now();
    // p0: ten records written 600 s … 60 s ago; p1: caught up.
    const written = Array.from({ length: 10 }, (_, i) => base - 600 * SEC + i * 60 * SEC);
    await produce(topic, [
      ...written.map((timestamp, i) => ({ partition: 0, key: `k${i}`, timestamp })),
      ...written.map((timestamp) => ({ partition: 1, timestamp })),
    ]);
    await commitOffsets(group, topic, [
      { partition: 0, offset: 4 },
      { partition: 1, offset: 10 },
    ]);

    for (const mode of ["message", "hybrid"] as const) {
      const c = await cycle(stageFor({ mode }), [group], [topic]);
      const expected = (c.nowMs - written[4]!) / 1000;
      expect(Math.abs(seconds(c, group, topic, 0)! - expected)).toBeLessThan(1);
      expect(c.result.timeLag.get(groupPartitionKey(group, topic, 0))?.method).toBe("message");
      expect(seconds(c, group, topic, 1)).toBe(0);
      expect(c.result.methodCounts).toEqual({ message: 2, rate: 0 });
      expect(c.result.stats.fetchRequests).toBe(1);
      // The lead's aggregate sees the same value.
      expect(c.lag.get(group)!.find((p) => p.partition === 0)?.timeLag?.seconds).toBeCloseTo(expected, 3);
      expect(c.result.compaction.get(groupPartitionKey(group, topic, 0))).toBe(false);
    }
  });

  test("share one read across groups at the same offset and answer repeats from the cache", async () => {
    const topic = uniqueName("tl-share");
    const groups = [uniqueName("g-a"), uniqueName("g-b"), uniqueName("g-c")];
    await createTopic(topic, 1);
    const base = Date.now() - 300 * SEC;
    await produce(
      topic,
      Array.from({ length: 20 }, (_, i) => ({ partition: 0, timestamp: base + i * SEC })),
    );
    for (const g of groups) await commitOffsets(g, topic, [{ partition: 0, offset: 7 }]);
    const stage = stageFor({ mode: "message" });
    const first = await cycle(stage, groups, [topic]);
    expect(first.result.stats).toMatchObject({ readsNeeded: 1, cacheHits: 0, fetchRequests: 1 });
    for (const g of groups) expect(seconds(first, g, topic, 0)).toBeCloseTo((first.nowMs - (base + 7 * SEC)) / 1000, 3);
    const second = await cycle(stage, groups, [topic]);
    expect(second.result.stats).toMatchObject({ readsNeeded: 1, cacheHits: 1, fetchRequests: 0 });
    expect(seconds(second, groups[0]!, topic, 0)).toBeCloseTo((second.nowMs - (base + 7 * SEC)) / 1000, 3);
  });

  test("read gzip and zstd batches to the exact record", async () => {
    const topic = uniqueName("tl-codec");
    const group = uniqueName("g-codec");
    await createTopic(topic, 2);
    const base = Date.now() - 500 * SEC;
    const msgs = (partition: number) =>
      Array.from({ length: 30 }, (_, i) => ({
        partition,
        value: `payload-${i}-${"z".repeat(200)}`,
        timestamp: base + i * 7 * SEC,
      }));
    await produce(topic, msgs(0), { compression: CompressionTypes.GZIP });
    await produce(topic, msgs(1), { compression: CompressionTypes.ZSTD });
    expect(await storedCodec(topic, 0)).toBe("gzip");
    expect(await storedCodec(topic, 1)).toBe("zstd");
    await commitOffsets(group, topic, [
      { partition: 0, offset: 13 },
      { partition: 1, offset: 21 },
    ]);
    const c = await cycle(stageFor({ mode: "message" }), [group], [topic]);
    expect(seconds(c, group, topic, 0)).toBeCloseTo((c.nowMs - (base + 13 * 7 * SEC)) / 1000, 3);
    expect(seconds(c, group, topic, 1)).toBeCloseTo((c.nowMs - (base + 21 * 7 * SEC)) / 1000, 3);
  });

  test("use the broker's append time on a LogAppendTime topic", async () => {
    const topic = uniqueName("tl-lat");
    const group = uniqueName("g-lat");
    await createTopic(topic, 1, { configs: { "message.timestamp.type": "LogAppendTime" } });
    const before = Date.now();
    // The producer's timestamps are 600 s old; the broker replaces them with its clock.
    await produce(
      topic,
      Array.from({ length: 5 }, (_, i) => ({ partition: 0, timestamp: before - 600 * SEC + i })),
    );
    const after = Date.now();
    await commitOffsets(group, topic, [{ partition: 0, offset: 2 }]);
    const c = await cycle(stageFor({ mode: "message" }), [group], [topic]);
    const s = seconds(c, group, topic, 0)!;
    expect(s).toBeGreaterThanOrEqual((c.nowMs - after) / 1000 - 0.001);
    expect(s).toBeLessThanOrEqual((c.nowMs - before) / 1000 + 0.001);

    const md = await client.metadata();
    if (md.kind !== "ok") throw new Error("metadata");
    const round = await fetchRecordsAt(
      [{ topic, partition: 0, offset: 2, leader: md.value.topics.get(topic)![0]!.leader }],
      {
        brokers: client,
        timeoutMs: 5000,
        maxConcurrentBrokers: 1,
      },
    );
    expect(round.results.get(fetchTargetKey(topic, 0, 2))).toMatchObject({
      kind: "record",
      offset: 2,
      timestampType: "LogAppendTime",
      precision: "exact",
    });
  });
});

describe("the Fetch round", () => {
  test("reads batches larger than the partition budget in follow-ups with bigger budgets", async () => {
    const topic = uniqueName("tl-big");
    await createTopic(topic, 3);
    const base = Date.now() - 100 * SEC;
    // p0 and p2: one ~110 KB batch of 500 records each; p1: a small batch.
    for (const partition of [0, 2]) {
      await produce(
        topic,
        Array.from({ length: 500 }, (_, i) => ({ partition, value: "b".repeat(200), timestamp: base + i })),
      );
    }
    await produce(topic, [{ partition: 1, timestamp: base }]);
    const md = await client.metadata({ refresh: true });
    if (md.kind !== "ok") throw new Error("metadata");
    const leader = md.value.topics.get(topic)![0]!.leader;
    const round = await fetchRecordsAt(
      [
        { topic, partition: 1, offset: 0, leader },
        { topic, partition: 0, offset: 250, leader },
        { topic, partition: 2, offset: 400, leader },
      ],
      { brokers: client, timeoutMs: 5000, maxConcurrentBrokers: 1, partitionMaxBytes: 4096 },
    );
    // Pass 1 (4 KiB each): p1 only. Pass 2 (32 KiB): p0 comes whole because it leads the request
    // (Kafka always sends the first partition's first batch), p2 does not fit. Pass 3 (1 MiB): p2.
    expect(round.stats).toMatchObject({ requests: 3, followUps: 3 });
    expect(round.results.get(fetchTargetKey(topic, 0, 250))).toMatchObject({
      kind: "record",
      offset: 250,
      timestampMs: base + 250,
      precision: "exact",
    });
    expect(round.results.get(fetchTargetKey(topic, 2, 400))).toMatchObject({
      kind: "record",
      offset: 400,
      timestampMs: base + 400,
      precision: "exact",
    });
    expect(round.results.get(fetchTargetKey(topic, 1, 0))).toMatchObject({ kind: "record", timestampMs: base });
  });

  test("answers several groups' offsets on one partition from one response when it covers them", async () => {
    const topic = uniqueName("tl-multi");
    await createTopic(topic, 1);
    const base = Date.now() - 100 * SEC;
    for (let b = 0; b < 4; b++) {
      await produce(
        topic,
        Array.from({ length: 5 }, (_, i) => ({ partition: 0, timestamp: base + (b * 5 + i) * SEC })),
      );
    }
    const md = await client.metadata({ refresh: true });
    if (md.kind !== "ok") throw new Error("metadata");
    const leader = md.value.topics.get(topic)![0]!.leader;
    const offsets = [17, 3, 8, 20, 25];
    const round = await fetchRecordsAt(
      offsets.map((offset) => ({ topic, partition: 0, offset, leader })),
      { brokers: client, timeoutMs: 5000, maxConcurrentBrokers: 1 },
    );
    // 3, 8 and 17 come from the response at 3; 20 (= latest) is "nothing yet"; 25 needs the broker.
    expect(round.stats.requests).toBe(2);
    for (const o of [3, 8, 17]) {
      expect(round.results.get(fetchTargetKey(topic, 0, o))).toMatchObject({
        kind: "record",
        offset: o,
        timestampMs: base + o * SEC,
      });
    }
    expect(round.results.get(fetchTargetKey(topic, 0, 20))).toMatchObject({ kind: "noRecord" });
    expect(round.results.get(fetchTargetKey(topic, 0, 25))).toEqual({ kind: "outOfRange" });
  });

  test("answers a partition without a leader, and an unreachable broker, as errors without waiting", async () => {
    const started = Date.now();
    const round = await fetchRecordsAt(
      [
        { topic: "nowhere", partition: 0, offset: 0, leader: -1 },
        { topic: "nowhere", partition: 1, offset: 0, leader: 999 },
      ],
      { brokers: client, timeoutMs: 2000, maxConcurrentBrokers: 2 },
    );
    expect(round.results.get(fetchTargetKey("nowhere", 0, 0))).toEqual({ kind: "error", reason: "no_leader" });
    expect(round.results.get(fetchTargetKey("nowhere", 1, 0))?.kind).toBe("error");
    expect(round.stats.requests).toBe(0);
    expect(Date.now() - started).toBeLessThan(2500);
  });
});

describe("rate mode", () => {
  test("estimates a steady producer's time lag within 15 % and gives an idle partition no value", async () => {
    const topic = uniqueName("tl-rate");
    const group = uniqueName("g-rate");
    await createTopic(topic, 2);
    // p1: 10 old records, then nothing: lag 10 with rate 0.
    await produce(
      topic,
      Array.from({ length: 10 }, () => ({ partition: 1 })),
    );
    await commitOffsets(group, topic, [
      { partition: 0, offset: 40 },
      { partition: 1, offset: 0 },
    ]);
    const stage = stageFor({ mode: "rate" });
    // p0: 5 records every 250 ms (20 msg/s) for 8 s, a cycle every second; the record at offset 40
    // is written 2 s in. Stated tolerance: ±15 % of the true age (one 250 ms burst is ~4 % of 6 s).
    const start = Date.now();
    const writtenAt: number[] = [];
    let last: Cycle | undefined;
    for (let burst = 0; burst < 32; burst++) {
      await Bun.sleep(Math.max(0, start + burst * 250 - Date.now()));
      const t = Date.now();
      writtenAt.push(t);
      await produce(
        topic,
        Array.from({ length: 5 }, () => ({ partition: 0, timestamp: t })),
      );
      if (burst % 4 === 3) last = await cycle(stage, [group], [topic]);
    }
    const c = last!;
    const truth = (c.nowMs - writtenAt[8]!) / 1000; // offset 40 = burst 8, ≈ 6 s ago
    const estimate = seconds(c, group, topic, 0)!;
    console.log(`rate mode: estimate ${estimate.toFixed(2)} s, record written ${truth.toFixed(2)} s ago`);
    expect(c.result.timeLag.get(groupPartitionKey(group, topic, 0))?.method).toBe("rate");
    expect(Math.abs(estimate - truth)).toBeLessThan(truth * 0.15);
    expect(partitionLag(c, group, topic, 1).lag).toBe(10);
    expect(seconds(c, group, topic, 1)).toBeUndefined();
    expect(c.result.gaps.belowMinRate).toBe(1);
    expect(c.result.stats.fetchRequests).toBe(0);
  });

  test("has no value on the first cycle (one sample), never a zero", async () => {
    const topic = uniqueName("tl-first");
    const group = uniqueName("g-first");
    await createTopic(topic, 1);
    await produce(topic, [{ partition: 0 }, { partition: 0 }]);
    await commitOffsets(group, topic, [{ partition: 0, offset: 0 }]);
    const c = await cycle(stageFor({ mode: "rate" }), [group], [topic]);
    expect(seconds(c, group, topic, 0)).toBeUndefined();
    expect(c.result.gaps.insufficientHistory).toBe(1);
    expect(partitionLag(c, group, topic, 0).timeLag).toBeUndefined();
  });
});

describe("idle partitions", () => {
  test("50 caught-up partitions cost no Fetch request in message mode", async () => {
    const topic = uniqueName("tl-idle");
    const group = uniqueName("g-idle");
    await createTopic(topic, 50);
    await produce(
      topic,
      Array.from({ length: 50 }, (_, partition) => ({ partition })),
    );
    // Committed = latest, whatever the producer wrote (a kafkajs retry can write a record twice).
    const latest = await latestOffsets(topic);
    expect(latest.size).toBe(50);
    await commitOffsets(
      group,
      topic,
      [...latest].map(([partition, offset]) => ({ partition, offset })),
    );
    const message = await cycle(stageFor({ mode: "message" }), [group], [topic]);
    const rate = await cycle(stageFor({ mode: "rate" }), [group], [topic]);
    console.log(
      `50 idle partitions: message mode ${message.result.stats.fetchRequests} Fetch requests in ${message.result.stats.durationMs} ms; ` +
        `rate mode ${rate.result.stats.fetchRequests} in ${rate.result.stats.durationMs} ms`,
    );
    expect(message.result.stats.fetchRequests).toBe(0);
    expect(message.result.methodCounts.message).toBe(50);
    expect([...message.result.timeLag.values()].every((v) => v.seconds === 0)).toBe(true);
  });

  test("50 lagging partitions with nothing newer are one Fetch request that does not wait", async () => {
    const topic = uniqueName("tl-lagidle");
    const group = uniqueName("g-lagidle");
    await createTopic(topic, 50);
    const base = Date.now() - 120 * SEC;
    await produce(
      topic,
      Array.from({ length: 50 }, (_, partition) => ({ partition, timestamp: base + partition })),
    );
    await commitOffsets(
      group,
      topic,
      Array.from({ length: 50 }, (_, partition) => ({ partition, offset: 0 })),
    );
    const c = await cycle(stageFor({ mode: "message", fetchTimeoutMs: 10_000 }), [group], [topic]);
    console.log(
      `50 lagging idle partitions: ${c.result.stats.fetchRequests} Fetch request(s) in ${c.result.stats.durationMs} ms`,
    );
    expect(c.result.stats.fetchRequests).toBe(1);
    // Not a speed target: a round that waited for data would run into the 10 s fetch timeout.
    expect(c.result.stats.durationMs).toBeLessThan(10_000 / 2);
    for (let p = 0; p < 50; p++) expect(seconds(c, group, topic, p)).toBeCloseTo((c.nowMs - (base + p)) / 1000, 3);
  });
});

describe("retention and data loss", () => {
  test("DeleteRecords past the committed offset is out of range, data loss, and the full lag", async () => {
    const topic = uniqueName("tl-del");
    const group = uniqueName("g-del");
    await createTopic(topic, 1);
    const base = Date.now() - 200 * SEC;
    await produce(
      topic,
      Array.from({ length: 20 }, (_, i) => ({ partition: 0, timestamp: base + i * SEC })),
    );
    await commitOffsets(group, topic, [{ partition: 0, offset: 5 }]);
    await (await admin()).deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: "12" }] });

    const read = await cycle(stageFor({ mode: "message", skipDataLossPartitions: false }), [group], [topic]);
    expect(read.watermarks.get(`${topic}\u00000`)).toMatchObject({ earliest: 12, latest: 20 });
    expect(read.result.stats).toMatchObject({ fetchRequests: 1, outOfRange: 1 });
    expect(read.result.gaps).toEqual({ outOfRange: 1 });
    expect(seconds(read, group, topic, 0)).toBeUndefined();
    expect(partitionLag(read, group, topic, 0)).toMatchObject({
      lag: 15,
      dataLoss: true,
      lostMessages: 7,
      retentionMargin: -7,
      compacted: false,
    });
    expect(partitionLag(read, group, topic, 0).lagRetentionRatio).toBeCloseTo((15 / 8) * 100, 6);

    const skipped = await cycle(stageFor({ mode: "message", skipDataLossPartitions: true }), [group], [topic]);
    expect(skipped.result.stats.fetchRequests).toBe(0);
    expect(skipped.result.gaps).toEqual({ dataLoss: 1 });
  });
});

describe("compaction evidence", () => {
  test("is true only where the cleaner removed the committed record", async () => {
    const topic = uniqueName("tl-compact");
    const groupGone = uniqueName("g-gone");
    const groupKept = uniqueName("g-kept");
    await createTopic(topic, 2, {
      configs: {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0",
        "delete.retention.ms": "100",
      },
    });
    const base = Date.now() - 400 * SEC;
    const ts = (offset: number) => base + offset * SEC;
    // p0: keys k0…k9 at offsets 0–9, then the same keys again at 10–19: 0–9 are cleanable.
    // p1: unique keys only: nothing to clean.
    for (let round = 0; round < 2; round++) {
      await produce(
        topic,
        Array.from({ length: 10 }, (_, i) => ({ partition: 0, key: `k${i}`, timestamp: ts(round * 10 + i) })),
      );
      await produce(
        topic,
        Array.from({ length: 10 }, (_, i) => ({
          partition: 1,
          key: `u${round * 10 + i}`,
          timestamp: ts(round * 10 + i),
        })),
      );
    }
    await commitOffsets(groupGone, topic, [
      { partition: 0, offset: 3 },
      { partition: 1, offset: 3 },
    ]);
    await commitOffsets(groupKept, topic, [{ partition: 0, offset: 13 }]);

    // Roll segments (a produce after segment.ms starts a new one) until the cleaner has removed offset 3.
    const md = await client.metadata({ refresh: true });
    if (md.kind !== "ok") throw new Error("metadata");
    const leader = md.value.topics.get(topic)![0]!.leader;
    const deadline = Date.now() + 90_000;
    let rolls = 0;
    for (;;) {
      await Bun.sleep(300);
      await produce(topic, [
        { partition: 0, key: `roll-${rolls}` },
        { partition: 1, key: `roll-${rolls}` },
      ]);
      rolls++;
      const round = await fetchRecordsAt([{ topic, partition: 0, offset: 3, leader }], {
        brokers: client,
        timeoutMs: 5000,
        maxConcurrentBrokers: 1,
      });
      const r = round.results.get(fetchTargetKey(topic, 0, 3));
      if (r?.kind === "record" && r.offset > 3) break;
      if (Date.now() > deadline) throw new Error(`cleaner did not remove offset 3 in 90 s (${rolls} rolls)`);
    }

    const c = await cycle(stageFor({ mode: "message" }), [groupGone, groupKept], [topic]);
    expect(c.result.compaction.get(groupPartitionKey(groupGone, topic, 0))).toBe(true);
    expect(c.result.compaction.get(groupPartitionKey(groupGone, topic, 1))).toBe(false);
    expect(c.result.compaction.get(groupPartitionKey(groupKept, topic, 0))).toBe(false);
    expect(partitionLag(c, groupGone, topic, 0).compacted).toBe(true);
    expect(partitionLag(c, groupGone, topic, 1).compacted).toBe(false);
    expect(partitionLag(c, groupKept, topic, 0).compacted).toBe(false);
    // The next record the group will get is k0's second version at offset 10.
    expect(seconds(c, groupGone, topic, 0)).toBeCloseTo((c.nowMs - ts(10)) / 1000, 3);
    expect(seconds(c, groupGone, topic, 1)).toBeCloseTo((c.nowMs - ts(3)) / 1000, 3);
    expect(seconds(c, groupKept, topic, 0)).toBeCloseTo((c.nowMs - ts(13)) / 1000, 3);
  }, 120_000);
});

describe("transactions", () => {
  let producer: Producer | undefined;
  afterAll(async () => {
    await producer?.disconnect().catch(() => {});
  });

  test("an open transaction shows as LSO distance and time lag, and does not slow the round", async () => {
    const topic = uniqueName("tl-txn");
    const atLso = uniqueName("g-lso");
    const behind = uniqueName("g-behind");
    const onMarker = uniqueName("g-marker");
    await createTopic(topic, 1);
    const kafkaJs = new Kafka({ brokers: bootstrap, logLevel: logLevel.NOTHING });
    producer = kafkaJs.producer({ transactionalId: uniqueName("tx"), maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    const base = Date.now() - 300 * SEC;
    const ts = (offset: number) => base + offset * SEC;
    // Committed transaction: records 0–4, commit marker at 5. Open transaction: records 6–10.
    const committedTx = await producer.transaction();
    await committedTx.send({
      topic,
      messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `c${i}`, timestamp: String(ts(i)) })),
    });
    await committedTx.commit();
    const openTx = await producer.transaction();
    await openTx.send({
      topic,
      messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `o${i}`, timestamp: String(ts(6 + i)) })),
    });
    try {
      await commitOffsets(atLso, topic, [{ partition: 0, offset: 6 }]);
      await commitOffsets(behind, topic, [{ partition: 0, offset: 2 }]);
      await commitOffsets(onMarker, topic, [{ partition: 0, offset: 5 }]);
      const groups = [atLso, behind, onMarker];
      const c = await cycle(stageFor({ mode: "message", fetchTimeoutMs: 10_000 }), groups, [topic]);
      expect(c.watermarks.get(`${topic}\u00000`)).toMatchObject({ earliest: 0, latest: 11, lastStable: 6 });
      console.log(
        `open transaction: Fetch round ${c.result.stats.durationMs} ms, ${c.result.stats.fetchRequests} request(s)`,
      );
      // Not a speed target: a round blocked by the open transaction would run into the 10 s timeout.
      expect(c.result.stats.fetchRequests).toBe(1);
      expect(c.result.stats.durationMs).toBeLessThan(10_000 / 2);
      // Lag against the high watermark (as kafka-consumer-groups), and the distance to the LSO.
      expect(partitionLag(c, atLso, topic, 0)).toMatchObject({ lag: 5, lagStable: 0 });
      expect(partitionLag(c, behind, topic, 0)).toMatchObject({ lag: 9, lagStable: 4 });
      // Time lag: the next record at the committed offset, open transaction or not.
      expect(seconds(c, atLso, topic, 0)).toBeCloseTo((c.nowMs - ts(6)) / 1000, 3);
      expect(seconds(c, behind, topic, 0)).toBeCloseTo((c.nowMs - ts(2)) / 1000, 3);
      // Committed on the commit marker: the next record is 6, and the marker is no compaction gap.
      expect(seconds(c, onMarker, topic, 0)).toBeCloseTo((c.nowMs - ts(6)) / 1000, 3);
      for (const g of groups) expect(c.result.compaction.get(groupPartitionKey(g, topic, 0))).toBe(false);
    } finally {
      await openTx.abort();
    }
  });
});
