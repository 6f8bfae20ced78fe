import { createKafkaClusterClient } from "./src/kafka/client.ts";
import { commitOffsets, createTopic, produceN, uniqueName, kafka, closeHarnessClients } from "./tests/kafka/harness.ts";
const env = await kafka(1);
const c = createKafkaClusterClient({ name: "t", connection: { clientId: "smoke", brokers: env.bootstrap }, timeoutMs: 5000, metadataTtlMs: 60000, logger: (l, m, f) => console.error(l, m, JSON.stringify(f)) });
const topic = uniqueName("t");
await createTopic(topic, 3);
await produceN(topic, [0, 1, 2], 5);
const g = uniqueName("g");
await commitOffsets(g, topic, [{ partition: 0, offset: 2 }, { partition: 1, offset: 5 }]);
const lg = await c.listGroups();
console.log(JSON.stringify(lg));
const d = await c.describeGroups([g, "nonexistent-group"]);
console.log(JSON.stringify([...d]));
const o = await c.fetchCommittedOffsets([g, "nonexistent-group"]);
console.log(JSON.stringify([...o]));
const proc = Bun.spawn(["java", "-Xmx256m", "-cp", `${env.lib}/*`, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", env.bootstrap.join(","), "--topic", topic, "--group", "kip848-" + g, "--consumer-property", "group.protocol=consumer", "--consumer-property", "client.id=klag-848", "--from-beginning"], { stdout: "ignore", stderr: "pipe" });
for (let i = 0; i < 60; i++) {
  await Bun.sleep(1000);
  const l = await c.listGroups();
  const x = l.groups.kind === "ok" ? l.groups.value.find(z => z.groupId === "kip848-" + g) : undefined;
  if (x && x.state === "Stable") { console.log("listed", JSON.stringify(x)); break; }
}
const d2 = await c.describeGroups(["kip848-" + g]);
console.log("848 by id (type known from list):", JSON.stringify([...d2]));
const c2 = createKafkaClusterClient({ name: "t2", connection: { clientId: "smoke", brokers: env.bootstrap }, timeoutMs: 5000, metadataTtlMs: 60000, logger: () => {} });
const d3 = await c2.describeGroups(["kip848-" + g]);
console.log("848 by id, fresh client:", JSON.stringify([...d3]), JSON.stringify(c2.requestStats()));
const o2 = await c2.fetchCommittedOffsets(["kip848-" + g]);
console.log(JSON.stringify([...o2]));
proc.kill();
await proc.exited;
console.log(JSON.stringify(c.requestStats()));
await c.close(); await c2.close(); await closeHarnessClients();
