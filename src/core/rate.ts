/**
 * Produce-rate history per partition (bounded ring buffers of sample time and latest offset) and the
 * rate-based time-lag estimate `lag / rate`. Pure: no clock, no I/O; every time is a parameter.
 */

export interface RateHistoryOptions {
  /** Samples kept per partition (`rate_history_samples`); at least 2 are needed for a rate. */
  capacity: number;
  /** Samples older than this are ignored; partitions not sampled for this long are forgotten (`rate_history_max_age`). */
  maxAgeMs: number;
}

/** The produce rate of one partition over the retained window. */
export type RateEstimate =
  | { kind: "rate"; msgsPerSec: number; samples: number; spanMs: number }
  | { kind: "insufficient"; samples: number };

/** A time lag estimated from the rate, or why there is none (never a made-up 0). */
export type RateTimeLag =
  | { kind: "value"; seconds: number; msgsPerSec: number }
  | { kind: "none"; reason: "insufficientHistory" | "belowMinRate" };

export interface RateHistory {
  /** Records the latest offset seen at `sampleTimeMs`. Older-than-last samples are ignored; a shrinking offset restarts the history. */
  recordSample(key: string, sampleTimeMs: number, latestOffset: number): void;
  /** Least-squares rate over the samples no older than `maxAgeMs` at `nowMs`. */
  rate(key: string, nowMs: number): RateEstimate;
  /** `lagMessages / rate`; 0 when the lag is 0; none below `minMsgsPerSec` or with fewer than 2 samples. */
  estimateTimeLag(key: string, lagMessages: number, nowMs: number, minMsgsPerSec: number): RateTimeLag;
  /** Forgets partitions whose newest sample is older than `maxAgeMs`; returns how many were dropped. */
  prune(nowMs: number): number;
  /** Partitions currently tracked. */
  readonly size: number;
}

/**
 * Creates the history. Memory is bounded: `capacity` × 16 bytes per partition seen within `maxAgeMs`.
 *
 * Worked example (capacity ≥ 4, max age 10 min), samples of one partition as (seconds, latest offset):
 *   (0, 1000) (10, 1100) (20, 1180) (30, 1300)
 *   mean t = 15, mean o = 1145; Σ(t−15)(o−1145) = 2175 + 225 + 175 + 2325 = 4900; Σ(t−15)² = 500
 *   rate = 4900 / 500 = 9.8 msg/s   (first/last would say 300 / 30 = 10 msg/s and ignore the middle)
 *   a group 490 messages behind → 490 / 9.8 = 50 s of time lag.
 * A cycle that recorded nothing (watermark missing) only leaves a wider gap between two samples; the
 * regression uses the real sample times, so the history survives it.
 */
export function createRateHistory(options: RateHistoryOptions): RateHistory {
  const slab = new RingSlab(Math.max(2, Math.floor(options.capacity)));
  const maxAgeMs = Math.max(0, options.maxAgeMs);
  const rate = (key: string, nowMs: number): RateEstimate => {
    const ring = slab.find(key);
    if (ring < 0) return { kind: "insufficient", samples: 0 };
    return slab.rate(ring, nowMs - maxAgeMs);
  };

  return {
    recordSample(key, sampleTimeMs, latestOffset) {
      slab.push(slab.findOrAdd(key), sampleTimeMs, latestOffset);
    },
    rate,
    estimateTimeLag(key, lagMessages, nowMs, minMsgsPerSec) {
      if (lagMessages <= 0) return { kind: "value", seconds: 0, msgsPerSec: 0 };
      return timeLagFromRate(lagMessages, rate(key, nowMs), minMsgsPerSec);
    },
    prune(nowMs) {
      return slab.removeWhere((ring) => slab.count[ring] === 0 || slab.newestTime(ring) < nowMs - maxAgeMs);
    },
    get size() {
      return slab.size;
    },
  };
}

/** `lagMessages / rate` from an estimate, with the same rules as `RateHistory.estimateTimeLag`. */
export function timeLagFromRate(lagMessages: number, estimate: RateEstimate, minMsgsPerSec: number): RateTimeLag {
  if (lagMessages <= 0)
    return { kind: "value", seconds: 0, msgsPerSec: estimate.kind === "rate" ? estimate.msgsPerSec : 0 };
  if (estimate.kind !== "rate") return { kind: "none", reason: "insufficientHistory" };
  const rate = estimate.msgsPerSec;
  // An idle partition has rate 0: dividing would give Infinity, and pretending 0 would hide the lag.
  if (!(rate > 0) || rate < minMsgsPerSec) return { kind: "none", reason: "belowMinRate" };
  return { kind: "value", seconds: lagMessages / rate, msgsPerSec: rate };
}

/**
 * Least-squares slope of offsets over times, in messages per second; undefined for fewer than two
 * points or when every time is the same. Values are centred on their means, so epoch milliseconds
 * and large offsets keep their precision.
 */
export function leastSquaresRate(timesMs: ArrayLike<number>, offsets: ArrayLike<number>): number | undefined {
  const n = Math.min(timesMs.length, offsets.length);
  if (n < 2) return undefined;
  const t0 = timesMs[0]!;
  const o0 = offsets[0]!;
  let sumT = 0;
  let sumO = 0;
  for (let i = 0; i < n; i++) {
    sumT += timesMs[i]! - t0;
    sumO += offsets[i]! - o0;
  }
  const meanT = sumT / n;
  const meanO = sumO / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const dt = timesMs[i]! - t0 - meanT;
    sxy += dt * (offsets[i]! - o0 - meanO);
    sxx += dt * dt;
  }
  if (sxx === 0) return undefined;
  return (sxy / sxx) * 1000;
}

/**
 * Every partition's ring in one pair of columns: ring r owns entries [r × capacity, (r + 1) ×
 * capacity) of `times` and `offsets`. Thousands of partitions cost two typed arrays, not two each,
 * and a freed ring is reused by the next new partition.
 */
class RingSlab {
  times = new Float64Array(0);
  offsets = new Float64Array(0);
  /** Per ring: index (0 ≤ head < capacity) of the next write, and samples held. */
  head = new Int32Array(0);
  count = new Int32Array(0);
  private readonly index = new Map<string, number>();
  private free: number[] = [];
  private rings = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.index.size;
  }

  find(key: string): number {
    return this.index.get(key) ?? -1;
  }

  findOrAdd(key: string): number {
    const found = this.index.get(key);
    if (found !== undefined) return found;
    let ring = this.free.pop();
    if (ring === undefined) {
      if (this.rings === this.head.length) this.grow(Math.max(64, this.rings * 2));
      ring = this.rings++;
    }
    this.head[ring] = 0;
    this.count[ring] = 0;
    this.index.set(key, ring);
    return ring;
  }

  /** Drops the rings `doomed` says so of; returns how many. */
  removeWhere(doomed: (ring: number) => boolean): number {
    let dropped = 0;
    for (const [key, ring] of this.index) {
      if (!doomed(ring)) continue;
      this.index.delete(key);
      this.free.push(ring);
      dropped++;
    }
    if (this.index.size === 0) {
      // Everything went (e.g. a cluster that lost all its topics): give the memory back.
      this.free = [];
      this.rings = 0;
      this.grow(0);
    }
    return dropped;
  }

  /** Position in the columns of the ring's i-th sample, oldest first (0 ≤ i < count). */
  private at(ring: number, i: number): number {
    const cap = this.capacity;
    return ring * cap + ((this.head[ring]! - this.count[ring]! + i + cap) % cap);
  }

  newestTime(ring: number): number {
    return this.times[this.at(ring, this.count[ring]! - 1)]!;
  }

  push(ring: number, timeMs: number, offset: number): void {
    if (!Number.isFinite(timeMs) || !Number.isFinite(offset)) return;
    if (this.count[ring]! > 0) {
      const last = this.at(ring, this.count[ring]! - 1);
      const lastTime = this.times[last]!;
      if (timeMs < lastTime) return; // late sample: the history already moved past it
      if (offset < this.offsets[last]!) {
        // Offsets only grow; a smaller one means the topic was recreated or the log truncated (unclean
        // leader election). The old history describes another log, so it starts over.
        this.count[ring] = 0;
        this.head[ring] = 0;
      } else if (timeMs === lastTime) {
        this.offsets[last] = offset;
        return;
      }
    }
    const slot = ring * this.capacity + this.head[ring]!;
    this.times[slot] = timeMs;
    this.offsets[slot] = offset;
    this.head[ring] = (this.head[ring]! + 1) % this.capacity;
    if (this.count[ring]! < this.capacity) this.count[ring]!++;
  }

  /** Least-squares rate over the ring's samples no older than `oldestMs` (same as `leastSquaresRate`). */
  rate(ring: number, oldestMs: number): RateEstimate {
    const n = this.count[ring]!;
    let first = 0;
    while (first < n && this.times[this.at(ring, first)]! < oldestMs) first++;
    const used = n - first;
    if (used < 2) return { kind: "insufficient", samples: used };
    const t0 = this.times[this.at(ring, first)]!;
    const o0 = this.offsets[this.at(ring, first)]!;
    let sumT = 0;
    let sumO = 0;
    for (let i = first; i < n; i++) {
      const k = this.at(ring, i);
      sumT += this.times[k]! - t0;
      sumO += this.offsets[k]! - o0;
    }
    const meanT = sumT / used;
    const meanO = sumO / used;
    let sxy = 0;
    let sxx = 0;
    for (let i = first; i < n; i++) {
      const k = this.at(ring, i);
      const dt = this.times[k]! - t0 - meanT;
      sxy += dt * (this.offsets[k]! - o0 - meanO);
      sxx += dt * dt;
    }
    if (sxx === 0) return { kind: "insufficient", samples: used };
    const spanMs = this.times[this.at(ring, n - 1)]! - t0;
    return { kind: "rate", msgsPerSec: Math.max(0, (sxy / sxx) * 1000), samples: used, spanMs };
  }

  private grow(rings: number): void {
    const cap = this.capacity;
    const copy = <T extends Float64Array | Int32Array>(from: T, to: T): T => {
      to.set(from.subarray(0, Math.min(from.length, to.length)));
      return to;
    };
    this.times = copy(this.times, new Float64Array(rings * cap));
    this.offsets = copy(this.offsets, new Float64Array(rings * cap));
    this.head = copy(this.head, new Int32Array(rings));
    this.count = copy(this.count, new Int32Array(rings));
  }
}
