import { afterEach, describe, expect, test } from "bun:test";
import { status } from "@grpc/grpc-js";
import { createGaugeStore } from "../../src/metrics/store.ts";
import { createOtlpBridge, type OtlpBridge } from "../../src/otlp/bridge.ts";
import { captureLogs, diffSeries, fillClusterCycle, otelConfig, seriesOfPoints, seriesOfStores } from "./helpers.ts";
import { type OtlpReceiver, startReceiver } from "./receiver.ts";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function receiver(): Promise<OtlpReceiver> {
  const r = await startReceiver();
  cleanup.push(() => r.stop());
  return r;
}

function bridgeTo(endpoint: string, store: ReturnType<typeof createGaugeStore>, over = {}) {
  const logs = captureLogs();
  const bridge: OtlpBridge = createOtlpBridge({
    config: otelConfig(endpoint, { exportIntervalMs: 300, timeoutMs: 250, ...over }),
    version: "1",
    logger: logs.logger,
    sources: () => [store],
  });
  cleanup.push(() => bridge.shutdown());
  return { bridge, logs };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

describe("OTLP export when the collector misbehaves", () => {
  test("collector down: exports fail and are counted, one log line, collection keeps its pace; back up: exports resume within seconds", async () => {
    const rec = await receiver();
    const store = createGaugeStore();
    let seed = 0;
    fillClusterCycle(store, { cluster: "a", groups: 1, partitions: 1_000, seed });
    const { bridge, logs } = bridgeTo(rec.endpoint, store, { exportIntervalMs: 500, timeoutMs: 400 });
    expect(bridge.start().kind).toBe("started");
    await rec.waitForCollection((c) => c.length === store.stats().series, 5_000);

    // The "collection loop": a cycle every 50 ms; we record how late each one runs.
    let last = performance.now();
    let worstGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      fillClusterCycle(store, { cluster: "a", groups: 1, partitions: 1_000, seed: ++seed });
    }, 50);
    cleanup.push(async () => clearInterval(ticker));

    await rec.stop();
    const failedBefore = bridge.stats().failed;
    await until(() => bridge.stats().failed >= failedBefore + 8, 10_000, "8 failed exports");
    // One line per distinct error (refused connection, deadline while connecting), not per export.
    const warned = logs.count("warn", "OTLP export failed");
    expect(warned).toBeGreaterThanOrEqual(1);
    expect(warned).toBeLessThanOrEqual(3);
    await until(() => bridge.stats().failed >= failedBefore + 20, 10_000, "20 failed exports");
    expect(logs.count("warn", "OTLP export failed")).toBe(warned);
    expect(bridge.stats().lastError).toMatch(/UNAVAILABLE|DEADLINE_EXCEEDED/);

    rec.clear();
    await rec.start(); // same port
    const back = Date.now();
    await rec.waitForCollection((c) => c.length === store.stats().series, 10_000);
    expect(Date.now() - back).toBeLessThan(4_000);
    clearInterval(ticker);
    expect(worstGap).toBeLessThan(400);
    expect(logs.count("info", "OTLP export recovered")).toBe(1);

    await bridge.flush();
    const latest = rec.collections().at(-1)!;
    expect(diffSeries(seriesOfStores([store]), seriesOfPoints(latest))).toEqual([]);
    expect(bridge.stats().ok).toBeGreaterThan(0);
  }, 30_000);

  test("a slow collector costs at most the timeout per export, and requests do not pile up", async () => {
    const rec = await receiver();
    rec.setDelay(5_000);
    const store = createGaugeStore();
    fillClusterCycle(store, { cluster: "a", groups: 1, partitions: 5_000, seed: 1 }); // 15,009 series: 8 requests per export
    const { bridge, logs } = bridgeTo(rec.endpoint, store, { exportIntervalMs: 400, timeoutMs: 300 });
    bridge.start();
    const t0 = performance.now();
    await bridge.flush();
    expect(performance.now() - t0).toBeLessThan(300 + 1_000 + 500);
    const started = performance.now();
    await Bun.sleep(2_400);
    const collections = Math.ceil((performance.now() - started) / 400) + 2;
    expect(bridge.stats().ok).toBe(0);
    expect(bridge.stats().failed).toBeGreaterThan(3);
    // After a deadline the rest of that collection is not sent: one request per collection reaches the collector.
    expect(rec.arrivals).toBeLessThanOrEqual(collections);
    expect(logs.count("warn", "OTLP export failed")).toBe(1);
    expect(bridge.stats().lastError).toContain("DEADLINE_EXCEEDED");

    rec.setDelay(0);
    await rec.waitForCollection((c) => c.length === store.stats().series, 10_000);
  }, 30_000);

  test("a collector that refuses requests with a gRPC status: each request counts as failed, one log line per distinct status", async () => {
    const rec = await receiver();
    rec.setFailure(status.RESOURCE_EXHAUSTED);
    const store = createGaugeStore();
    fillClusterCycle(store, { cluster: "a", groups: 1, partitions: 2_500, seed: 1 }); // 7,509 series: 4 requests per export
    const perExport = Math.ceil(store.stats().series / 2_000);
    expect(perExport).toBe(4);
    const { bridge, logs } = bridgeTo(rec.endpoint, store, { exportIntervalMs: 60_000, timeoutMs: 2_000 });
    bridge.start();
    await bridge.flush();
    await bridge.flush();
    // Refusals are not connection failures: every request of the collection is still tried.
    expect(rec.arrivals).toBe(2 * perExport);
    expect(bridge.stats()).toMatchObject({ ok: 0, failed: 2 * perExport });
    rec.setFailure(status.UNAUTHENTICATED);
    await bridge.flush();
    await bridge.flush();
    expect(bridge.stats().failed).toBe(4 * perExport);
    const warned = logs.lines.filter((l) => String(l.msg).startsWith("OTLP export failed"));
    expect(warned.map((l) => l.code)).toEqual(["RESOURCE_EXHAUSTED", "UNAUTHENTICATED"]);

    rec.setFailure(undefined);
    await bridge.flush();
    expect(bridge.stats()).toMatchObject({ ok: perExport, failed: 4 * perExport });
    expect(logs.count("info", "OTLP export recovered")).toBe(1);
    // A flapping collector: the same error again soon after is counted, not logged again…
    rec.setFailure(status.UNAUTHENTICATED);
    await bridge.flush();
    expect(logs.count("warn", "OTLP export failed")).toBe(2);
    // …and with nothing logged, the recovery is not logged either; a new kind of error is.
    rec.setFailure(undefined);
    await bridge.flush();
    expect(logs.count("info", "OTLP export recovered")).toBe(1);
    rec.setFailure(status.PERMISSION_DENIED);
    await bridge.flush();
    expect(logs.count("warn", "OTLP export failed")).toBe(3);
    rec.setFailure(undefined);
    await bridge.flush();
    expect(logs.count("info", "OTLP export recovered")).toBe(2);
  }, 30_000);

  test("shutdown with the collector unreachable returns within the timeout and throws nothing", async () => {
    const rec = await receiver();
    const store = createGaugeStore();
    fillClusterCycle(store, { cluster: "a", groups: 1, partitions: 10, seed: 1 });
    const { bridge } = bridgeTo(rec.endpoint, store, { exportIntervalMs: 1_000, timeoutMs: 500 });
    bridge.start();
    await rec.stop();
    rec.setDelay(0);
    const t0 = performance.now();
    await bridge.shutdown();
    expect(performance.now() - t0).toBeLessThan(2_500);
    expect(bridge.stats().failed).toBeGreaterThanOrEqual(1);
  });

  test("an unreadable TLS file: start returns the error, nothing is exported and nothing throws", async () => {
    const rec = await receiver();
    const store = createGaugeStore();
    fillClusterCycle(store, { cluster: "a", groups: 1, partitions: 10, seed: 1 });
    const { bridge, logs } = bridgeTo(rec.endpoint, store, { caFile: "/nonexistent/ca.pem" });
    const result = bridge.start();
    expect(result.kind).toBe("error");
    expect(result.kind === "error" && result.message).toContain("/nonexistent/ca.pem");
    expect(logs.count("error", "OTLP export not started")).toBe(1);
    await bridge.flush();
    await Bun.sleep(400);
    expect(rec.arrivals).toBe(0);
  });
});
