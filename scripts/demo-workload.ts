/**
 * Demo workload for scripts/demo.sh: topics, a steady producer, and consumer groups that lag
 * on purpose (a fast one, a slow one, a stalled one with committed offsets and no members).
 * Usage: bun run scripts/demo-workload.ts BOOTSTRAP
 */
import "../src/lib/quiet-warnings.ts";
import { Kafka, logLevel } from "kafkajs";

const bootstrap = (process.argv[2] ?? "127.0.0.1:9092").split(",");
const kafka = new Kafka({ clientId: "klag-demo", brokers: bootstrap, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const topics = [
  { topic: "demo-orders", numPartitions: 6 },
  { topic: "demo-payments", numPartitions: 3 },
  { topic: "demo-audit", numPartitions: 1 },
];
const existing = new Set(await admin.listTopics());
await admin.createTopics({ topics: topics.filter((t) => !existing.has(t.topic)), waitForLeaders: true });

const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
let stopping = false;
const produceLoop = (async () => {
  let n = 0;
  while (!stopping) {
    const messages = Array.from({ length: 20 }, (_, i) => ({ key: `k${(n + i) % 97}`, value: `order ${n + i}` }));
    await producer.send({ topic: "demo-orders", messages }).catch(() => {});
    await producer.send({ topic: "demo-payments", messages: messages.slice(0, 5) }).catch(() => {});
    if (n % 100 === 0)
      await producer.send({ topic: "demo-audit", messages: [{ value: `audit ${n}` }] }).catch(() => {});
    n += 20;
    await Bun.sleep(200);
  }
})();

// A stalled group: committed once, no members (state Empty), lag grows with the producer.
await admin
  .setOffsets({ groupId: "demo-audit-stalled", topic: "demo-audit", partitions: [{ partition: 0, offset: "0" }] })
  .catch(() => {});

async function consumer(groupId: string, topic: string, delayMs: number) {
  const c = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({
    eachMessage: async () => {
      if (delayMs > 0) await Bun.sleep(delayMs);
    },
  });
  return c;
}
const consumers = await Promise.all([
  consumer("demo-orders-fast", "demo-orders", 0),
  consumer("demo-orders-slow", "demo-orders", 150),
  consumer("demo-payments-batch", "demo-payments", 40),
]);
console.error("demo workload running: producer + 3 consumer groups + 1 stalled group");

const stop = async () => {
  stopping = true;
  await produceLoop;
  await Promise.all(consumers.map((c) => c.disconnect().catch(() => {})));
  await producer.disconnect().catch(() => {});
  await admin.disconnect().catch(() => {});
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
