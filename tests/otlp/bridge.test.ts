import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { ALL_METRICS, M } from "../../src/metrics/catalog.ts";
import { createExposition } from "../../src/metrics/exposition.ts";
import { createGaugeStore, type GaugeStore } from "../../src/metrics/store.ts";
import { createOtlpBridge, type OtlpBridge } from "../../src/otlp/bridge.ts";
import {
  captureLogs,
  diffSeries,
  fillClusterCycle,
  otelConfig,
  seriesOfExposition,
  seriesOfPoints,
  seriesOfStores,
} from "./helpers.ts";
import { type OtlpReceiver, startReceiver } from "./receiver.ts";

let rec: OtlpReceiver;
const bridges: OtlpBridge[] = [];

beforeAll(async () => {
  rec = await startReceiver();
});
afterAll(async () => {
  await Promise.all(bridges.map((b) => b.shutdown()));
  await rec.stop();
});
beforeEach(() => rec.clear());

function bridgeFor(
  sources: () => Iterable<GaugeStore>,
  over: Parameters<typeof otelConfig>[1] = {},
  version = "1.2.3",
) {
  const logs = captureLogs();
  const bridge = createOtlpBridge({ config: otelConfig(rec.endpoint, over), version, logger: logs.logger, sources });
  bridges.push(bridge);
  expect(bridge.start()).toEqual({ kind: "started" });
  return { bridge, logs };
}

function processStore(): GaugeStore {
  const s = createGaugeStore();
  s.beginCycle(Date.now());
  s.set(M.up, [], 1);
  s.set(M.buildInfo, ["1.2.3", "bun test"], 1);
  s.set(M.otlpExports, ["ok"], 41);
  s.endCycle();
  return s;
}

const lastCollection = () => rec.collections().at(-1) ?? [];

describe("OTLP bridge against a real gRPC receiver", () => {
  test("exports every series of the published stores with the names, attributes and values of /metrics, over 2,000 in one family", async () => {
    const c1 = createGaugeStore({ extraLabels: { env: "prod", region: 'eu "west"\n1' } });
    const c2 = createGaugeStore();
    fillClusterCycle(c1, { cluster: "alpha", groups: 3, partitions: 900, seed: 1 });
    fillClusterCycle(c2, { cluster: "beta", groups: 1, partitions: 40, seed: 2, topic: "pay\\ments" });
    fillClusterCycle(c2, { cluster: "beta", groups: 1, partitions: 40, seed: 3, topic: "pay\\ments" });
    const proc = processStore();
    proc.beginCycle(Date.now());
    proc.set(M.up, [], 1);
    proc.set(M.buildInfo, ["1.2.3", "bun test"], 1);
    proc.set(M.otlpExports, ["ok"], 41);
    proc.set(M.otlpExports, ["failed"], Number.NaN);
    proc.endCycle();

    const exposition = createExposition();
    exposition.publish("alpha", c1);
    exposition.publish("beta", c2);
    exposition.publish("~process", proc);
    const text = new TextDecoder().decode(exposition.current("prometheus", false));

    const { bridge } = bridgeFor(() => [c1, c2, proc]);
    await bridge.flush();
    const points = lastCollection();
    const fromMetrics = seriesOfExposition(text);

    expect(fromMetrics.size).toBeGreaterThan(5_000);
    expect(diffSeries(fromMetrics, seriesOfPoints(points))).toEqual([]);
    expect(points.filter((p) => p.metric === M.groupLag.name).length).toBe(2_740);
    expect(points.some((p) => "otel.metric.overflow" in p.attributes)).toBe(false);
    expect(bridge.stats()).toMatchObject({ ok: rec.requests.length, failed: 0 });
    // Split into several requests, each under the receiver's 4 MiB limit.
    expect(rec.requests.length).toBeGreaterThan(3);
    for (const r of rec.requests) expect(r.bytes).toBeLessThan(4 * 1024 * 1024);
  }, 30_000);

  test("gauges arrive as OTLP gauges and counters as cumulative monotonic sums, with HELP as description and string attributes", async () => {
    const c1 = createGaugeStore();
    fillClusterCycle(c1, { cluster: "alpha", groups: 1, partitions: 5, seed: 1 });
    const { bridge } = bridgeFor(() => [c1, processStore()]);
    await bridge.flush();
    const points = lastCollection();
    const byName = new Map(ALL_METRICS.map((d) => [d.name, d]));
    expect(new Set(points.map((p) => p.metric)).size).toBeGreaterThan(10);
    for (const p of points) {
      const def = byName.get(p.metric)!;
      expect(def).toBeDefined();
      expect(p.description).toBe(def.help);
      expect(p.valueType).toBe("double");
      expect(Object.values(p.attributeTypes).every((t) => t === "stringValue")).toBe(true);
      if (def.type === "counter") {
        expect(p).toMatchObject({ kind: "sum", temporality: "AGGREGATION_TEMPORALITY_CUMULATIVE", monotonic: true });
      } else expect(p.kind).toBe("gauge");
    }
    // The two metrics the reference forgets to push.
    expect(points.some((p) => p.metric === "kafka_lag_exporter_compaction_detected_total")).toBe(true);
    expect(points.find((p) => p.metric === "kafka_lag_exporter_last_update_timestamp_seconds")?.value).toBe(
      1_700_000_001.25,
    );
  });

  test("the resource says service.name klag-exporter and the service.version, the scope is klag-exporter", async () => {
    const { bridge } = bridgeFor(() => [processStore()], {}, "7.8.9-rc1");
    await bridge.flush();
    expect(rec.requests.length).toBe(1);
    const r = rec.requests[0]!;
    expect(r.resource["service.name"]).toBe("klag-exporter");
    expect(r.resource["service.version"]).toBe("7.8.9-rc1");
    expect(r.scopes).toEqual([{ name: "klag-exporter", version: "7.8.9-rc1" }]);
  });

  test("configured headers arrive as gRPC metadata on every request, with gzip compression on", async () => {
    const c1 = createGaugeStore();
    fillClusterCycle(c1, { cluster: "alpha", groups: 2, partitions: 1_500, seed: 4 });
    const headers = { Authorization: "Bearer s3cret-token", "X-Scope-OrgID": "tenant-42" };
    const { bridge, logs } = bridgeFor(() => [c1], { headers, compression: "gzip" });
    await bridge.flush();
    expect(rec.requests.length).toBeGreaterThan(1);
    for (const r of rec.requests) {
      expect(r.metadata.authorization).toEqual(["Bearer s3cret-token"]);
      expect(r.metadata["x-scope-orgid"]).toEqual(["tenant-42"]);
    }
    expect(diffSeries(seriesOfStores([c1]), seriesOfPoints(lastCollection()))).toEqual([]);
    expect(JSON.stringify(logs.lines)).not.toContain("s3cret");
  });

  test("a store the daemon withdraws (stale cluster) is missing from the next collection", async () => {
    const fresh = createGaugeStore();
    const stale = createGaugeStore();
    fillClusterCycle(fresh, { cluster: "fresh", groups: 1, partitions: 10, seed: 1 });
    fillClusterCycle(stale, { cluster: "stale", groups: 1, partitions: 10, seed: 1 });
    const published = new Map([
      ["fresh", fresh],
      ["stale", stale],
    ]);
    const { bridge } = bridgeFor(() => published.values());
    await bridge.flush();
    const clustersIn = (points: { attributes: Record<string, string> }[]) =>
      [...new Set(points.map((p) => p.attributes.cluster_name).filter(Boolean))].sort();
    expect(clustersIn(lastCollection())).toEqual(["fresh", "stale"]);

    published.delete("stale");
    await bridge.flush();
    expect(clustersIn(lastCollection())).toEqual(["fresh"]);
    expect(diffSeries(seriesOfStores([fresh]), seriesOfPoints(lastCollection()))).toEqual([]);
  });

  test("churning series are exported only while they exist: no history kept, nothing folded into an overflow series", async () => {
    const store = createGaugeStore();
    const { bridge } = bridgeFor(() => [store]);
    for (let cycle = 0; cycle < 12; cycle++) {
      // Every cycle replaces all partition series with new ones (a new topic each time).
      fillClusterCycle(store, { cluster: "churn", groups: 1, partitions: 2_500, seed: cycle, topic: `t-${cycle}` });
      await bridge.flush();
      const points = lastCollection();
      expect(diffSeries(seriesOfStores([store]), seriesOfPoints(points))).toEqual([]);
      expect(points.length).toBe(store.stats().series);
    }
    expect(lastCollection().some((p) => "otel.metric.overflow" in p.attributes)).toBe(false);
  }, 60_000);

  test("counters keep their start time while their store lives and start a new stream with a new store", async () => {
    let store = createGaugeStore();
    fillClusterCycle(store, { cluster: "alpha", groups: 1, partitions: 1, seed: 1 });
    const { bridge } = bridgeFor(() => [store]);
    const requestsPoint = () =>
      lastCollection().find((p) => p.metric === M.kafkaRequests.name && p.attributes.api === "ListOffsets")!;
    await bridge.flush();
    const first = requestsPoint();
    await Bun.sleep(20);
    fillClusterCycle(store, { cluster: "alpha", groups: 1, partitions: 1, seed: 2 });
    await bridge.flush();
    const second = requestsPoint();
    expect(second.value).toBe(30);
    expect(second.startTimeUnixNano).toBe(first.startTimeUnixNano);
    expect(BigInt(second.timeUnixNano)).toBeGreaterThan(BigInt(first.timeUnixNano));

    store = createGaugeStore();
    fillClusterCycle(store, { cluster: "alpha", groups: 1, partitions: 1, seed: 0 });
    await Bun.sleep(20);
    await bridge.flush();
    const restarted = requestsPoint();
    expect(restarted.value).toBe(10);
    expect(BigInt(restarted.startTimeUnixNano)).toBeGreaterThan(BigInt(first.startTimeUnixNano));
  });

  test("exports run on their own every export_interval and read the stores at export time", async () => {
    const store = createGaugeStore();
    fillClusterCycle(store, { cluster: "alpha", groups: 1, partitions: 3, seed: 1 });
    const sources: GaugeStore[] = [store];
    bridgeFor(() => sources, { exportIntervalMs: 300, timeoutMs: 250 });
    await rec.waitForCollection((c) => c.length > 0, 5_000);
    fillClusterCycle(store, { cluster: "alpha", groups: 1, partitions: 3, seed: 9 });
    const updated = await rec.waitForCollection(
      (c) => c.some((p) => p.metric === M.kafkaRequests.name && p.attributes.api === "ListOffsets" && p.value === 100),
      5_000,
    );
    expect(diffSeries(seriesOfStores([store]), seriesOfPoints(updated))).toEqual([]);
    sources.length = 0;
    await Bun.sleep(400);
    const requestsBefore = rec.requests.length;
    await Bun.sleep(700);
    // Nothing published: nothing to send, so no requests at all.
    expect(rec.requests.length).toBe(requestsBefore);
  });

  test("exporter.otel disabled: start reports it and nothing is sent", async () => {
    const logs = captureLogs();
    const bridge = createOtlpBridge({
      config: otelConfig(rec.endpoint, { enabled: false }),
      version: "1",
      logger: logs.logger,
      sources: () => [processStore()],
    });
    expect(bridge.start()).toEqual({ kind: "disabled" });
    await bridge.flush();
    await bridge.shutdown();
    expect(rec.arrivals).toBe(0);
    expect(bridge.stats()).toEqual({ ok: 0, failed: 0 });
  });

  test("shutdown sends a last export with the current values and stops the timer", async () => {
    const store = createGaugeStore();
    fillClusterCycle(store, { cluster: "alpha", groups: 1, partitions: 2, seed: 5 });
    const logs = captureLogs();
    const bridge = createOtlpBridge({
      config: otelConfig(rec.endpoint, { exportIntervalMs: 200, timeoutMs: 150 }),
      version: "1",
      logger: logs.logger,
      sources: () => [store],
    });
    bridge.start();
    fillClusterCycle(store, { cluster: "alpha", groups: 1, partitions: 2, seed: 6 });
    await bridge.shutdown();
    expect(diffSeries(seriesOfStores([store]), seriesOfPoints(lastCollection()))).toEqual([]);
    const after = rec.arrivals;
    await Bun.sleep(500);
    expect(rec.arrivals).toBe(after);
  });
});
