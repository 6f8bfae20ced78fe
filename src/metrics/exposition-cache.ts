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
  /**
   * Like `current`, but a gzip variant not built yet is compressed on a thread-pool thread:
   * the caller's thread stays free meanwhile. Concurrent calls share one compression.
   */
  currentAsync(format: ExpositionFormat, gzip: boolean): Bytes | Promise<Bytes>;
}

type GzipLevel = -1 | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

export interface ExpositionCacheOptions {
  /** gzip level; default 6. */
  gzipLevel?: number;
  /** Compresses off the calling thread (`currentAsync`); default: synchronously. */
  gzipAsync?: (plain: Bytes, level: number) => Promise<Bytes>;
}

export function createExpositionCache(initial: ExpositionSnapshot, opts: ExpositionCacheOptions = {}): ExpositionCache {
  const gzipLevel = opts.gzipLevel ?? 6;
  const gzipAsync =
    opts.gzipAsync ??
    ((plain: Bytes, level: number) => Promise.resolve(Bun.gzipSync(plain, { level: level as GzipLevel })));
  let snap = initial;
  let variants: Partial<Record<"openmetrics" | "prometheusGzip" | "openmetricsGzip", Bytes>> = {};
  let compressing: Partial<Record<"prometheusGzip" | "openmetricsGzip", Promise<Bytes>>> = {};
  const plainOf = (format: ExpositionFormat): Bytes => {
    if (format === "prometheus") return snap.prometheus;
    variants.openmetrics ??= openMetricsFrom(snap);
    return variants.openmetrics;
  };
  const gzipKey = (format: ExpositionFormat) => (format === "prometheus" ? "prometheusGzip" : "openmetricsGzip");
  return {
    set(snapshot) {
      snap = snapshot;
      variants = {};
      compressing = {};
    },
    snapshot: () => snap,
    current(format, gzip) {
      const plain = plainOf(format);
      if (!gzip) return plain;
      const key = gzipKey(format);
      let compressed = variants[key];
      if (compressed === undefined) {
        compressed = Bun.gzipSync(plain, { level: gzipLevel as GzipLevel });
        variants[key] = compressed;
      }
      return compressed;
    },
    currentAsync(format, gzip) {
      const plain = plainOf(format);
      if (!gzip) return plain;
      const key = gzipKey(format);
      const done = variants[key];
      if (done !== undefined) return done;
      const pending = compressing[key];
      if (pending !== undefined) return pending;
      const forVariants = variants;
      const promise = gzipAsync(plain, gzipLevel).then((bytes) => {
        // Kept only if no newer snapshot arrived meanwhile.
        if (variants === forVariants) forVariants[key] = bytes;
        return bytes;
      });
      compressing[key] = promise;
      return promise;
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
