/**
 * Real-broker test harness: one shared KRaft cluster (1 or 3 nodes) per test run, unique topic
 * and group names per test, and Apache Kafka's own ConsumerGroupCommand as ground truth.
 * scripts/test.ts starts the clusters and passes their addresses in KLAG_TEST_BOOTSTRAP_1/_3;
 * when those are absent (a single `bun test` file), the harness starts them itself.
 */
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { type Admin, CompressionCodecs, CompressionTypes, Kafka, logLevel, type Producer } from "kafkajs";
import { createKafkaClusterClient, type KafkaClusterClient } from "../../src/kafka/client.ts";
import { requestWriter, sendRaw } from "../../src/kafka/raw.ts";

export type BrokerCount = 1 | 3;
export interface KafkaEnv {
  bootstrap: string[];
  lib: string;
}
export interface HarnessOptions {
  brokers?: BrokerCount;
}

const ROOT = resolve(import.meta.dir, "../..");
const CLUSTER_SCRIPT = `${ROOT}/scripts/kafka/cluster.sh`;
const started = new Map<BrokerCount, Promise<KafkaEnv>>();
const admins = new Map<BrokerCount, Promise<Admin>>();
const producers = new Map<BrokerCount, Promise<Producer>>();

registerZstdCodec();

/** The shared cluster of `brokers` nodes, started once per test process and reused. */
export function kafka(brokers: BrokerCount = 1): Promise<KafkaEnv> {
  let env = started.get(brokers);
  if (!env) {
    env = startCluster(brokers);
    started.set(brokers, env);
  }
  return env;
}

async function startCluster(brokers: BrokerCount): Promise<KafkaEnv> {
  const fromEnv = process.env[`KLAG_TEST_BOOTSTRAP_${brokers}`];
  const lib = process.env.KLAG_KAFKA_LIB;
  let bootstrap: string;
  let libDir: string;
  if (fromEnv && lib) {
    bootstrap = fromEnv;
    libDir = lib;
  } else {
    const dir = `${ROOT}/.cache/test-kafka-${brokers}`;
    const proc = Bun.spawnSync(["bash", CLUSTER_SCRIPT, "start", dir, String(brokers)], { stderr: "pipe" });
    if (proc.exitCode !== 0) throw new Error(`cluster.sh start failed: ${proc.stderr.toString()}`);
    bootstrap = proc.stdout.toString().trim().split("\n").pop() ?? "";
    libDir = (await Bun.file(`${dir}/lib`).text()).trim();
  }
  const env = { bootstrap: bootstrap.split(","), lib: libDir };
  await waitForBrokers(env.bootstrap, brokers);
  return env;
}

/** Waits until the cluster answers metadata with all its brokers and can create a topic. */
async function waitForBrokers(bootstrap: string[], expected: number): Promise<void> {
  const client = new Kafka({ brokers: bootstrap, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = client.admin();
  const deadline = Date.now() + 60_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length >= expected && cluster.controller !== null) {
        await admin.disconnect();
        return;
      }
    } catch (error) {
      lastError = error;
    }
    await Bun.sleep(250);
  }
  await admin.disconnect().catch(() => {});
  throw new Error(`Kafka at ${bootstrap.join(",")} not ready in 60 s: ${String(lastError)}`);
}

/** A name no other test uses: prefix + random suffix (Kafka-legal characters only). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

/** A kafkajs client for the shared cluster. */
export async function kafkaClient(opts: HarnessOptions = {}): Promise<Kafka> {
  const env = await kafka(opts.brokers ?? 1);
  return new Kafka({ brokers: env.bootstrap, clientId: "klag-test", logLevel: logLevel.NOTHING });
}

/** A connected admin client shared by the tests of this process. */
export function admin(opts: HarnessOptions = {}): Promise<Admin> {
  const brokers = opts.brokers ?? 1;
  let a = admins.get(brokers);
  if (!a) {
    a = (async () => {
      const client = await kafkaClient({ brokers });
      const adm = client.admin();
      await adm.connect();
      return adm;
    })();
    admins.set(brokers, a);
  }
  return a;
}

function sharedProducer(brokers: BrokerCount): Promise<Producer> {
  let p = producers.get(brokers);
  if (!p) {
    p = (async () => {
      const client = await kafkaClient({ brokers });
      const producer = client.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      return producer;
    })();
    producers.set(brokers, p);
  }
  return p;
}

export interface TopicOptions extends HarnessOptions {
  configs?: Record<string, string>;
  replicationFactor?: number;
}

/** Creates a topic and waits until every partition has a leader. */
export async function createTopic(name: string, partitions: number, opts: TopicOptions = {}): Promise<void> {
  const adm = await admin(opts);
  await adm.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic: name,
        numPartitions: partitions,
        replicationFactor: opts.replicationFactor ?? 1,
        configEntries: Object.entries(opts.configs ?? {}).map(([name, value]) => ({ name, value })),
      },
    ],
  });
  await waitUntilServed(name, partitions, opts.brokers ?? 1);
  // Teach the shared kafkajs admin the new topic too (deleteTopicRecords needs its leaders).
  await adm.fetchTopicMetadata({ topics: [name] });
}

/**
 * Waits until every partition has a leader that really serves it: metadata can name a leader
 * a moment before that broker hosts the partition, and a produce then fails with
 * UNKNOWN_TOPIC_OR_PARTITION. A ListOffsets answered for every partition proves it.
 */
export async function waitUntilServed(topic: string, partitions: number, brokers: BrokerCount = 1): Promise<void> {
  const client = await rawClient(brokers);
  const tps = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }));
  const deadline = Date.now() + 30_000;
  let last = "";
  while (Date.now() < deadline) {
    await client.metadata({ refresh: true });
    const wm = await client.fetchWatermarks(tps, { lastStable: false });
    if (wm.failed.length === 0 && wm.watermarks.size === partitions) return;
    last = wm.failed.map((f) => `${f.partition}: ${f.message}`).join("; ");
    await Bun.sleep(100);
  }
  throw new Error(`topic ${topic} not served after 30 s: ${last}`);
}

export interface TestMessage {
  partition: number;
  key?: string;
  value?: string;
  timestamp?: number;
}

export interface ProduceOptions extends HarnessOptions {
  compression?: CompressionTypes;
}

/** Produces messages (acks=all) in the given order; one batch per partition per call. */
export async function produce(topic: string, messages: TestMessage[], opts: ProduceOptions = {}): Promise<void> {
  const producer = await sharedProducer(opts.brokers ?? 1);
  await producer.send({
    topic,
    acks: -1,
    compression: opts.compression ?? CompressionTypes.None,
    messages: messages.map((m) => ({
      partition: m.partition,
      key: m.key ?? null,
      value: m.value ?? `v-${m.partition}`,
      timestamp: m.timestamp === undefined ? undefined : String(m.timestamp),
    })),
  });
}

/** Produces `count` messages to each partition in `partitions`. */
export async function produceN(
  topic: string,
  partitions: number[],
  count: number,
  opts: ProduceOptions = {},
): Promise<void> {
  const messages: TestMessage[] = [];
  for (const partition of partitions) {
    for (let i = 0; i < count; i++) messages.push({ partition, value: `m-${partition}-${i}` });
  }
  for (let i = 0; i < messages.length; i += 5000) await produce(topic, messages.slice(i, i + 5000), opts);
}

const rawClients = new Map<BrokerCount, Promise<KafkaClusterClient>>();

/** Our own client for the shared cluster (for raw requests the harness sends itself). */
function rawClient(brokers: BrokerCount): Promise<KafkaClusterClient> {
  let c = rawClients.get(brokers);
  if (!c) {
    c = (async () => {
      const env = await kafka(brokers);
      const client = createKafkaClusterClient({
        name: `harness-${brokers}`,
        connection: { clientId: "klag-harness", brokers: env.bootstrap },
        timeoutMs: 15_000,
        metadataTtlMs: 0,
        logger: () => {},
      });
      const connected = await client.connect();
      if (connected.kind !== "ok") throw new Error(`harness client: ${connected.message}`);
      return client;
    })();
    rawClients.set(brokers, c);
  }
  return c;
}

/**
 * Commits offsets for a group with no members, the way Kafka's AdminClient
 * alterConsumerGroupOffsets does: OffsetCommit v2 with generation −1 to the group's coordinator.
 * (kafkajs' admin.setOffsets joins the group with a consumer and costs ~5 s per call.)
 */
export async function commitOffsets(
  group: string,
  topic: string,
  offsets: { partition: number; offset: number | bigint }[],
  opts: HarnessOptions = {},
): Promise<void> {
  const client = await rawClient(opts.brokers ?? 1);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const error = await tryCommit(client, group, topic, offsets).catch((e: unknown) => String(e));
    if (error === undefined) return;
    // The coordinator may still be loading right after the offsets topic is created.
    if (Date.now() > deadline) throw new Error(`commitOffsets(${group}): ${error}`);
    await Bun.sleep(200);
  }
}

async function tryCommit(
  client: KafkaClusterClient,
  group: string,
  topic: string,
  offsets: { partition: number; offset: number | bigint }[],
): Promise<string | undefined> {
  const md = await client.metadata();
  if (md.kind !== "ok") return md.message;
  const any = await client.broker(md.value.brokers[0]!.nodeId, 10_000);
  const find = await sendRaw(any, {
    apiKey: 10,
    apiVersion: 1,
    apiName: "FindCoordinator",
    body: requestWriter(false).string(group).int8(0).toBytes(),
    flexibleResponse: false,
  });
  find.int32(); // throttle_time_ms
  const findError = find.int16();
  find.nullableString();
  const coordinator = find.int32();
  if (findError !== 0) return `FindCoordinator error ${findError}`;
  const w = requestWriter(false)
    .string(group)
    .int32(-1) // generation_id: a simple (member-less) commit
    .string("") // member_id
    .int64(-1); // retention_time_ms: broker default
  w.array([topic], (w, t) => {
    w.string(t);
    w.array(offsets, (w, o) => {
      w.int32(o.partition).int64(BigInt(o.offset)).nullableString(null);
    });
  });
  const r = await sendRaw(await client.broker(coordinator, 10_000), {
    apiKey: 8,
    apiVersion: 2,
    apiName: "OffsetCommit",
    body: w.toBytes(),
    flexibleResponse: false,
  });
  const errors = r.array((r) => {
    r.string();
    return r.array((r) => [r.int32(), r.int16()] as const);
  });
  const failed = errors.flat().filter(([, code]) => code !== 0);
  return failed.length > 0 ? `OffsetCommit errors ${JSON.stringify(failed)}` : undefined;
}

export interface GroundTruthRow {
  group: string;
  topic: string;
  partition: number;
  currentOffset: number | null;
  logEndOffset: number | null;
  lag: number | null;
  consumerId: string;
  host: string;
  clientId: string;
}

/** Runs an Apache Kafka tool class with the shared cluster's jars. */
export async function runKafkaTool(
  mainClass: string,
  args: string[],
  opts: HarnessOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = await kafka(opts.brokers ?? 1);
  const proc = Bun.spawn(
    ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", `${env.lib}/*`, mainClass, ...args],
    { stdout: "pipe", stderr: "pipe", env: { ...process.env, KAFKA_LOG4J_OPTS: "" } },
  );
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/**
 * Apache Kafka's own view of a group: `kafka-consumer-groups --describe --group G`
 * (ConsumerGroupCommand), parsed into rows. "-" becomes null.
 */
export async function kafkaConsumerGroups(group: string, opts: HarnessOptions = {}): Promise<GroundTruthRow[]> {
  const env = await kafka(opts.brokers ?? 1);
  const res = await runKafkaTool(
    "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    ["--bootstrap-server", env.bootstrap.join(","), "--describe", "--group", group],
    opts,
  );
  if (res.code !== 0) throw new Error(`ConsumerGroupCommand failed (${res.code}): ${res.stderr}${res.stdout}`);
  return parseConsumerGroupsOutput(res.stdout);
}

/** Parses ConsumerGroupCommand --describe output (offsets view). Exported for its unit test. */
export function parseConsumerGroupsOutput(text: string): GroundTruthRow[] {
  const rows: GroundTruthRow[] = [];
  let columns: string[] | null = null;
  for (const line of text.split("\n")) {
    const cells = line.trim().split(/\s+/);
    if (cells[0] === "GROUP" && cells.includes("TOPIC")) {
      columns = cells;
      continue;
    }
    if (!columns || cells.length < columns.length) continue;
    const get = (name: string): string => cells[columns!.indexOf(name)] ?? "-";
    const num = (name: string): number | null => (get(name) === "-" ? null : Number(get(name)));
    rows.push({
      group: get("GROUP"),
      topic: get("TOPIC"),
      partition: Number(get("PARTITION")),
      currentOffset: num("CURRENT-OFFSET"),
      logEndOffset: num("LOG-END-OFFSET"),
      lag: num("LAG"),
      consumerId: get("CONSUMER-ID") === "-" ? "" : get("CONSUMER-ID"),
      host: get("HOST") === "-" ? "" : get("HOST"),
      clientId: get("CLIENT-ID") === "-" ? "" : get("CLIENT-ID"),
    });
  }
  return rows;
}

/** Polls `check` until it returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  what = "condition",
  pollMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await Bun.sleep(pollMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

/** Disconnects the shared clients (the cluster itself is stopped by scripts/test.ts). */
export async function closeHarnessClients(): Promise<void> {
  for (const p of producers.values()) await (await p).disconnect().catch(() => {});
  for (const a of admins.values()) await (await a).disconnect().catch(() => {});
  for (const c of rawClients.values()) await (await c).close().catch(() => {});
  rawClients.clear();
  producers.clear();
  admins.clear();
}

/** kafkajs ships no zstd codec; tests that produce zstd batches use Bun's. */
function registerZstdCodec(): void {
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    compress: async (encoder: { buffer: Buffer }) => Buffer.from(Bun.zstdCompressSync(encoder.buffer)),
    decompress: async (buffer: Buffer) => Buffer.from(Bun.zstdDecompressSync(buffer)),
  });
}

export interface JavaConsumer {
  stop(): Promise<void>;
}

/**
 * Starts Apache Kafka's console consumer in a group (KIP-848 `consumer` protocol by default):
 * it reads the topic from the beginning and stays a member until stopped.
 */
export async function startJavaConsumer(
  group: string,
  topic: string,
  opts: HarnessOptions & { protocol?: "consumer" | "classic"; clientId?: string } = {},
): Promise<JavaConsumer> {
  const env = await kafka(opts.brokers ?? 1);
  const args = [
    "java",
    "-Xmx256m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-cp",
    `${env.lib}/*`,
    "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "--bootstrap-server",
    env.bootstrap.join(","),
    "--topic",
    topic,
    "--group",
    group,
    "--from-beginning",
    "--consumer-property",
    `group.protocol=${opts.protocol ?? "consumer"}`,
    "--consumer-property",
    `client.id=${opts.clientId ?? "klag-java"}`,
    "--consumer-property",
    "auto.commit.interval.ms=500",
  ];
  const proc = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
  return {
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}
