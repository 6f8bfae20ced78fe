/**
 * Scale fixture for multi-broker clusters: T topics × P partitions, G consumer groups committed
 * with member-less OffsetCommit v2 (what Kafka's AdminClient alterConsumerGroupOffsets sends),
 * many groups in parallel, so 2,000 groups commit in about a second instead of minutes.
 * Group g commits on topic g mod T (and on topic g+1 when g is a multiple of `secondTopicEvery`);
 * partition p of group g stays uncommitted when `skipEvery` divides g + p. Each partition gets
 * `messagesIn` records; its log end offset is then read back with the fixture's own ListOffsets
 * (a producer retry can write a batch twice) and every committed offset is placed relative to it
 * (`committedAt`), so `commits` holds the exact expected offset and log end of every partition.
 * Usage: bun run scripts/scale-fixture-3.ts --bootstrap H:P,… [--topics 2000] [--partitions-per-topic 6]
 *        [--groups 2000] [--prefix s3] [--delete]
 */
import "../src/lib/quiet-warnings.ts";
import { parseArgs } from "node:util";
import { type Admin, Kafka, logLevel } from "kafkajs";
import { createKafkaClusterClient, type KafkaClusterClient } from "../src/kafka/client.ts";
import {
  decodeFindCoordinatorResponse,
  encodeFindCoordinatorRequest,
  FIND_COORDINATOR,
} from "../src/kafka/protocol/groups.ts";
import {
  decodeMetadataResponse,
  encodeMetadataRequest,
  isFlexibleMetadata,
  METADATA,
} from "../src/kafka/protocol/metadata.ts";
import { pickVersion, requestWriter, sendRaw } from "../src/kafka/raw.ts";

export interface Fixture3Options {
  bootstrap: string;
  prefix: string;
  topics: number;
  partitionsPerTopic: number;
  groups: number;
  /** Group g also commits on topic (g + 1) mod T when g % n === 0; 0 = never (default). */
  secondTopicEvery?: number;
  /** Partition p of group g is left uncommitted when (g + p) % n === 0; 0 = never (default). */
  skipEvery?: number;
  /** Messages per partition vary in 1..maxMessages (default 6). */
  maxMessages?: number;
  replicationFactor?: number;
  /** OffsetCommit requests in flight (default 32). */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface CommittedPartition {
  topic: string;
  partition: number;
  offset: number;
  /** The partition's log end offset (messages produced). */
  latest: number;
}

export interface Fixture3 {
  options: Required<Omit<Fixture3Options, "log">>;
  topics: string[];
  groups: string[];
  /** Per group, every committed partition with its offset and log end offset. */
  commits: Map<string, CommittedPartition[]>;
  groupPartitions: number;
  timingsMs: { topics: number; produce: number; commit: number };
}

export function topicName(prefix: string, t: number): string {
  return `${prefix}-t${String(t).padStart(4, "0")}`;
}

export function groupName(prefix: string, g: number): string {
  return `${prefix}-g${String(g).padStart(4, "0")}`;
}

/** Messages produced to partition p of topic t: 1..max, so partitions differ. */
export function messagesIn(t: number, p: number, max: number): number {
  return 1 + ((t * 13 + p * 7) % max);
}

/** Offset group g commits on (t, p): anywhere in [0, latest], some at the end (lag 0). */
export function committedAt(g: number, t: number, p: number, latest: number): number {
  return latest - ((g * 7 + p * 3 + t) % (latest + 1));
}

/**
 * The commits of the fixture, computed from each partition's log end offset (`latestOf`; by
 * default the messages produced, `messagesIn`).
 */
export function planCommits(
  o: Fixture3["options"],
  latestOf: (t: number, p: number) => number = (t, p) => messagesIn(t, p, o.maxMessages),
): Map<string, CommittedPartition[]> {
  const out = new Map<string, CommittedPartition[]>();
  for (let g = 0; g < o.groups; g++) {
    const topics = [g % o.topics];
    if (o.secondTopicEvery > 0 && g % o.secondTopicEvery === 0 && o.topics > 1) topics.push((g + 1) % o.topics);
    const list: CommittedPartition[] = [];
    for (const t of topics) {
      for (let p = 0; p < o.partitionsPerTopic; p++) {
        if (o.skipEvery > 0 && (g + p) % o.skipEvery === 0) continue;
        const latest = latestOf(t, p);
        list.push({ topic: topicName(o.prefix, t), partition: p, offset: committedAt(g, t, p, latest), latest });
      }
    }
    out.set(groupName(o.prefix, g), list);
  }
  return out;
}

export async function buildFixture3(opts: Fixture3Options): Promise<Fixture3> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const options: Fixture3["options"] = {
    bootstrap: opts.bootstrap,
    prefix: opts.prefix,
    topics: opts.topics,
    partitionsPerTopic: opts.partitionsPerTopic,
    groups: opts.groups,
    secondTopicEvery: opts.secondTopicEvery ?? 0,
    skipEvery: opts.skipEvery ?? 0,
    maxMessages: opts.maxMessages ?? 6,
    replicationFactor: opts.replicationFactor ?? 1,
    concurrency: opts.concurrency ?? 32,
  };
  const topics = Array.from({ length: options.topics }, (_, t) => topicName(options.prefix, t));
  let commits = new Map<string, CommittedPartition[]>();
  const kafka = new Kafka({ brokers: opts.bootstrap.split(","), clientId: "klag-scale3", logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const timingsMs = { topics: 0, produce: 0, commit: 0 };
  try {
    let t0 = performance.now();
    await createTopics(admin, topics, options.partitionsPerTopic, options.replicationFactor);
    await waitForLeadersOnEveryBroker(opts.bootstrap, topics, options.partitionsPerTopic);
    timingsMs.topics = performance.now() - t0;
    log(
      `fixture: ${topics.length} topics × ${options.partitionsPerTopic} in ${(timingsMs.topics / 1000).toFixed(1)} s`,
    );

    t0 = performance.now();
    // Idempotent: a retried batch (a broker that has not seen a new topic yet) is not written twice.
    const producer = kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 20, initialRetryTime: 200, maxRetryTime: 3000 },
    });
    await producer.connect();
    try {
      const step = Math.max(1, Math.floor(2000 / options.partitionsPerTopic));
      for (let i = 0; i < topics.length; i += step) {
        await producer.sendBatch({
          acks: -1,
          topicMessages: topics.slice(i, i + step).map((topic, j) => {
            const t = i + j;
            const messages: { partition: number; value: string }[] = [];
            for (let p = 0; p < options.partitionsPerTopic; p++) {
              for (let n = messagesIn(t, p, options.maxMessages); n > 0; n--)
                messages.push({ partition: p, value: `m${n}` });
            }
            return { topic, messages };
          }),
        });
      }
    } finally {
      await producer.disconnect();
    }
    const ends = await readLogEnds(admin, topics, options);
    commits = planCommits(options, (t, p) => ends.get(topics[t]!)![p]!);
    timingsMs.produce = performance.now() - t0;
    log(`fixture: produced and verified in ${(timingsMs.produce / 1000).toFixed(1)} s`);

    t0 = performance.now();
    await commitGroups(opts.bootstrap, commits, options.concurrency);
    timingsMs.commit = performance.now() - t0;
    let groupPartitions = 0;
    for (const list of commits.values()) groupPartitions += list.length;
    log(
      `fixture: ${commits.size} groups, ${groupPartitions} group partitions committed in ${(timingsMs.commit / 1000).toFixed(1)} s`,
    );
    return { options, topics, groups: [...commits.keys()], commits, groupPartitions, timingsMs };
  } finally {
    await admin.disconnect();
  }
}

/** Deletes the fixture's groups and topics (for shared clusters). */
export async function deleteFixture3(fixture: Pick<Fixture3, "options" | "topics" | "groups">): Promise<void> {
  const kafka = new Kafka({
    brokers: fixture.options.bootstrap.split(","),
    clientId: "klag-scale3",
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let i = 0; i < fixture.groups.length; i += 200) {
      await admin.deleteGroups(fixture.groups.slice(i, i + 200)).catch(() => {});
    }
    for (let i = 0; i < fixture.topics.length; i += 200) {
      await admin.deleteTopics({ topics: fixture.topics.slice(i, i + 200), timeout: 60_000 }).catch(() => {});
    }
  } finally {
    await admin.disconnect();
  }
}

/** Creates topics in batches of 100 and waits until every partition has a leader. */
export async function createTopics(
  admin: Admin,
  topics: readonly string[],
  partitions: number,
  replicationFactor: number,
): Promise<void> {
  for (let i = 0; i < topics.length; i += 100) {
    await admin.createTopics({
      waitForLeaders: false,
      timeout: 120_000,
      topics: topics.slice(i, i + 100).map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
    });
  }
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    // Fresh topics may still be unknown to the broker that answers: retry until all are led.
    const md = await admin.fetchTopicMetadata({ topics: [...topics] }).catch(() => undefined);
    if (
      md?.topics.length === topics.length &&
      md.topics.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0))
    )
      return;
    await Bun.sleep(250);
  }
  throw new Error(`fixture: ${topics.length} topics have no leaders after 180 s`);
}

/** Waits until every broker's metadata shows a leader for every partition (producers ask any broker). */
async function waitForLeadersOnEveryBroker(bootstrap: string, topics: readonly string[], partitions: number) {
  const client = await fixtureClient(bootstrap);
  try {
    const md = await client.metadata();
    if (md.kind !== "ok") throw new Error(`fixture metadata: ${md.message}`);
    const deadline = Date.now() + 120_000;
    for (const { nodeId } of md.value.brokers) {
      const broker = await client.broker(nodeId, 10_000);
      const version = pickVersion(broker, METADATA.apiKey, METADATA.minVersion, METADATA.maxVersion)!;
      for (;;) {
        const r = await sendRaw(broker, {
          apiKey: METADATA.apiKey,
          apiVersion: version,
          apiName: METADATA.apiName,
          body: encodeMetadataRequest(version, topics),
          flexibleResponse: isFlexibleMetadata(version),
        });
        const led = decodeMetadataResponse(r, version).topics.filter(
          (t) => t.errorCode === 0 && t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0),
        );
        if (led.length === topics.length) break;
        if (Date.now() > deadline)
          throw new Error(`fixture: broker ${nodeId} knows ${led.length}/${topics.length} topics`);
        await Bun.sleep(250);
      }
    }
  } finally {
    await client.close();
  }
}

/**
 * Every partition's log end offset, read with the fixture's own ListOffsets v1 (one request per
 * leader) — independent of the exporter's watermark code. Checks that every log starts at 0 and
 * holds at least the messages produced (a producer retry may have written a batch twice).
 */
async function readLogEnds(
  admin: Admin,
  topics: readonly string[],
  o: Fixture3["options"],
): Promise<Map<string, number[]>> {
  const client = await fixtureClient(o.bootstrap);
  const ends = new Map<string, number[]>();
  try {
    const md = await admin.fetchTopicMetadata({ topics: [...topics] });
    const byLeader = new Map<number, Map<string, number[]>>();
    for (const t of md.topics) {
      for (const p of t.partitions) {
        const topicsOfLeader = byLeader.get(p.leader) ?? new Map<string, number[]>();
        byLeader.set(p.leader, topicsOfLeader);
        const list = topicsOfLeader.get(t.name) ?? [];
        list.push(p.partitionId);
        topicsOfLeader.set(t.name, list);
      }
    }
    const index = new Map(topics.map((name, t) => [name, t]));
    for (const [leader, parts] of byLeader) {
      const broker = await client.broker(leader, 10_000);
      for (const timestamp of [-2n, -1n]) {
        const w = requestWriter(false).int32(-1);
        w.array([...parts], (w, [topic, ps]) => {
          w.string(topic);
          w.array(ps, (w, p) => {
            w.int32(p).int64(timestamp);
          });
        });
        const r = await sendRaw(broker, {
          apiKey: 2,
          apiVersion: 1,
          apiName: "ListOffsets",
          body: w.toBytes(),
          flexibleResponse: false,
        });
        r.array((r) => {
          const topic = r.string();
          r.array((r) => {
            const partition = r.int32();
            const error = r.int16();
            r.int64(); // timestamp
            const offset = Number(r.int64());
            const produced = messagesIn(index.get(topic)!, partition, o.maxMessages);
            const ok = error === 0 && (timestamp === -2n ? offset === 0 : offset >= produced);
            if (!ok)
              throw new Error(`fixture: ${topic}/${partition} offset ${offset} (error ${error}) at ${timestamp}`);
            if (timestamp === -1n) {
              const list = ends.get(topic) ?? new Array<number>(o.partitionsPerTopic).fill(-1);
              list[partition] = offset;
              ends.set(topic, list);
            }
          });
        });
      }
    }
  } finally {
    await client.close();
  }
  return ends;
}

async function fixtureClient(bootstrap: string): Promise<KafkaClusterClient> {
  const client = createKafkaClusterClient({
    name: "scale-fixture-3",
    connection: { clientId: "klag-scale3", brokers: bootstrap.split(",") },
    timeoutMs: 30_000,
    metadataTtlMs: 600_000,
    logger: () => {},
  });
  const connected = await client.connect();
  if (connected.kind !== "ok") throw new Error(`fixture client: ${connected.message}`);
  return client;
}

// OffsetCommit error codes worth a retry: the coordinator is loading, unavailable or moved.
const RETRIABLE = new Set([14, 15, 16]);

/**
 * Commits the given offsets of every group (member-less, generation −1): coordinators found in
 * batches of 100, one OffsetCommit per group, `concurrency` in flight; retries moved coordinators.
 */
export async function commitGroups(
  bootstrap: string,
  commits: ReadonlyMap<string, readonly CommittedPartition[]>,
  concurrency = 32,
): Promise<void> {
  const client = await fixtureClient(bootstrap);
  try {
    let pending = [...commits.keys()];
    const deadline = Date.now() + 120_000;
    let lastError = "";
    while (pending.length > 0) {
      if (Date.now() > deadline) throw new Error(`fixture: ${pending.length} groups not committed: ${lastError}`);
      const coordinators = await findCoordinators(client, pending);
      const failed: string[] = [];
      await mapLimit(pending, concurrency, async (group) => {
        const node = coordinators.get(group);
        const error =
          node === undefined ? "no coordinator" : await commitGroup(client, node, group, commits.get(group)!);
        if (error !== undefined) {
          lastError = error;
          failed.push(group);
        }
      });
      pending = failed;
      if (pending.length > 0) await Bun.sleep(300);
    }
  } finally {
    await client.close();
  }
}

async function findCoordinators(client: KafkaClusterClient, groups: readonly string[]): Promise<Map<string, number>> {
  const md = await client.metadata();
  if (md.kind !== "ok") throw new Error(`fixture metadata: ${md.message}`);
  const broker = await client.broker(md.value.brokers[0]!.nodeId, 10_000);
  const version = pickVersion(broker, FIND_COORDINATOR.apiKey, 4, FIND_COORDINATOR.maxVersion);
  if (version === undefined) throw new Error("fixture needs FindCoordinator v4 (Kafka 3.0+)");
  const out = new Map<string, number>();
  for (let i = 0; i < groups.length; i += 100) {
    const keys = groups.slice(i, i + 100);
    const r = await sendRaw(broker, {
      apiKey: FIND_COORDINATOR.apiKey,
      apiVersion: version,
      apiName: FIND_COORDINATOR.apiName,
      body: encodeFindCoordinatorRequest(version, keys),
      flexibleResponse: true,
    });
    for (const c of decodeFindCoordinatorResponse(r, version)) if (c.errorCode === 0) out.set(c.key, c.nodeId);
  }
  return out;
}

/** One member-less OffsetCommit v2 (generation −1); undefined on success, else a retriable reason. */
async function commitGroup(
  client: KafkaClusterClient,
  node: number,
  group: string,
  partitions: readonly CommittedPartition[],
): Promise<string | undefined> {
  const byTopic = new Map<string, CommittedPartition[]>();
  for (const p of partitions) {
    const list = byTopic.get(p.topic) ?? [];
    list.push(p);
    byTopic.set(p.topic, list);
  }
  const w = requestWriter(false).string(group).int32(-1).string("").int64(-1);
  w.array([...byTopic], (w, [topic, ps]) => {
    w.string(topic);
    w.array(ps, (w, p) => {
      w.int32(p.partition).int64(p.offset).nullableString(null);
    });
  });
  try {
    const r = await sendRaw(await client.broker(node, 10_000), {
      apiKey: 8,
      apiVersion: 2,
      apiName: "OffsetCommit",
      body: w.toBytes(),
      flexibleResponse: false,
    });
    const codes = r.array((r) => {
      r.string();
      return r.array((r) => {
        r.int32();
        return r.int16();
      });
    });
    const bad = codes.flat().filter((c) => c !== 0);
    if (bad.length === 0) return undefined;
    if (bad.every((c) => RETRIABLE.has(c))) return `OffsetCommit error ${bad[0]} for ${group}`;
    throw new Error(`fixture: OffsetCommit for ${group} failed with error codes ${[...new Set(bad)].join(",")}`);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("fixture:")) throw error;
    return String(error);
  }
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Java's String.hashCode (UTF-16 code units, int32 wrap-around). */
export function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * The __consumer_offsets partition that holds a group (Kafka: Utils.abs(groupId.hashCode) % N);
 * its leader is the group's coordinator. Independent of the exporter's own FindCoordinator.
 */
export function offsetsPartitionFor(group: string, offsetsPartitions: number): number {
  const h = javaStringHash(group);
  return (h === -2147483648 ? 0 : Math.abs(h)) % offsetsPartitions;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      bootstrap: { type: "string" },
      topics: { type: "string", default: "2000" },
      "partitions-per-topic": { type: "string", default: "6" },
      groups: { type: "string", default: "2000" },
      prefix: { type: "string", default: "s3" },
      delete: { type: "boolean", default: false },
    },
  });
  if (!values.bootstrap) {
    console.error("usage: bun run scripts/scale-fixture-3.ts --bootstrap H:P,… [--topics N] [--groups N] …");
    process.exit(2);
  }
  const options = {
    bootstrap: values.bootstrap,
    prefix: values.prefix,
    topics: Number(values.topics),
    partitionsPerTopic: Number(values["partitions-per-topic"]),
    groups: Number(values.groups),
  };
  if (values.delete) {
    await deleteFixture3({
      options: { ...options, secondTopicEvery: 0, skipEvery: 0, maxMessages: 6, replicationFactor: 1, concurrency: 1 },
      topics: Array.from({ length: options.topics }, (_, t) => topicName(options.prefix, t)),
      groups: Array.from({ length: options.groups }, (_, g) => groupName(options.prefix, g)),
    });
  } else {
    const f = await buildFixture3(options);
    console.log(
      JSON.stringify({ groups: f.groups.length, groupPartitions: f.groupPartitions, timingsMs: f.timingsMs }),
    );
  }
}
