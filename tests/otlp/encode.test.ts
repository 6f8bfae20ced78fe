import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { ValueType } from "@opentelemetry/api";
import { ProtobufMetricsSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  type DataPoint,
  DataPointType,
  type MetricData,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import protobuf from "protobufjs";
import { M } from "../../src/metrics/catalog.ts";
import { formatValue } from "../../src/metrics/prometheus-text.ts";
import { createGaugeStore } from "../../src/metrics/store.ts";
import { decodeLabelText, encodeExportRequest, StorePoint, Writer } from "../../src/otlp/encode.ts";
import { createStoreProducer, parseValue } from "../../src/otlp/producer.ts";

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => resolve(import.meta.dir, "proto", target);
root.loadSync("opentelemetry/proto/collector/metrics/v1/metrics_service.proto");
const Request = root.lookupType("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest");

function decode(bytes: Uint8Array): unknown {
  return Request.toObject(Request.decode(bytes), { longs: String, enums: String, defaults: true });
}

const T0: [number, number] = [1_795_000_000, 123_456_789];
const T1: [number, number] = [1_795_000_010, 999_999_999];

function generic(attributes: DataPoint<number>["attributes"], value: number): DataPoint<number> {
  return { startTime: T0, endTime: T1, attributes, value };
}

function request(metrics: MetricData[]): ResourceMetrics {
  return {
    resource: resourceFromAttributes({ "service.name": "klag-exporter", "service.version": "1.0", "host.cpus": 8 }),
    scopeMetrics: [{ scope: { name: "klag-exporter", version: "1.0" }, metrics }],
  };
}

describe("OTLP protobuf encoding", () => {
  test("timestamps are exact nanoseconds since the epoch", () => {
    const w = new Writer();
    const cases: [number, number][] = [
      [0, 0],
      [1, 1],
      [1_795_000_000, 123_456_789],
      [4_294_967_295, 999_999_999],
      [65_535, 999_999_999],
      [65_536, 0],
    ];
    for (let i = 0; i < 200; i++) cases.push([Math.floor(Math.random() * 4e9), Math.floor(Math.random() * 1e9)]);
    for (const t of cases) {
      w.reset();
      w.time(1, t);
      const view = new DataView(w.buf.buffer, 1, 8);
      expect(view.getBigUint64(0, true)).toBe(BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]));
    }
  });

  test("decodes to the same request as OpenTelemetry's own serializer, for plain and store-backed points", () => {
    const store = createGaugeStore({ extraLabels: { env: 'pro"d', team: "a\\b\nc" } });
    store.beginCycle(0);
    store.set(M.groupLag, ["c1", "g1", "tö pic } x", 3, "/10.0.0.1", "id", "cl", "false", "true"], 42);
    store.set(M.groupLag, ["c1", "g1", "t", 4, "", "", "", "false", "false"], Number.NaN);
    store.set(M.kafkaRequests, ["c1", "Metadata"], 2 ** 53);
    store.endCycle();
    const points: StorePoint[] = [];
    for (const f of store.renderFamilies()) {
      const text = new TextDecoder().decode(f.bytes);
      let pos = 0;
      for (const line of text.split("\n").filter(Boolean)) {
        const bytes = new TextEncoder().encode(`${line}\n`);
        const open = bytes.indexOf(0x7b);
        const close = bytes.lastIndexOf(0x20) - 1;
        points.push(new StorePoint(T0, T1, Number(line.slice(line.lastIndexOf(" ") + 1)), bytes, open + 1, close));
        pos++;
      }
      expect(pos).toBe(f.series);
    }
    const metrics: MetricData[] = [
      {
        descriptor: { name: "g", description: "a gauge", unit: "s", valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.GAUGE,
        dataPoints: [
          generic(
            { a: "x", ok: true, n: -5, big: 2 ** 40, f: 0.25, list: ["p", "q"], bytes: new Uint8Array([1, 2]) },
            1.5,
          ),
          generic({}, -0.125),
          ...points,
        ],
      },
      {
        descriptor: { name: "c_total", description: "", unit: "", valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: [generic({ api: "Fetch" }, 7)],
      },
      {
        descriptor: { name: "d", description: "delta", unit: "", valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.DELTA,
        dataPointType: DataPointType.SUM,
        isMonotonic: false,
        dataPoints: [generic({ k: "v" }, 3)],
      },
    ];
    const ours = decode(encodeExportRequest(request(metrics)));
    const theirs = decode(ProtobufMetricsSerializer.serializeRequest(request(metrics))!);
    expect(ours).toEqual(theirs);
    // And the store-backed attributes are the store's labels, unescaped.
    expect(JSON.stringify(ours)).toContain("tö pic } x");
    const third = points.find((p) => p.attributes.partition === "3");
    expect(third?.attributes).toMatchObject({ env: 'pro"d', team: "a\\b\nc", topic: "tö pic } x" });
  });

  test("a request larger than the writer's first buffer, with lengths of every varint size, decodes intact", () => {
    const long = "x".repeat(20_000);
    const dataPoints = Array.from({ length: 3_000 }, (_, i) =>
      generic({ i: String(i), pad: i % 100 === 0 ? long : "y" }, i),
    );
    const metrics: MetricData[] = [
      {
        descriptor: { name: "big", description: long, unit: "", valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.GAUGE,
        dataPoints,
      },
    ];
    const w = new Writer(16);
    expect(decode(encodeExportRequest(request(metrics), w))).toEqual(
      decode(ProtobufMetricsSerializer.serializeRequest(request(metrics))!),
    );
  });

  test("label text decodes to the labels it was rendered from", () => {
    const text = 'a="1",b="q\\"uote",c="back\\\\slash",d="new\\nline",e="",f="ü}{ ,="';
    const bytes = new TextEncoder().encode(text);
    expect(decodeLabelText(bytes, 0, bytes.length)).toEqual({
      a: "1",
      b: 'q"uote',
      c: "back\\slash",
      d: "new\nline",
      e: "",
      f: "ü}{ ,=",
    });
  });

  test("sample values parse back exactly as formatValue wrote them", () => {
    const values = [
      0,
      -0,
      1,
      -3,
      2 ** 53,
      -(2 ** 53),
      2 ** 53 + 2,
      123456789012345,
      0.5,
      1e-5,
      1234567.5,
      1e21,
      -1e-300,
    ];
    values.push(Number.MAX_VALUE, Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
    for (let i = 0; i < 500; i++) values.push((Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 40 - 20));
    for (const v of values) {
      const bytes = new TextEncoder().encode(` ${formatValue(v)}\n`);
      const parsed = parseValue(bytes, 1, bytes.length - 1);
      if (Number.isNaN(v)) expect(parsed).toBeNaN();
      else expect(parsed).toBe(v === 0 ? 0 : v);
    }
  });

  test("the producer reads every series of every store once, counters from their store's start time", async () => {
    const a = createGaugeStore({ extraLabels: { dc: "x" } });
    const b = createGaugeStore();
    for (const s of [a, b]) {
      s.beginCycle(0);
      s.set(M.groupMaxLag, ["c", "g"], 5);
      s.set(M.kafkaRequests, ["c", "ListOffsets"], 9);
      s.set(M.up, [], 1);
      s.endCycle();
    }
    let now = 1_000_000;
    const producer = createStoreProducer({
      sources: () => [a, b],
      scope: { name: "s", version: "1" },
      nowMs: () => now,
    });
    await producer.collect();
    now += 5_000;
    const { resourceMetrics, errors } = await producer.collect();
    expect(errors).toEqual([]);
    const metrics = resourceMetrics.scopeMetrics[0]!.metrics;
    expect(metrics.map((m) => m.descriptor.name)).toEqual([M.groupMaxLag.name, M.kafkaRequests.name, M.up.name]);
    for (const m of metrics) expect(m.dataPoints.length).toBe(2);
    const sum = metrics[1]!;
    expect(sum.dataPointType).toBe(DataPointType.SUM);
    expect(sum.dataPoints[0]!.startTime).toEqual([1000, 0]);
    expect(sum.dataPoints[0]!.endTime).toEqual([1005, 0]);
    expect(metrics[0]!.dataPoints[0]!.startTime).toEqual([1005, 0]);
    expect(metrics[0]!.dataPoints.map((p) => p.attributes)).toEqual([
      { cluster_name: "c", group: "g", dc: "x" },
      { cluster_name: "c", group: "g" },
    ]);
    expect(metrics[2]!.dataPoints.map((p) => p.attributes)).toEqual([{ dc: "x" }, {}]);
  });
});
