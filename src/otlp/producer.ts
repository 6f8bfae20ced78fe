/**
 * The store-backed OTLP metric producer: at each collection it walks the gauge stores that are
 * published right now and turns every series into one data point. It keeps no per-series state
 * between collections, so a withdrawn (stale) store or a vanished series is simply not exported.
 */
import { type Attributes, type HrTime, ValueType } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type MetricData,
  type MetricProducer,
} from "@opentelemetry/sdk-metrics";
import { emptyResource } from "@opentelemetry/resources";
import type { MetricDef } from "../metrics/catalog.ts";
import type { GaugeStore } from "../metrics/store.ts";

export interface StoreProducerOptions {
  /** The stores to export, read at every collection (stale clusters are simply not in it). */
  sources: () => Iterable<GaugeStore>;
  /** Instrumentation scope of every metric. */
  scope: { name: string; version: string };
  /** Milliseconds since the epoch; the collection time of every point. */
  nowMs: () => number;
  /** Called when walking the stores throws (a bug); the collection then exports what it has. */
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
      const points = new Map<MetricDef, DataPoint<number>[]>();
      const errors: unknown[] = [];
      try {
        for (const store of opts.sources()) {
          let start = firstSeen.get(store);
          if (start === undefined) {
            start = now;
            firstSeen.set(store, start);
          }
          const storeStart = start;
          store.forEachSeries((def, labels, value) => {
            let list = points.get(def);
            if (list === undefined) {
              list = [];
              points.set(def, list);
            }
            list.push({
              startTime: def.type === "counter" ? storeStart : now,
              endTime: now,
              attributes: labels as Attributes,
              value,
            });
          });
        }
      } catch (error) {
        errors.push(error);
        opts.onError?.(error);
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

function toMetricData(def: MetricDef, dataPoints: DataPoint<number>[]): MetricData {
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
