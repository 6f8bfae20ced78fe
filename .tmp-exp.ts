import { heapStats } from "bun:jsc";
import { createLogger } from "./src/lib/log.ts";
import { M } from "./src/metrics/catalog.ts";
import { createGaugeStore } from "./src/metrics/store.ts";
import { createOtlpBridge } from "./src/otlp/bridge.ts";
import { startReceiver } from "./tests/otlp/receiver.ts";
const N = Number(process.argv[2] ?? 20000);
const doGc = process.argv[3] === "gc";
const sink = await startReceiver({ decode: false });
const store = createGaugeStore({ extraLabels: { env: "bench" } });
store.beginCycle(Date.now());
for (let r = 0; r < N / 4; r++) {
  const g = Math.floor(r / 500), p = r % 500, group = `payments-service-consumer-group-${g}`, topic = `payments.transactions.v${g % 7}`;
  const consumer = `consumer-${group}-${p % 16}-5f1c2a9e-3b7d-4c2e-9a61-${(g * 16 + (p % 16)).toString(16).padStart(12, "0")}`;
  store.set(M.groupLag, ["prod-eu-1", group, topic, p, `/10.42.${g}.${p % 250}`, consumer, `consumer-${group}-${p % 16}`, "false", "false"], r);
  store.set(M.groupOffset, ["prod-eu-1", group, topic, p, `/10.42.${g}.${p % 250}`, consumer, `consumer-${group}-${p % 16}`], r);
  store.set(M.groupLagSeconds, ["prod-eu-1", group, topic, p, `/10.42.${g}.${p % 250}`, consumer, `consumer-${group}-${p % 16}`, "false", "false"], r);
  store.set(M.groupRetentionMargin, ["prod-eu-1", group, topic, p], r);
}
store.endCycle();
const mb = (n: number) => (n / 2 ** 20).toFixed(0);
const report = (label: string) => { const h = heapStats(); console.log(label, "rss", mb(process.memoryUsage.rss()), "heap", mb(h.heapSize), "cap", mb(h.heapCapacity), "extra", mb(h.extraMemorySize), "objs", h.objectCount); };
report("before");
const bridge = createOtlpBridge({ config: { enabled: true, endpoint: sink.endpoint, exportIntervalMs: 600000, timeoutMs: 10000, headers: {}, insecure: false, compression: "none" }, version: "b", logger: createLogger({ level: "warn", format: "json" }), sources: () => [store] });
bridge.start();
for (let i = 0; i < 8; i++) {
  const t = performance.now();
  await bridge.flush();
  const ms = performance.now() - t;
  if (doGc) Bun.gc(true);
  report(`export ${i} ${ms.toFixed(0)}ms`);
}
await bridge.shutdown(); await sink.stop();
