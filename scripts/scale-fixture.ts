/**
 * Scale fixture: N consumer groups over M partitions on a running cluster, for the cycle bench.
 * Topics of `partitionsPerTopic` partitions, a few messages per partition (batched producer),
 * each group committed on `topicsPerGroup` topics (admin.setOffsets, 50 groups in parallel).
 * Usage: bun run scripts/scale-fixture.ts --bootstrap HOST:PORT [--groups 200] [--partitions 2000]
 *        [--partitions-per-topic 20] [--topics-per-group 2] [--messages 5] [--prefix scale]
 */
import "../src/lib/quiet-warnings.ts";
import { parseArgs } from "node:util";
import { type Admin, Kafka, logLevel } from "kafkajs";

export interface ScaleFixtureOptions {
  bootstrap: string;
  groups: number;
  partitions: number;
  partitionsPerTopic?: number;
  topicsPerGroup?: number;
  /** Messages produced to every partition. */
  messages?: number;
  prefix?: string;
  /** Groups committed in parallel. */
  parallelGroups?: number;
  log?: (line: string) => void;
}

export interface ScaleFixture {
  prefix: string;
  topics: string[];
  groups: string[];
  partitionsPerTopic: number;
  /** (group, topic, partition) triples with a committed offset. */
  groupPartitions: number;
  /** Time per step, ms. */
  timings: { topics: number; produce: number; commit: number };
}

/** The committed offset of group `g` on a partition: spread over [0, messages], some at the end (lag 0). */
export function committedOffset(g: number, partition: number, messages: number): number {
  return messages - ((g * 7 + partition * 3) % (messages + 1));
}

/** The topics group `g` commits on: `topicsPerGroup` consecutive topics, wrapping around. */
export function topicsOfGroup(g: number, topicCount: number, topicsPerGroup: number): number[] {
  return Array.from({ length: Math.min(topicsPerGroup, topicCount) }, (_, i) => (g * topicsPerGroup + i) % topicCount);
}

export async function buildScaleFixture(opts: ScaleFixtureOptions): Promise<ScaleFixture> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const perTopic = opts.partitionsPerTopic ?? 20;
  const topicsPerGroup = opts.topicsPerGroup ?? 2;
  const messages = opts.messages ?? 5;
  const prefix = opts.prefix ?? "scale";
  const parallel = opts.parallelGroups ?? 50;
  const topicCount = Math.ceil(opts.partitions / perTopic);
  const topics = Array.from({ length: topicCount }, (_, t) => `${prefix}-topic-${String(t).padStart(4, "0")}`);
  const groups = Array.from({ length: opts.groups }, (_, g) => `${prefix}-group-${String(g).padStart(4, "0")}`);
  const kafka = new Kafka({
    brokers: opts.bootstrap.split(","),
    clientId: "klag-scale-fixture",
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    let t = performance.now();
    await createTopics(admin, topics, perTopic);
    const topicsMs = performance.now() - t;
    log(`scale fixture: ${topics.length} topics × ${perTopic} partitions in ${(topicsMs / 1000).toFixed(1)} s`);

    t = performance.now();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      // A few large batches: every partition gets `messages` records, 20 topics per request.
      for (let i = 0; i < topics.length; i += 20) {
        await producer.sendBatch({
          acks: 1,
          topicMessages: topics.slice(i, i + 20).map((topic) => ({
            topic,
            messages: Array.from({ length: perTopic * messages }, (_, n) => ({
              partition: n % perTopic,
              value: `m-${Math.floor(n / perTopic)}`,
            })),
          })),
        });
      }
    } finally {
      await producer.disconnect();
    }
    const produceMs = performance.now() - t;
    log(`scale fixture: ${topics.length * perTopic * messages} messages in ${(produceMs / 1000).toFixed(1)} s`);

    t = performance.now();
    let groupPartitions = 0;
    let done = 0;
    for (let i = 0; i < groups.length; i += parallel) {
      await Promise.all(
        groups.slice(i, i + parallel).map(async (groupId, j) => {
          const g = i + j;
          // One group's topics in sequence: setOffsets needs the group without running members.
          for (const topicIndex of topicsOfGroup(g, topics.length, topicsPerGroup)) {
            const partitions = Array.from({ length: perTopic }, (_, partition) => ({
              partition,
              offset: String(committedOffset(g, partition, messages)),
            }));
            await admin.setOffsets({ groupId, topic: topics[topicIndex]!, partitions });
            groupPartitions += partitions.length;
          }
          done++;
        }),
      );
      log(`scale fixture: ${done}/${groups.length} groups committed`);
    }
    const commitMs = performance.now() - t;
    log(`scale fixture: ${groupPartitions} group partitions committed in ${(commitMs / 1000).toFixed(1)} s`);
    return {
      prefix,
      topics,
      groups,
      partitionsPerTopic: perTopic,
      groupPartitions,
      timings: { topics: topicsMs, produce: produceMs, commit: commitMs },
    };
  } finally {
    await admin.disconnect();
  }
}

/** Creates the missing topics in batches and waits until every partition has a leader. */
async function createTopics(admin: Admin, topics: string[], partitions: number): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  for (let i = 0; i < missing.length; i += 50) {
    await admin.createTopics({
      waitForLeaders: false,
      timeout: 60_000,
      topics: missing.slice(i, i + 50).map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
    });
  }
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    // Fresh topics may still be unknown to the broker answering (UNKNOWN_TOPIC_OR_PARTITION): retry.
    const md = await admin.fetchTopicMetadata({ topics }).catch(() => undefined);
    const ready = md?.topics.every(
      (t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0),
    );
    if (ready && md?.topics.length === topics.length) return;
    await Bun.sleep(250);
  }
  throw new Error("scale fixture: topics have no leaders after 120 s");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      bootstrap: { type: "string" },
      groups: { type: "string", default: "200" },
      partitions: { type: "string", default: "2000" },
      "partitions-per-topic": { type: "string", default: "20" },
      "topics-per-group": { type: "string", default: "2" },
      messages: { type: "string", default: "5" },
      prefix: { type: "string", default: "scale" },
    },
  });
  if (!values.bootstrap) {
    console.error("usage: bun run scripts/scale-fixture.ts --bootstrap HOST:PORT [--groups N] [--partitions M] …");
    process.exit(2);
  }
  const fixture = await buildScaleFixture({
    bootstrap: values.bootstrap,
    groups: Number(values.groups),
    partitions: Number(values.partitions),
    partitionsPerTopic: Number(values["partitions-per-topic"]),
    topicsPerGroup: Number(values["topics-per-group"]),
    messages: Number(values.messages),
    prefix: values.prefix,
  });
  console.log(
    JSON.stringify({
      prefix: fixture.prefix,
      topics: fixture.topics.length,
      partitions: fixture.topics.length * fixture.partitionsPerTopic,
      groups: fixture.groups.length,
      groupPartitions: fixture.groupPartitions,
      timingsMs: fixture.timings,
    }),
  );
}
