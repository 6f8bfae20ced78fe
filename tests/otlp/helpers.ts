/**
 * Shared pieces of the OTLP tests: a test OtelConfig, a log capture, store fillers, and one
 * canonical form of a series (name + sorted labels → value text) for comparing what the
 * receiver got with the Prometheus exposition of the same stores.
 */
import type { OtelConfig } from "../../src/config/types.ts";
import { createLogger, type Logger } from "../../src/lib/log.ts";
import { M } from "../../src/metrics/catalog.ts";
import { formatValue } from "../../src/metrics/prometheus-text.ts";
import type { GaugeStore } from "../../src/metrics/store.ts";
import type { ReceivedPoint } from "./receiver.ts";

export function otelConfig(endpoint: string, over: Partial<OtelConfig> = {}): OtelConfig {
  return {
    enabled: true,
    endpoint,
    exportIntervalMs: 60_000,
    timeoutMs: 2_000,
    headers: {},
    insecure: false,
    compression: "none",
    ...over,
  };
}

export interface LogCapture {
  logger: Logger;
  lines: Record<string, unknown>[];
  count(level: string, msgPart: string): number;
}

export function captureLogs(): LogCapture {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "debug",
    format: "json",
    write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  return {
    logger,
    lines,
    count: (level, msgPart) => lines.filter((l) => l.level === level && String(l.msg).includes(msgPart)).length,
  };
}

/** `name{a="x",b="y"}` with labels sorted by name: one series' identity in every source. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(",")}}`;
}

/** Series → value text (Prometheus formatting, so NaN and ±Inf compare too). */
export type SeriesMap = Map<string, string>;

export function seriesOfStores(stores: Iterable<GaugeStore>): SeriesMap {
  const out: SeriesMap = new Map();
  for (const s of stores)
    s.forEachSeries((def, labels, value) => out.set(seriesKey(def.name, labels), formatValue(value)));
  return out;
}

export function seriesOfPoints(points: readonly ReceivedPoint[]): SeriesMap {
  const out: SeriesMap = new Map();
  for (const p of points) {
    const key = seriesKey(p.metric, p.attributes);
    if (out.has(key)) throw new Error(`series exported twice in one collection: ${key}`);
    out.set(key, formatValue(p.value));
  }
  return out;
}

/** Parses the sample lines of Prometheus text 0.0.4 (written independently of the renderer). */
export function seriesOfExposition(text: string): SeriesMap {
  const out: SeriesMap = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const head = line.slice(0, space);
    const value = line.slice(space + 1);
    const brace = head.indexOf("{");
    if (brace < 0) {
      out.set(seriesKey(head, {}), value);
      continue;
    }
    const name = head.slice(0, brace);
    const labels: Record<string, string> = {};
    let i = brace + 1;
    while (head[i] !== "}") {
      const eq = head.indexOf("=", i);
      const key = head.slice(i, eq);
      i = eq + 2; // skip ="
      let v = "";
      while (head[i] !== '"') {
        if (head[i] === "\\") {
          const next = head[i + 1];
          v += next === "n" ? "\n" : next;
          i += 2;
        } else v += head[i++];
      }
      labels[key] = v;
      i++; // closing quote
      if (head[i] === ",") i++;
    }
    out.set(seriesKey(name, labels), value);
  }
  return out;
}

/** The differences between two series maps, for readable assertion failures (empty = equal). */
export function diffSeries(expected: SeriesMap, actual: SeriesMap, max = 10): string[] {
  const out: string[] = [];
  for (const [k, v] of expected) {
    if (!actual.has(k)) out.push(`missing ${k} ${v}`);
    else if (actual.get(k) !== v) out.push(`value ${k}: expected ${v}, got ${actual.get(k)}`);
    if (out.length >= max) return out;
  }
  for (const [k, v] of actual) {
    if (!expected.has(k)) out.push(`unexpected ${k} ${v}`);
    if (out.length >= max) return out;
  }
  return out;
}

/**
 * One cycle of a cluster store: `partitions` group-lag (and offset) series per group plus the
 * group aggregates and a few cluster series; values derive from `seed` so each cycle differs.
 */
export function fillClusterCycle(
  store: GaugeStore,
  o: { cluster: string; groups: number; partitions: number; seed: number; topic?: string; nowMs?: number },
): void {
  const topic = o.topic ?? "orders";
  store.beginCycle(o.nowMs ?? Date.now());
  for (let g = 0; g < o.groups; g++) {
    const group = `group-${g}`;
    let sum = 0;
    let max = 0;
    for (let p = 0; p < o.partitions; p++) {
      const lag = (o.seed * 7 + g * 13 + p) % 1000;
      sum += lag;
      max = Math.max(max, lag);
      const member = [`/10.0.${g % 256}.${p % 256}`, `consumer-${g}-${p % 4}`, `client-${g}`] as const;
      store.set(M.groupLag, [o.cluster, group, topic, p, ...member, "false", p % 97 === 0 ? "true" : "false"], lag);
      store.set(M.groupOffset, [o.cluster, group, topic, p, ...member], 1_000_000 + o.seed + p);
    }
    store.set(M.groupTopicSumLag, [o.cluster, group, topic], sum);
    store.set(M.groupSumLag, [o.cluster, group], sum);
    store.set(M.groupMaxLag, [o.cluster, group], max);
    store.set(M.groupState, [o.cluster, group], 3);
  }
  for (let p = 0; p < o.partitions; p++) store.set(M.partitionLatestOffset, [o.cluster, topic, p], 2_000_000 + p);
  store.set(M.compactionDetected, [o.cluster], o.seed % 3);
  store.set(M.lastUpdate, [o.cluster], 1_700_000_000.25 + o.seed);
  store.set(M.pollTimeMs, [o.cluster], 12.5);
  store.set(M.kafkaRequests, [o.cluster, "ListOffsets"], 10 * (o.seed + 1));
  store.set(M.kafkaRequests, [o.cluster, "Metadata"], 2 * (o.seed + 1));
  store.endCycle();
}
