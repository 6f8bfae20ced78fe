/**
 * A published exposition as plain data (the Prometheus text plus where each family's samples
 * sit in it) and the cache that serves it: the OpenMetrics text and the gzip variants are
 * derived from it lazily, once per snapshot. Plain data, so a snapshot can cross to the HTTP
 * worker thread; with a SharedArrayBuffer behind the text it crosses without a copy.
 */
import { type ExpositionFormat, renderTrailer } from "./prometheus-text.ts";

export interface ExpositionSnapshot {
  /** Increments with every publish. */
  version: number;
  /** The Prometheus 0.0.4 text: per family its header and samples, in name order. Never written after assembly. */
  prometheus: Bytes;
  /** Per family, in order: its OpenMetrics header and the byte range of its samples in `prometheus`. */
  families: readonly { openMetricsHeader: string; samplesStart: number; samplesEnd: number }[];
}

/**
 * Exposition bytes. Typed as ArrayBuffer-backed (what `Response` and `Bun.gzipSync` declare);
 * an assembly made with `shared` is backed by a SharedArrayBuffer, which both read the same way.
 */
export type Bytes = Uint8Array<ArrayBuffer>;

export interface ExpositionCache {
  set(snapshot: ExpositionSnapshot): void;
  snapshot(): ExpositionSnapshot;
  /** The bytes for this format and encoding; the same array until the next `set`. */
  current(format: ExpositionFormat, gzip: boolean): Bytes;
}

type GzipLevel = -1 | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

export function createExpositionCache(initial: ExpositionSnapshot, gzipLevel = 6): ExpositionCache {
  let snap = initial;
  let variants: Partial<Record<"openmetrics" | "prometheusGzip" | "openmetricsGzip", Bytes>> = {};
  return {
    set(snapshot) {
      snap = snapshot;
      variants = {};
    },
    snapshot: () => snap,
    current(format, gzip) {
      let plain = snap.prometheus;
      if (format === "openmetrics") {
        variants.openmetrics ??= openMetricsFrom(snap);
        plain = variants.openmetrics;
      }
      if (!gzip) return plain;
      const key = format === "prometheus" ? "prometheusGzip" : "openmetricsGzip";
      let compressed = variants[key];
      if (compressed === undefined) {
        compressed = Bun.gzipSync(plain, { level: gzipLevel as GzipLevel });
        variants[key] = compressed;
      }
      return compressed;
    },
  };
}

const encoder = new TextEncoder();

/** The OpenMetrics text of a snapshot: OpenMetrics headers around the same sample lines, then `# EOF`. */
export function openMetricsFrom(snapshot: ExpositionSnapshot): Bytes {
  const headers = snapshot.families.map((f) => encoder.encode(f.openMetricsHeader));
  const trailer = encoder.encode(renderTrailer("openmetrics"));
  let total = trailer.length;
  snapshot.families.forEach((f, i) => {
    total += headers[i]!.length + f.samplesEnd - f.samplesStart;
  });
  const out = new Uint8Array(total);
  let offset = 0;
  snapshot.families.forEach((f, i) => {
    out.set(headers[i]!, offset);
    offset += headers[i]!.length;
    out.set(snapshot.prometheus.subarray(f.samplesStart, f.samplesEnd), offset);
    offset += f.samplesEnd - f.samplesStart;
  });
  out.set(trailer, offset);
  return out;
}
