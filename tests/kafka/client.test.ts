/**
 * The Kafka edge against real brokers: metadata, group listing and descriptions (classic and
 * KIP-848), batched committed offsets and per-leader watermarks, checked against what the
 * test wrote and against Apache Kafka's ConsumerGroupCommand; request counts from the client's
 * own counters prove the batching.
 */
import { afterAll, beforeAll, test as bunTest, describe, expect } from "bun:test";
import { createServer } from "node:net";
import { Kafka, logLevel } from "kafkajs";
import { partitionKey } from "../../src/core/types.ts";
import { createKafkaClusterClient, type KafkaClusterClient } from "../../src/kafka/client.ts";
import { decodeListGroupsResponse, encodeListGroupsRequest, LIST_GROUPS } from "../../src/kafka/protocol/groups.ts";
import { pickVersion, sendRaw } from "../../src/kafka/raw.ts";
import {
  admin,
  closeHarnessClients,
  commitOffsets,
  createTopic,
  eventually,
  kafka,
  kafkaConsumerGroups,
  produceN,
  startJavaConsumer,
  uniqueName,
} from "./harness.ts";

const TIMEOUT_MS = 10_000;
/** Real-broker tests: JVM consumers, group joins and ConsumerGroupCommand take seconds. */
const test = (name: string, fn: () => Promise<void>) => bunTest(name, fn, 120_000);
const clients: KafkaClusterClient[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

async function newClient(brokers: 1 | 3 = 1, ttlMs = 600_000): Promise<KafkaClusterClient> {
  const env = await kafka(brokers);
  const client = createKafkaClusterClient({
    name: `test-${brokers}`,
    connection: { clientId: "klag-client-test", brokers: env.bootstrap },
    timeoutMs: TIMEOUT_MS,
    metadataTtlMs: ttlMs,
    logger: () => {},
  });
  clients.push(client);
  expect(await client.connect()).toEqual({ kind: "ok", value: undefined });
  return client;
}

function requests(client: KafkaClusterClient, api: string): number {
  return client.requestStats().find((s) => s.api === api)?.requests ?? 0;
}

afterAll(async () => {
  await Promise.all(cleanups.map((c) => c().catch(() => {})));
  await Promise.all(clients.map((c) => c.close()));
  await closeHarnessClients();
}, 60_000);

describe("metadata", () => {
  let client: KafkaClusterClient;
  beforeAll(async () => {
    client = await newClient(1);
  }, 60_000);

  test("lists topics with sorted partitions, leaders, topic ids and the brokers", async () => {
    const topic = uniqueName("md");
    await createTopic(topic, 3);
    const md = await client.metadata({ refresh: true });
    if (md.kind !== "ok") throw new Error(md.message);
    expect(md.value.topics.get(topic)?.map((p) => p.partition)).toEqual([0, 1, 2]);
    const nodeIds = md.value.brokers.map((b) => b.nodeId);
    expect(nodeIds).toHaveLength(1);
    for (const p of md.value.topics.get(topic) ?? []) expect(nodeIds).toContain(p.leader);
    expect(md.value.topicIds?.get(topic)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  test("serves the cache until a refresh is forced or a missing topic is asked for", async () => {
    await client.metadata({ refresh: true });
    const topic = uniqueName("md-new");
    await createTopic(topic, 2);
    const before = requests(client, "Metadata");
    const cached = await client.metadata();
    expect(cached.kind === "ok" && cached.value.topics.has(topic)).toBe(false);
    expect(requests(client, "Metadata")).toBe(before);
    const asked = await client.metadata({ topics: [topic] });
    expect(asked.kind === "ok" && asked.value.topics.get(topic)?.length).toBe(2);
    expect(requests(client, "Metadata")).toBe(before + 1);
  });
});

describe("raw requests", () => {
  test("withBroker lends a connected broker to sendRaw, and an unknown node id is an error outcome", async () => {
    const client = await newClient(1);
    const md = await client.metadata();
    if (md.kind !== "ok") throw new Error(md.message);
    const nodeId = md.value.brokers[0]!.nodeId;
    const before = requests(client, "ListGroups");
    const listed = await client.withBroker(nodeId, async (broker) => {
      const version = pickVersion(broker, LIST_GROUPS.apiKey, 4, 4);
      if (version === undefined) throw new Error("broker lacks ListGroups v4");
      const r = await sendRaw(broker, {
        apiKey: LIST_GROUPS.apiKey,
        apiVersion: 4,
        apiName: LIST_GROUPS.apiName,
        body: encodeListGroupsRequest(4, []),
        flexibleResponse: true,
      });
      return decodeListGroupsResponse(r, 4);
    });
    expect(listed.kind === "ok" && listed.value.errorCode).toBe(0);
    expect(requests(client, "ListGroups")).toBe(before + 1);
    const missing = await client.withBroker(987_654, async () => "unreachable");
    expect(missing.kind).toBe("error");
  });
});

describe("consumer groups", () => {
  let client: KafkaClusterClient;
  beforeAll(async () => {
    client = await newClient(1);
  }, 60_000);

  test("listGroups finds an empty group that only has committed offsets", async () => {
    const topic = uniqueName("lg");
    const group = uniqueName("lg-empty");
    await createTopic(topic, 2);
    await produceN(topic, [0, 1], 3);
    await commitOffsets(group, topic, [{ partition: 0, offset: 1 }]);
    const listed = await client.listGroups();
    expect(listed.failedBrokers).toBe(0);
    if (listed.groups.kind !== "ok") throw new Error(listed.groups.message);
    // Offsets committed without joining (as AdminClient does) leave a group with no protocol type.
    expect(listed.groups.value.find((g) => g.groupId === group)).toEqual({
      groupId: group,
      protocolType: "",
      groupType: "classic",
      state: "Empty",
    });
  });

  test("describeGroups reports an Empty group with no members, and an unknown group as Dead", async () => {
    const topic = uniqueName("dg");
    const group = uniqueName("dg-empty");
    const missing = uniqueName("dg-missing");
    await createTopic(topic, 1);
    await commitOffsets(group, topic, [{ partition: 0, offset: 0 }]);
    const described = await client.describeGroups([group, missing]);
    expect(described.get(group)).toEqual({
      kind: "ok",
      value: { groupId: group, state: "Empty", kind: "classic", members: [] },
    });
    expect(described.get(missing)).toEqual({
      kind: "ok",
      value: { groupId: missing, state: "Dead", kind: "classic", members: [] },
    });
  });

  test("describeGroups reports members, hosts, client ids and assignments of live kafkajs consumers", async () => {
    const env = await kafka(1);
    const topic = uniqueName("live");
    const group = uniqueName("live-g");
    await createTopic(topic, 4);
    await produceN(topic, [0, 1, 2, 3], 2);
    for (const clientId of ["member-a", "member-b"]) {
      const consumer = new Kafka({ brokers: env.bootstrap, clientId, logLevel: logLevel.NOTHING }).consumer({
        groupId: group,
        heartbeatInterval: 500,
      });
      cleanups.push(() => consumer.disconnect());
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async () => {} });
    }
    const description = await eventually(
      async () => {
        const d = (await client.describeGroups([group])).get(group);
        if (d?.kind !== "ok" || d.value.state !== "Stable" || d.value.members.length !== 2) return undefined;
        return d.value.members.flatMap((m) => m.assignment).length === 4 ? d.value : undefined;
      },
      60_000,
      "a stable group with two members owning all partitions",
    );
    expect(description.kind).toBe("classic");
    expect(description.members.map((m) => m.clientId).sort()).toEqual(["member-a", "member-b"]);
    expect(
      description.members
        .flatMap((m) => m.assignment)
        .map((a) => `${a.topic}:${a.partition}`)
        .sort(),
    ).toEqual([0, 1, 2, 3].map((p) => `${topic}:${p}`));

    // Apache Kafka's own view: each partition's consumer id, host and client id.
    const rows = await kafkaConsumerGroups(group);
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      const member = description.members.find((m) => m.memberId === row.consumerId);
      expect(member).toBeDefined();
      expect({ host: member?.host, clientId: member?.clientId }).toEqual({ host: row.host, clientId: row.clientId });
      expect(member?.assignment).toContainEqual({ topic, partition: row.partition });
    }
  });

  test("a KIP-848 group is listed as type consumer and described with ConsumerGroupDescribe", async () => {
    await kafka(1);
    const topic = uniqueName("kip848");
    const group = uniqueName("kip848-g");
    await createTopic(topic, 3);
    await produceN(topic, [0, 1, 2], 2);
    const java = await startJavaConsumer(group, topic, { protocol: "consumer", clientId: "klag-kip848" });
    cleanups.push(() => java.stop());

    const listed = await eventually(
      async () => {
        const l = await client.listGroups();
        const g = l.groups.kind === "ok" ? l.groups.value.find((x) => x.groupId === group) : undefined;
        return g?.state === "Stable" ? g : undefined;
      },
      60_000,
      "the KIP-848 group to be listed as Stable",
    );
    expect(listed).toEqual({ groupId: group, protocolType: "consumer", groupType: "consumer", state: "Stable" });

    const before = requests(client, "ConsumerGroupDescribe");
    const described = (await client.describeGroups([listed])).get(group);
    expect(requests(client, "ConsumerGroupDescribe")).toBe(before + 1);
    if (described?.kind !== "ok") throw new Error(JSON.stringify(described));
    expect(described.value).toMatchObject({ groupId: group, state: "Stable", kind: "consumer" });
    expect(described.value.members).toHaveLength(1);
    const member = described.value.members[0]!;
    expect(member.clientId).toBe("klag-kip848");
    expect(member.assignment.map((a) => a.partition).sort()).toEqual([0, 1, 2]);
    expect(member.assignment.every((a) => a.topic === topic)).toBe(true);

    // A client that never listed the group finds it too (DescribeGroups says "not classic", then API 69).
    const fresh = await newClient(1);
    const again = (await fresh.describeGroups([group])).get(group);
    expect(again).toEqual(described);

    const rows = await eventually(
      async () => {
        const r = await kafkaConsumerGroups(group);
        return r.length === 3 && r.every((x) => x.consumerId !== "") ? r : undefined;
      },
      30_000,
      "ConsumerGroupCommand to show the KIP-848 member",
    );
    for (const row of rows) {
      expect({ consumerId: row.consumerId, host: row.host, clientId: row.clientId }).toEqual({
        consumerId: member.memberId,
        host: member.host,
        clientId: member.clientId,
      });
    }
  });
});

describe("committed offsets", () => {
  test("20 groups are read with one FindCoordinator and one OffsetFetch on a single broker", async () => {
    const client = await newClient(1);
    const topic = uniqueName("of");
    await createTopic(topic, 3);
    await produceN(topic, [0, 1, 2], 30);
    const groups = Array.from({ length: 20 }, (_, i) => `${uniqueName("of-g")}-${i}`);
    // Partition 2 is never committed: it must be absent, not -1 or 0.
    await Promise.all(
      groups.map((g, i) =>
        commitOffsets(g, topic, [
          { partition: 0, offset: i },
          { partition: 1, offset: 30 - i },
        ]),
      ),
    );
    const findBefore = requests(client, "FindCoordinator");
    const fetchBefore = requests(client, "OffsetFetch");
    const offsets = await client.fetchCommittedOffsets(groups);
    expect(requests(client, "FindCoordinator") - findBefore).toBe(1);
    expect(requests(client, "OffsetFetch") - fetchBefore).toBe(1);
    for (const [i, g] of groups.entries()) {
      expect(offsets.get(g)).toEqual({
        kind: "ok",
        value: [
          { topic, partition: 0, offset: i },
          { topic, partition: 1, offset: 30 - i },
        ],
      });
    }
    // Coordinators are cached: a second round needs no FindCoordinator.
    await client.fetchCommittedOffsets(groups);
    expect(requests(client, "FindCoordinator") - findBefore).toBe(1);
    expect(requests(client, "OffsetFetch") - fetchBefore).toBe(2);

    const truth = await kafkaConsumerGroups(groups[7]!);
    expect(truth.map((r) => [r.partition, r.currentOffset]).sort()).toEqual([
      [0, 7],
      [1, 23],
    ]);
  });

  test("a committed offset beyond 2^53 is left out rather than rounded", async () => {
    const client = await newClient(1);
    const topic = uniqueName("big");
    const group = uniqueName("big-g");
    await createTopic(topic, 2);
    await commitOffsets(group, topic, [
      { partition: 0, offset: 3 },
      { partition: 1, offset: 2n ** 53n + 2n },
    ]);
    const offsets = await client.fetchCommittedOffsets([group]);
    expect(offsets.get(group)).toEqual({ kind: "ok", value: [{ topic, partition: 0, offset: 3 }] });
  });

  test("on three brokers OffsetFetch requests grow with coordinators, not groups", async () => {
    const client = await newClient(3);
    const topic = uniqueName("of3");
    await createTopic(topic, 2, { brokers: 3 });
    await produceN(topic, [0, 1], 5, { brokers: 3 });
    const groups = Array.from({ length: 20 }, (_, i) => `${uniqueName("of3-g")}-${i}`);
    await Promise.all(groups.map((g, i) => commitOffsets(g, topic, [{ partition: 1, offset: i % 6 }], { brokers: 3 })));
    const fetchBefore = requests(client, "OffsetFetch");
    const offsets = await client.fetchCommittedOffsets(groups);
    const sent = requests(client, "OffsetFetch") - fetchBefore;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(3);
    expect(requests(client, "FindCoordinator")).toBe(1);
    for (const [i, g] of groups.entries()) {
      expect(offsets.get(g)).toEqual({ kind: "ok", value: [{ topic, partition: 1, offset: i % 6 }] });
    }
  });
});

describe("watermarks", () => {
  test("earliest, latest and last stable offsets of 1-, 3- and 12-partition topics equal what was written", async () => {
    const client = await newClient(1);
    const topics = [1, 3, 12].map((n) => ({ name: uniqueName(`wm${n}`), partitions: n }));
    const expected = new Map<string, { earliest: number; latest: number; lastStable: number }>();
    const adm = await admin();
    for (const t of topics) {
      await createTopic(t.name, t.partitions);
      for (let p = 0; p < t.partitions; p++) {
        const count = 3 + p * 2;
        await produceN(t.name, [p], count);
        expected.set(partitionKey(t.name, p), { earliest: 0, latest: count, lastStable: count });
      }
    }
    // Move the log start of one partition so earliest is not trivially 0.
    await adm.deleteTopicRecords({ topic: topics[2]!.name, partitions: [{ partition: 5, offset: "4" }] });
    expected.set(partitionKey(topics[2]!.name, 5), { earliest: 4, latest: 13, lastStable: 13 });

    const tps = topics.flatMap((t) =>
      Array.from({ length: t.partitions }, (_, partition) => ({ topic: t.name, partition })),
    );
    const before = requests(client, "ListOffsets");
    const result = await client.fetchWatermarks(tps, { lastStable: true });
    expect(result.failed).toEqual([]);
    expect(new Map(result.watermarks)).toEqual(expected);
    // One broker leads everything: one request per round (earliest, latest, last stable).
    expect(requests(client, "ListOffsets") - before).toBe(3);
  });

  test("an open transaction holds the last stable offset below the high watermark", async () => {
    const client = await newClient(1);
    const env = await kafka(1);
    const topic = uniqueName("txn");
    await createTopic(topic, 1);
    await produceN(topic, [0], 5);
    const producer = new Kafka({ brokers: env.bootstrap, logLevel: logLevel.NOTHING }).producer({
      transactionalId: uniqueName("txn-id"),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const txn = await producer.transaction();
    await txn.send({
      topic,
      messages: [
        { partition: 0, value: "a" },
        { partition: 0, value: "b" },
      ],
    });
    const open = await client.fetchWatermarks([{ topic, partition: 0 }], { lastStable: true });
    expect(open.watermarks.get(partitionKey(topic, 0))).toEqual({ earliest: 0, latest: 7, lastStable: 5 });
    await txn.abort();
    const closed = await eventually(
      async () => {
        const r = await client.fetchWatermarks([{ topic, partition: 0 }], { lastStable: true });
        const w = r.watermarks.get(partitionKey(topic, 0));
        return w !== undefined && w.lastStable === w.latest ? w : undefined;
      },
      20_000,
      "the LSO to catch up after the abort",
    );
    expect(closed.latest).toBe(8); // two records and the abort marker
    const withoutLso = await client.fetchWatermarks([{ topic, partition: 0 }], { lastStable: false });
    expect(withoutLso.watermarks.get(partitionKey(topic, 0))).toEqual({ earliest: 0, latest: 8 });
  });

  test("on three brokers ListOffsets requests grow by the number of leader brokers per round", async () => {
    const client = await newClient(3);
    const topics = [1, 3, 12].map((n) => ({ name: uniqueName(`wm3-${n}`), partitions: n }));
    const expected = new Map<string, { earliest: number; latest: number }>();
    for (const t of topics) {
      await createTopic(t.name, t.partitions, { brokers: 3 });
      const all = Array.from({ length: t.partitions }, (_, p) => p);
      await produceN(t.name, all, 4, { brokers: 3 });
      for (const p of all) expected.set(partitionKey(t.name, p), { earliest: 0, latest: 4 });
    }
    const tps = topics.flatMap((t) =>
      Array.from({ length: t.partitions }, (_, partition) => ({ topic: t.name, partition })),
    );
    const md = await client.metadata({ refresh: true });
    if (md.kind !== "ok") throw new Error(md.message);
    // Leaders from an independent client (kafkajs admin), not from the code under test.
    const adm = await admin({ brokers: 3 });
    const kjs = await adm.fetchTopicMetadata({ topics: topics.map((t) => t.name) });
    const leaders = new Set(kjs.topics.flatMap((t) => t.partitions.map((p) => p.leader)));
    expect(leaders.size).toBe(3);

    const before = requests(client, "ListOffsets");
    const plain = await client.fetchWatermarks(tps, { lastStable: false });
    expect(plain.failed).toEqual([]);
    expect(new Map(plain.watermarks)).toEqual(expected);
    expect(requests(client, "ListOffsets") - before).toBe(leaders.size * 2);

    const withLso = await client.fetchWatermarks(tps, { lastStable: true });
    expect(withLso.failed).toEqual([]);
    expect(requests(client, "ListOffsets") - before).toBe(leaders.size * 5);
    for (const [key, w] of withLso.watermarks) expect(w.lastStable).toBe(expected.get(key)!.latest);
  });

  test("a deleted topic and a partition that does not exist are failed entries, never zeros", async () => {
    const client = await newClient(1);
    const topic = uniqueName("gone");
    await createTopic(topic, 2);
    await produceN(topic, [0, 1], 3);
    const tps = [
      { topic, partition: 0 },
      { topic, partition: 1 },
    ];
    const first = await client.fetchWatermarks([...tps, { topic, partition: 7 }], { lastStable: false });
    expect(first.watermarks.get(partitionKey(topic, 0))).toEqual({ earliest: 0, latest: 3 });
    expect(first.failed).toEqual([{ topic, partition: 7, reason: "unknown_topic", message: expect.any(String) }]);

    await (await admin()).deleteTopics({ topics: [topic] });
    // The client still has the topic in its cached metadata; whatever it answers meanwhile must not be 0.
    const failed = await eventually(
      async () => {
        const r = await client.fetchWatermarks(tps, { lastStable: false });
        for (const w of r.watermarks.values()) expect(w).toEqual({ earliest: 0, latest: 3 });
        return r.failed.length === 2 ? r : undefined;
      },
      30_000,
      "the deleted topic to be reported as failed",
    );
    expect(failed.watermarks.size).toBe(0);
    expect(failed.failed.map((f) => [f.partition, f.reason])).toEqual([
      [0, "unknown_topic"],
      [1, "unknown_topic"],
    ]);
  });

  test("partitions added to a topic are found without waiting for the metadata TTL", async () => {
    const client = await newClient(1);
    const topic = uniqueName("grow");
    await createTopic(topic, 1);
    await client.fetchWatermarks([{ topic, partition: 0 }], { lastStable: false });
    await (await admin()).createPartitions({ topicPartitions: [{ topic, count: 3 }] });
    const r = await eventually(
      async () => {
        const x = await client.fetchWatermarks([{ topic, partition: 2 }], { lastStable: false });
        return x.watermarks.size === 1 ? x : undefined;
      },
      20_000,
      "the new partition",
    );
    expect(r.watermarks.get(partitionKey(topic, 2))).toEqual({ earliest: 0, latest: 0 });
  });
});

describe("an unreachable cluster", () => {
  test("answers every call with failures within the timeout, and closes at once", async () => {
    const port = await freePort();
    const client = createKafkaClusterClient({
      name: "down",
      connection: { clientId: "klag-client-test", brokers: [`127.0.0.1:${port}`], connectionTimeout: 500 },
      timeoutMs: 2000,
      metadataTtlMs: 60_000,
      logger: () => {},
    });
    const started = Date.now();
    const connected = await client.connect();
    expect(connected.kind).toBe("error");
    const listed = await client.listGroups();
    expect(listed.groups.kind).toBe("error");
    const described = await client.describeGroups(["g"]);
    expect(described.get("g")?.kind).toBe("error");
    const offsets = await client.fetchCommittedOffsets(["g"]);
    expect(offsets.get("g")?.kind).toBe("error");
    const wm = await client.fetchWatermarks([{ topic: "t", partition: 0 }], { lastStable: false });
    expect(wm.watermarks.size).toBe(0);
    expect(wm.failed).toEqual([{ topic: "t", partition: 0, reason: "broker_error", message: expect.any(String) }]);
    expect(Date.now() - started).toBeLessThan(5 * 2000 + 1000);
    const closing = Date.now();
    await client.close();
    await client.close();
    expect(Date.now() - closing).toBeLessThan(3500);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
