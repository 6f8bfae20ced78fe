import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createGaugeStore } from "../../src/metrics/store.ts";
import { createOtlpBridge } from "../../src/otlp/bridge.ts";
import { makeTestPki, type TestPki } from "./certs.ts";
import { captureLogs, diffSeries, fillClusterCycle, otelConfig, seriesOfPoints, seriesOfStores } from "./helpers.ts";
import { type OtlpReceiver, startReceiver } from "./receiver.ts";

let pki: TestPki;
let mtls: OtlpReceiver;
let plain: OtlpReceiver;
const store = createGaugeStore();

beforeAll(async () => {
  pki = makeTestPki();
  mtls = await startReceiver({
    tls: {
      cert: pki.read(pki.serverCertFile),
      key: pki.read(pki.serverKeyFile),
      clientCa: pki.read(pki.caFile),
      requireClientCert: true,
    },
  });
  plain = await startReceiver();
  fillClusterCycle(store, { cluster: "tls", groups: 1, partitions: 800, seed: 3 });
});
afterAll(async () => {
  await mtls.stop();
  await plain.stop();
  pki.remove();
});

async function exportOnce(endpoint: string, over: Parameters<typeof otelConfig>[1]) {
  const logs = captureLogs();
  const bridge = createOtlpBridge({
    config: otelConfig(endpoint, { timeoutMs: 3_000, ...over }),
    version: "1",
    logger: logs.logger,
    sources: () => [store],
  });
  const started = bridge.start();
  await bridge.flush();
  const stats = bridge.stats();
  await bridge.shutdown();
  return { started, stats, logs };
}

describe("OTLP over TLS", () => {
  test("verifies the collector with ca_file and presents the client certificate from cert_file and key_file", async () => {
    mtls.clear();
    expect(mtls.endpoint.startsWith("https://")).toBe(true);
    const { started, stats } = await exportOnce(mtls.endpoint, {
      caFile: pki.caFile,
      certFile: pki.clientCertFile,
      keyFile: pki.clientKeyFile,
      headers: { "x-tenant": "tls" },
    });
    expect(started).toEqual({ kind: "started" });
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(0);
    const points = mtls.collections().at(-1) ?? [];
    expect(diffSeries(seriesOfStores([store]), seriesOfPoints(points))).toEqual([]);
    expect(mtls.requests[0]?.metadata["x-tenant"]).toEqual(["tls"]);
  }, 20_000);

  test("a collector whose certificate is not signed by ca_file is refused: the export fails and is logged", async () => {
    mtls.clear();
    const { stats, logs } = await exportOnce(mtls.endpoint, {
      caFile: pki.otherCaFile,
      certFile: pki.clientCertFile,
      keyFile: pki.clientKeyFile,
    });
    expect(stats.ok).toBe(0);
    expect(stats.failed).toBeGreaterThan(0);
    expect(mtls.arrivals).toBe(0);
    expect(logs.count("warn", "OTLP export failed")).toBeGreaterThanOrEqual(1);
  }, 20_000);

  test("reaches the collector by host name (localhost) with SNI as well as by IP address", async () => {
    mtls.clear();
    const { stats } = await exportOnce(`https://localhost:${mtls.port}`, {
      caFile: pki.caFile,
      certFile: pki.clientCertFile,
      keyFile: pki.clientKeyFile,
    });
    expect(stats).toMatchObject({ failed: 0 });
    expect(mtls.requests.length).toBeGreaterThan(0);
  }, 20_000);

  test("a collector certificate from the right CA but for another host name is refused (identity is checked on IP endpoints)", async () => {
    const wrongHost = await startReceiver({
      tls: { cert: pki.read(pki.otherHostCertFile), key: pki.read(pki.otherHostKeyFile) },
    });
    try {
      const { stats } = await exportOnce(wrongHost.endpoint, { caFile: pki.caFile });
      expect(stats.ok).toBe(0);
      expect(stats.failed).toBeGreaterThan(0);
      expect(wrongHost.arrivals).toBe(0);
      expect(stats.lastError).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
    } finally {
      await wrongHost.stop();
    }
  }, 20_000);

  test("without a client certificate a collector that requires one refuses the export", async () => {
    mtls.clear();
    const { stats } = await exportOnce(mtls.endpoint, { caFile: pki.caFile });
    expect(stats.ok).toBe(0);
    expect(stats.failed).toBeGreaterThan(0);
    expect(mtls.arrivals).toBe(0);
  }, 20_000);

  test("an http:// endpoint speaks plaintext, which a TLS collector refuses (fails, does not hang)", async () => {
    mtls.clear();
    const t0 = performance.now();
    const { stats } = await exportOnce(`http://127.0.0.1:${mtls.port}`, {});
    expect(stats.ok).toBe(0);
    expect(stats.failed).toBeGreaterThan(0);
    expect(performance.now() - t0).toBeLessThan(10_000);
  }, 20_000);

  test("insecure = true forces plaintext even for an https:// endpoint, ignoring TLS files", async () => {
    plain.clear();
    const { stats, logs } = await exportOnce(`https://127.0.0.1:${plain.port}`, {
      insecure: true,
      caFile: pki.caFile,
    });
    expect(stats).toMatchObject({ failed: 0 });
    expect(plain.requests.length).toBeGreaterThan(0);
    expect(logs.count("warn", "insecure is set")).toBe(1);
  }, 20_000);
});
