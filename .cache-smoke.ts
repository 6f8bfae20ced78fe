import { createKafkaClusterClient } from "./src/kafka/client.ts";
const bootstrap = process.argv[2]!.split(",");
const c = createKafkaClusterClient({ name: "t", connection: { clientId: "smoke", brokers: bootstrap }, timeoutMs: 5000, metadataTtlMs: 60000, logger: (l, m, f) => console.error(l, m, JSON.stringify(f)) });
console.log(await c.connect());
const m = await c.metadata();
console.log(m.kind === "ok" ? [...m.value.topics.keys()] : m, m.kind === "ok" ? m.value.brokers : "");
const lg = await c.listGroups();
console.log(JSON.stringify(lg));
if (lg.groups.kind === "ok") {
  const d = await c.describeGroups(lg.groups.value);
  console.log(JSON.stringify([...d]));
  const o = await c.fetchCommittedOffsets(lg.groups.value.map(g => g.groupId));
  console.log(JSON.stringify([...o]));
}
if (m.kind === "ok") {
  const tps = [...m.value.topics].flatMap(([t, ps]) => ps.map(p => ({ topic: t, partition: p.partition })));
  const w = await c.fetchWatermarks([...tps, { topic: "nope", partition: 0 }], { lastStable: true });
  console.log(JSON.stringify([...w.watermarks].slice(0, 5)), JSON.stringify(w.failed));
}
console.log(c.requestStats());
await c.close();
