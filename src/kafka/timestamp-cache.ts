/**
 * Cache of log reads keyed by (topic, partition, offset), shared by every group of a cluster: found
 * records live for `cache_ttl`, "nothing there yet" lives until the partition's latest offset moves.
 */
import type { FetchedRecord } from "../core/time-lag.ts";

export interface TimestampCacheOptions {
  /** Lifetime of any entry (`cache_ttl`). */
  ttlMs: number;
  /** Entries kept at most; the least recently used go first. */
  maxEntries: number;
}

export interface TimestampCache {
  /** A cached read, or undefined (expired, or a negative read made when the latest offset was different). */
  get(topic: string, partition: number, offset: number, nowMs: number, latestOffset: number): FetchedRecord | undefined;
  /** Stores a read; out-of-range and error results are never cached (they must be retried). */
  set(
    topic: string,
    partition: number,
    offset: number,
    result: FetchedRecord,
    nowMs: number,
    latestOffset: number,
  ): void;
  /** Drops expired entries; returns how many. */
  prune(nowMs: number): number;
  readonly size: number;
}

interface Entry {
  result: FetchedRecord;
  expiresAtMs: number;
  /** For negative results: the latest offset when read; any other latest offset invalidates it. */
  latestOffset: number;
}

export function createTimestampCache(options: TimestampCacheOptions): TimestampCache {
  const maxEntries = Math.max(1, Math.floor(options.maxEntries));
  // Map keeps insertion order: re-inserting on a hit makes the first key the least recently used.
  const entries = new Map<string, Entry>();

  return {
    get(topic, partition, offset, nowMs, latestOffset) {
      const key = cacheKey(topic, partition, offset);
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      const stale =
        nowMs >= entry.expiresAtMs || (entry.result.kind === "noRecord" && entry.latestOffset !== latestOffset);
      entries.delete(key);
      if (stale) return undefined;
      entries.set(key, entry);
      return entry.result;
    },
    set(topic, partition, offset, result, nowMs, latestOffset) {
      if (result.kind !== "record" && result.kind !== "noRecord") return;
      if (options.ttlMs <= 0) return;
      const key = cacheKey(topic, partition, offset);
      entries.delete(key);
      entries.set(key, { result, expiresAtMs: nowMs + options.ttlMs, latestOffset });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        entries.delete(oldest.value);
      }
    },
    prune(nowMs) {
      let dropped = 0;
      for (const [key, entry] of entries) {
        if (nowMs >= entry.expiresAtMs) {
          entries.delete(key);
          dropped++;
        }
      }
      return dropped;
    },
    get size() {
      return entries.size;
    },
  };
}

function cacheKey(topic: string, partition: number, offset: number): string {
  return `${topic}\u0000${partition}\u0000${offset}`;
}
