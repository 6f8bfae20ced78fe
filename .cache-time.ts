import { commitOffsets, createTopic, uniqueName, closeHarnessClients } from "./tests/kafka/harness.ts";
const topic = uniqueName("t"); await createTopic(topic, 2);
const t = Date.now(); await Promise.all(Array.from({length: 20}, () => commitOffsets(uniqueName("g"), topic, [{ partition: 0, offset: 1 }]))); console.log(Date.now() - t);
await closeHarnessClients();
