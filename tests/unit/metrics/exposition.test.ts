import { describe, expect, test } from "bun:test";
import { M } from "../../../src/metrics/catalog.ts";
import { createExposition } from "../../../src/metrics/exposition.ts";
import { createExpositionCache, openMetricsFrom } from "../../../src/metrics/exposition-cache.ts";
import { createGaugeStore, type GaugeStore } from "../../../src/metrics/store.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function clusterStore(name: string, lag: number, extraLabels?: Record<string, string>): GaugeStore {
  const store = createGaugeStore({ extraLabels });
  store.beginCycle(0);
  store.set(M.groupMaxLag, [name, "g"], lag);
  store.set(M.kafkaRequests, [name, "ListOffsets"], 3);
  store.endCycle();
  return store;
}

function processStore(): GaugeStore {
  const store = createGaugeStore();
  store.set(M.up, [], 1);
  return store;
}

describe("exposition assembly", () => {
  test("merges families across sources: HELP and TYPE once, samples contiguous in source id order", () => {
    const exposition = createExposition();
    exposition.publish("cluster/b", clusterStore("b", 2));
    exposition.publish("cluster/a", clusterStore("a", 1, { env: "prod" }));
    exposition.publish("process", processStore());
    expect(decode(exposition.current("prometheus", false))).toBe(
      `# HELP kafka_consumergroup_group_max_lag ${M.groupMaxLag.help}\n` +
        "# TYPE kafka_consumergroup_group_max_lag gauge\n" +
        'kafka_consumergroup_group_max_lag{cluster_name="a",group="g",env="prod"} 1\n' +
        'kafka_consumergroup_group_max_lag{cluster_name="b",group="g"} 2\n' +
        `# HELP kafka_lag_exporter_kafka_requests_total ${M.kafkaRequests.help}\n` +
        "# TYPE kafka_lag_exporter_kafka_requests_total counter\n" +
        'kafka_lag_exporter_kafka_requests_total{cluster_name="a",api="ListOffsets",env="prod"} 3\n' +
        'kafka_lag_exporter_kafka_requests_total{cluster_name="b",api="ListOffsets"} 3\n' +
        `# HELP kafka_lag_exporter_up ${M.up.help}\n` +
        "# TYPE kafka_lag_exporter_up gauge\n" +
        "kafka_lag_exporter_up 1\n",
    );
    expect(exposition.seriesCount()).toEqual(
      new Map([
        ["cluster/a", 2],
        ["cluster/b", 2],
        ["process", 1],
      ]),
    );
  });

  test("publishing null removes the source's series and families only it had", () => {
    const exposition = createExposition();
    exposition.publish("cluster/a", clusterStore("a", 1));
    exposition.publish("process", processStore());
    exposition.publish("cluster/a", null);
    expect(decode(exposition.current("prometheus", false))).toBe(
      `# HELP kafka_lag_exporter_up ${M.up.help}\n# TYPE kafka_lag_exporter_up gauge\nkafka_lag_exporter_up 1\n`,
    );
    expect([...exposition.seriesCount().keys()]).toEqual(["process"]);
  });

  test("the published bytes are a snapshot: later store writes show only after the next publish", () => {
    const exposition = createExposition();
    const store = clusterStore("a", 1);
    exposition.publish("cluster/a", store);
    const first = exposition.current("prometheus", false);
    store.set(M.groupMaxLag, ["a", "g"], 99);
    expect(exposition.current("prometheus", false)).toBe(first);
    expect(decode(first)).toContain("} 1\n");
    exposition.publish("cluster/a", store);
    expect(decode(exposition.current("prometheus", false))).toContain("} 99\n");
  });

  test("every variant is computed once per version and the same array is served until the next publish", () => {
    const exposition = createExposition();
    exposition.publish("cluster/a", clusterStore("a", 1));
    const v = exposition.version();
    for (const format of ["prometheus", "openmetrics"] as const) {
      for (const gzip of [false, true]) {
        expect(exposition.current(format, gzip)).toBe(exposition.current(format, gzip));
      }
    }
    const before = exposition.current("openmetrics", true);
    exposition.publish("cluster/a", clusterStore("a", 1));
    expect(exposition.version()).toBe(v + 1);
    expect(exposition.current("openmetrics", true)).not.toBe(before);
  });

  test("gzip bytes decompress to exactly the plain exposition", () => {
    const exposition = createExposition();
    exposition.publish("cluster/a", clusterStore("a", 1));
    for (const format of ["prometheus", "openmetrics"] as const) {
      const gz = exposition.current(format, true);
      expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
      expect(decode(Bun.gunzipSync(gz))).toBe(decode(exposition.current(format, false)));
    }
  });

  test("OpenMetrics uses the same samples, names counter families without _total and ends with # EOF", () => {
    const exposition = createExposition();
    exposition.publish("cluster/a", clusterStore("a", 1));
    const om = decode(exposition.current("openmetrics", false));
    const prom = decode(exposition.current("prometheus", false));
    expect(om.endsWith("\n# EOF\n") || om === "# EOF\n").toBe(true);
    expect(om).toContain("# TYPE kafka_lag_exporter_kafka_requests counter\n");
    expect(om).toContain('kafka_lag_exporter_kafka_requests_total{cluster_name="a",api="ListOffsets"} 3\n');
    const samples = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(samples(om)).toEqual(samples(prom));
  });

  test("before any publish the exposition is empty (OpenMetrics: just # EOF)", () => {
    const exposition = createExposition();
    expect(decode(exposition.current("prometheus", false))).toBe("");
    expect(decode(exposition.current("openmetrics", false))).toBe("# EOF\n");
    expect(exposition.seriesCount().size).toBe(0);
  });

  test("non-ASCII label values are encoded as UTF-8", () => {
    const store = createGaugeStore();
    store.set(M.groupMaxLag, ["zürich", "grüppe-🚀"], 1);
    const exposition = createExposition();
    exposition.publish("x", store);
    const bytes = exposition.current("prometheus", false);
    expect(decode(bytes)).toContain('cluster_name="zürich",group="grüppe-🚀"');
    expect(bytes.length).toBe(Buffer.byteLength(decode(bytes)));
  });
});

describe("exposition memory sharing", () => {
  test("bytes handed out earlier never change when later versions reuse them", () => {
    const exposition = createExposition();
    exposition.publish("cluster/a", clusterStore("a", 1));
    const first = exposition.current("prometheus", false);
    const copy = first.slice();
    exposition.publish("cluster/b", clusterStore("b", 2));
    exposition.publish("cluster/a", clusterStore("a", 3));
    exposition.current("openmetrics", true);
    expect(first).toEqual(copy);
    const latest = decode(exposition.current("prometheus", false));
    expect(latest).toContain('{cluster_name="a",group="g"} 3\n');
    expect(latest).toContain('{cluster_name="b",group="g"} 2\n');
  });
});

describe("shared snapshots (what the HTTP thread serves)", () => {
  test("with shared, the text lives in a SharedArrayBuffer, is byte-identical, and onAssemble sees every assembly once per burst", async () => {
    const seen: number[] = [];
    const shared = createExposition({ shared: true, onAssemble: (s) => seen.push(s.version) });
    const plain = createExposition();
    for (const e of [shared, plain]) {
      e.publish("cluster/a/data", clusterStore("a", 4, { env: "prod" }));
      e.publish("cluster/a/self", processStore());
    }
    await Promise.resolve();
    expect(seen).toEqual([3]); // two publishes, one assembly
    const snapshot = shared.snapshot();
    expect(snapshot.prometheus.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(plain.snapshot().prometheus.buffer).toBeInstanceOf(ArrayBuffer);
    expect(decode(snapshot.prometheus)).toBe(decode(plain.current("prometheus", false)));
    for (const format of ["prometheus", "openmetrics"] as const) {
      expect(decode(shared.current(format, false))).toBe(decode(plain.current(format, false)));
      expect(decode(Bun.gunzipSync(shared.current(format, true)))).toBe(decode(plain.current(format, false)));
    }
  });

  test("a snapshot's family index points at each family's samples, and OpenMetrics is rebuilt from it alone", () => {
    const exposition = createExposition();
    exposition.publish("cluster/a", clusterStore("a", 1));
    exposition.publish("cluster/b", clusterStore("b", 2));
    const s = exposition.snapshot();
    const text = decode(s.prometheus);
    for (const f of s.families) {
      const samples = decode(s.prometheus.subarray(f.samplesStart, f.samplesEnd));
      expect(samples.length).toBeGreaterThan(0);
      expect(samples.endsWith("\n")).toBe(true);
      expect(samples.split("\n").every((l) => l === "" || !l.startsWith("#"))).toBe(true);
      // The Prometheus header sits right before the samples.
      expect(
        text.slice(0, f.samplesStart).endsWith(" gauge\n") || text.slice(0, f.samplesStart).endsWith(" counter\n"),
      ).toBe(true);
    }
    const copy = createExposition();
    copy.publish("cluster/a", clusterStore("a", 1));
    copy.publish("cluster/b", clusterStore("b", 2));
    expect(decode(openMetricsFrom(s))).toBe(decode(copy.current("openmetrics", false)));
  });
});

describe("exposition cache: compression off the calling thread", () => {
  test("currentAsync compresses once for concurrent callers, then serves the bytes; a newer snapshot is never served the older compression", async () => {
    const exposition = createExposition();
    exposition.publish("cluster/a", clusterStore("a", 1));
    const first = exposition.snapshot();
    exposition.publish("cluster/a", clusterStore("a", 2));
    const second = exposition.snapshot();
    let calls = 0;
    let release: (() => void) | undefined;
    const cache = createExpositionCache(first, {
      gzipAsync: async (plain, level) => {
        calls++;
        await new Promise<void>((r) => {
          release = r;
        });
        return Bun.gzipSync(plain, { level: level as 6 });
      },
    });
    const a = cache.currentAsync("openmetrics", true);
    const b = cache.currentAsync("openmetrics", true);
    expect(a).toBeInstanceOf(Promise);
    expect(b).toBe(a);
    expect(calls).toBe(1);
    // Plain variants never wait.
    expect(cache.currentAsync("prometheus", false)).toBe(first.prometheus);
    cache.set(second); // a new exposition arrives while the old one is being compressed
    release!();
    expect(decode(Bun.gunzipSync(await a))).toBe(decode(openMetricsFrom(first)));
    const c = cache.currentAsync("openmetrics", true);
    expect(c).toBeInstanceOf(Promise); // the old result was not kept for the new snapshot
    release!();
    const bytes = await c;
    expect(decode(Bun.gunzipSync(bytes))).toBe(decode(openMetricsFrom(second)));
    expect(cache.currentAsync("openmetrics", true)).toBe(bytes);
    expect(calls).toBe(2);
  });
});
