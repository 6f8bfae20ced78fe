/**
 * The exposition assembler: the latest rendered fragment of each source (cluster stores, the
 * process store) merged into one exposition, built once per publish and served as cached
 * bytes; OpenMetrics and gzip variants are built lazily, once per version.
 */
import type { MetricDef } from "./catalog.ts";
import { type Bytes, createExpositionCache, type ExpositionSnapshot } from "./exposition-cache.ts";
import { compareStrings, type ExpositionFormat, renderFamilyHeader, renderTrailer } from "./prometheus-text.ts";
import type { FamilyFragment } from "./store.ts";

export type { Bytes, ExpositionSnapshot } from "./exposition-cache.ts";

/** Anything that renders sample lines per family into bytes it never changes later; a `GaugeStore` is one. */
export interface ExpositionSource {
  renderFamilies(): readonly FamilyFragment[];
}

export interface Exposition {
  /**
   * Renders `source` now and replaces what `sourceId` contributed before; `null` removes the
   * source (e.g. a stale cluster). Sources are merged in `sourceId` order within each family.
   */
  publish(sourceId: string, source: ExpositionSource | null): void;
  /** The current exposition bytes; the same array until the next publish. */
  current(format: ExpositionFormat, gzip: boolean): Bytes;
  /** The current exposition as plain data (what the HTTP worker serves). */
  snapshot(): ExpositionSnapshot;
  /** Increments on every publish; lets callers cache derived values (ETag, Content-Length). */
  version(): number;
  /** Series per source in the current exposition. */
  seriesCount(): ReadonlyMap<string, number>;
}

export interface ExpositionOptions {
  /** gzip level for `current(_, true)`; default 6. */
  gzipLevel?: number;
  /**
   * Assemble into SharedArrayBuffers, so a snapshot reaches another thread without a copy.
   * The bytes are never written after assembly.
   */
  shared?: boolean;
  /** Called with every new assembly (once per burst of publishes). */
  onAssemble?: (snapshot: ExpositionSnapshot) => void;
}

export function createExposition(opts: ExpositionOptions = {}): Exposition {
  const sources = new Map<string, EncodedSource>();
  let ver = 1;
  /** Sources changed since the last assembly (the assembly runs once per burst of publishes). */
  let dirty = false;

  function assembleSnapshot(): ExpositionSnapshot {
    const layout = mergeSources([...sources.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, s]) => s));
    return assemble(layout, ver, opts.shared === true);
  }
  const cache = createExpositionCache(assembleSnapshot(), { gzipLevel: opts.gzipLevel ?? 6 });
  function rebuild(): void {
    dirty = false;
    const snapshot = assembleSnapshot();
    cache.set(snapshot);
    opts.onAssemble?.(snapshot);
  }

  return {
    publish(sourceId, source) {
      // Rendered now (later store writes must not show), assembled once for the publishes made
      // together: a cluster publishes its data and self stores back to back, and each assembly
      // copies the whole exposition.
      if (source === null) sources.delete(sourceId);
      else sources.set(sourceId, encodeSource(source.renderFamilies()));
      ver++;
      if (!dirty) {
        dirty = true;
        queueMicrotask(() => {
          if (dirty) rebuild();
        });
      }
    },
    current(format, gzip) {
      if (dirty) rebuild();
      return cache.current(format, gzip);
    },
    snapshot() {
      if (dirty) rebuild();
      return cache.snapshot();
    },
    version: () => ver,
    seriesCount() {
      const counts = new Map<string, number>();
      for (const id of [...sources.keys()].sort(compareStrings)) counts.set(id, sources.get(id)!.series);
      return counts;
    },
  };
}

/** One family's sample lines from one source; `bytes` is re-pointed into each new assembly. */
interface Slice {
  readonly def: MetricDef;
  bytes: Uint8Array;
}

/** A source's sample lines, one slice per family. */
interface EncodedSource {
  slices: Slice[];
  series: number;
}

/** One family of the merged exposition: its definition and each source's slice, in order. */
interface FamilyLayout {
  def: MetricDef;
  slices: Slice[];
}

const encoder = new TextEncoder();

/** Keeps a source's rendered fragments (they own their bytes, so later store writes do not leak in). */
function encodeSource(fragments: readonly FamilyFragment[]): EncodedSource {
  let series = 0;
  for (const fragment of fragments) series += fragment.series;
  return { slices: fragments.map(({ def, bytes }) => ({ def, bytes })), series };
}

/** Families of all sources by name; the first source's definition supplies HELP and TYPE. */
function mergeSources(sources: readonly EncodedSource[]): FamilyLayout[] {
  const byName = new Map<string, FamilyLayout>();
  for (const source of sources) {
    for (const slice of source.slices) {
      if (slice.bytes.length === 0) continue;
      const family = byName.get(slice.def.name);
      if (family === undefined) byName.set(slice.def.name, { def: slice.def, slices: [slice] });
      else family.slices.push(slice);
    }
  }
  return [...byName.values()].sort((a, b) => compareStrings(a.def.name, b.def.name));
}

const headerCache: Record<ExpositionFormat, WeakMap<MetricDef, Uint8Array>> = {
  prometheus: new WeakMap(),
  openmetrics: new WeakMap(),
};

function header(def: MetricDef, format: ExpositionFormat): Uint8Array {
  const cached = headerCache[format].get(def);
  if (cached !== undefined) return cached;
  const bytes = encoder.encode(renderFamilyHeader(def, format));
  headerCache[format].set(def, bytes);
  return bytes;
}

/**
 * Concatenates the Prometheus headers and slices, then points every slice at its copy in the
 * output, so the sources' own render buffers can be freed: the exposition text is held once,
 * not twice. The OpenMetrics text is derived from it on demand (sample lines are identical).
 */
function assemble(layout: readonly FamilyLayout[], version: number, shared: boolean): ExpositionSnapshot {
  const trailer = encoder.encode(renderTrailer("prometheus"));
  let total = trailer.length;
  for (const family of layout) {
    total += header(family.def, "prometheus").length;
    for (const slice of family.slices) total += slice.bytes.length;
  }
  // A SharedArrayBuffer view passes for an ArrayBuffer one wherever the bytes are only read (Bytes).
  const out = new Uint8Array(shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total)) as Bytes;
  const families: { openMetricsHeader: string; samplesStart: number; samplesEnd: number }[] = [];
  let offset = 0;
  for (const family of layout) {
    const h = header(family.def, "prometheus");
    out.set(h, offset);
    offset += h.length;
    const samplesStart = offset;
    for (const slice of family.slices) {
      const length = slice.bytes.length;
      out.set(slice.bytes, offset);
      slice.bytes = out.subarray(offset, offset + length);
      offset += length;
    }
    families.push({
      openMetricsHeader: renderFamilyHeader(family.def, "openmetrics"),
      samplesStart,
      samplesEnd: offset,
    });
  }
  out.set(trailer, offset);
  return { version, prometheus: out, families };
}
