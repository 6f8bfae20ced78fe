/**
 * The store-backed OTLP metric producer: at each collection it renders the gauge stores that are
 * published right now (the very sample lines /metrics serves) and turns every line into one
 * data point that points into those bytes. It keeps no per-series state between collections,
 * so a withdrawn (stale) store or a vanished series is simply not exported.
 */
import type { HrTime } from "@opentelemetry/api";
import { ValueType } from "@opentelemetry/api";
import { emptyResource } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  type CollectionResult,
  DataPointType,
  type MetricData,
  type MetricProducer,
} from "@opentelemetry/sdk-metrics";
import type { MetricDef } from "../metrics/catalog.ts";
import type { GaugeStore } from "../metrics/store.ts";
import { StorePoint } from "./encode.ts";

export interface StoreProducerOptions {
  /** The stores to export, read at every collection (stale clusters are simply not in it). */
  sources: () => Iterable<GaugeStore>;
  /** Instrumentation scope of every metric. */
  scope: { name: string; version: string };
  /** Milliseconds since the epoch; the collection time of every point. */
  nowMs: () => number;
  /** Called when reading the stores throws (a bug); the collection then exports what it has. */
  onError?: (error: unknown) => void;
}

export function msToHrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

/**
 * A `MetricProducer` for the SDK's metric reader. Gauges become OTLP Gauges; counters become
 * cumulative monotonic Sums whose start time is when this producer first saw their store (a
 * replaced store, e.g. after a cluster restart, starts a new cumulative stream).
 */
export function createStoreProducer(opts: StoreProducerOptions): MetricProducer {
  const firstSeen = new WeakMap<GaugeStore, HrTime>();
  // The reader puts the MeterProvider's resource on the batch; this one is never exported.
  const placeholder = emptyResource();

  return {
    async collect(): Promise<CollectionResult> {
      const now = msToHrTime(opts.nowMs());
      const points = new Map<MetricDef, StorePoint[]>();
      const errors: unknown[] = [];
      for (const store of opts.sources()) {
        try {
          let start = firstSeen.get(store);
          if (start === undefined) {
            start = now;
            firstSeen.set(store, start);
          }
          for (const fragment of store.renderFamilies()) {
            let list = points.get(fragment.def);
            if (list === undefined) {
              list = [];
              points.set(fragment.def, list);
            }
            parseLines(fragment.def, fragment.bytes, fragment.def.type === "counter" ? start : now, now, list);
          }
        } catch (error) {
          errors.push(error);
          opts.onError?.(error);
        }
      }
      const metrics: MetricData[] = [];
      const defs = [...points.keys()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const def of defs) metrics.push(toMetricData(def, points.get(def)!));
      return {
        resourceMetrics: {
          resource: placeholder,
          scopeMetrics: metrics.length === 0 ? [] : [{ scope: opts.scope, metrics }],
        },
        errors,
      };
    },
  };
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;

/**
 * One point per sample line `name{labels} value\n` (or `name value\n`). The value is the last
 * space-separated field (label values may contain spaces, values never do).
 */
function parseLines(def: MetricDef, bytes: Uint8Array, startTime: HrTime, endTime: HrTime, out: StorePoint[]): void {
  const nameLength = def.name.length;
  let pos = 0;
  while (pos < bytes.length) {
    let lineEnd = bytes.indexOf(NEWLINE, pos);
    if (lineEnd < 0) lineEnd = bytes.length;
    let space = lineEnd - 1;
    while (space > pos && bytes[space] !== SPACE) space--;
    const afterName = pos + nameLength;
    const hasLabels = bytes[afterName] === OPEN_BRACE;
    const labelStart = hasLabels ? afterName + 1 : afterName;
    const labelEnd = hasLabels ? space - 1 : afterName; // before the closing brace
    out.push(new StorePoint(startTime, endTime, parseValue(bytes, space + 1, lineEnd), bytes, labelStart, labelEnd));
    pos = lineEnd + 1;
  }
}

/** A sample value as `formatValue` writes it: integers exactly, else via Number(); NaN and ±Inf. */
export function parseValue(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  const negative = bytes[i] === 0x2d; // -
  if (negative) i++;
  if (end - i <= 15 && i < end) {
    let n = 0;
    let digits = true;
    for (let k = i; k < end; k++) {
      const d = bytes[k]! - 0x30;
      if (d < 0 || d > 9) {
        digits = false;
        break;
      }
      n = n * 10 + d;
    }
    if (digits) return negative ? -n : n;
  }
  const text = String.fromCharCode(...bytes.subarray(start, end));
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(text); // "NaN" → NaN; decimals and exponents parse exactly (shortest round-trip digits)
}

function toMetricData(def: MetricDef, dataPoints: StorePoint[]): MetricData {
  const descriptor = { name: def.name, description: def.help, unit: "", valueType: ValueType.DOUBLE };
  if (def.type === "counter") {
    return {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints,
    };
  }
  return {
    descriptor,
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.GAUGE,
    dataPoints,
  };
}
