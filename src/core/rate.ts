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
  const capacity = Math.max(2, Math.floor(options.capacity));
  const maxAgeMs = Math.max(0, options.maxAgeMs);
  const rings = new Map<string, Ring>();
  const rate = (key: string, nowMs: number): RateEstimate => {
    const ring = rings.get(key);
    if (ring === undefined) return { kind: "insufficient", samples: 0 };
    return ringRate(ring, nowMs - maxAgeMs);
  };

  return {
    recordSample(key, sampleTimeMs, latestOffset) {
      let ring = rings.get(key);
      if (ring === undefined) {
        ring = newRing(capacity);
        rings.set(key, ring);
      }
      pushSample(ring, sampleTimeMs, latestOffset);
    },
    rate,
    estimateTimeLag(key, lagMessages, nowMs, minMsgsPerSec) {
      if (lagMessages <= 0) return { kind: "value", seconds: 0, msgsPerSec: 0 };
      return timeLagFromRate(lagMessages, rate(key, nowMs), minMsgsPerSec);
    },
    prune(nowMs) {
      const oldest = nowMs - maxAgeMs;
      let dropped = 0;
      for (const [key, ring] of rings) {
        if (ring.count === 0 || newestTime(ring) < oldest) {
          rings.delete(key);
          dropped++;
        }
      }
      return dropped;
    },
    get size() {
      return rings.size;
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

interface Ring {
  times: Float64Array;
  offsets: Float64Array;
  /** Index of the next write. */
  head: number;
  count: number;
}

function newRing(capacity: number): Ring {
  return { times: new Float64Array(capacity), offsets: new Float64Array(capacity), head: 0, count: 0 };
}

function newestIndex(ring: Ring): number {
  return (ring.head - 1 + ring.times.length) % ring.times.length;
}

function newestTime(ring: Ring): number {
  return ring.times[newestIndex(ring)]!;
}

function pushSample(ring: Ring, timeMs: number, offset: number): void {
  if (!Number.isFinite(timeMs) || !Number.isFinite(offset)) return;
  if (ring.count > 0) {
    const last = newestIndex(ring);
    const lastTime = ring.times[last]!;
    const lastOffset = ring.offsets[last]!;
    if (timeMs < lastTime) return; // late sample: the history already moved past it
    if (offset < lastOffset) {
      // Offsets only grow; a smaller one means the topic was recreated or the log truncated (unclean
      // leader election). The old history describes another log, so it starts over.
      ring.count = 0;
      ring.head = 0;
    } else if (timeMs === lastTime) {
      ring.offsets[last] = offset;
      return;
    }
  }
  ring.times[ring.head] = timeMs;
  ring.offsets[ring.head] = offset;
  ring.head = (ring.head + 1) % ring.times.length;
  if (ring.count < ring.times.length) ring.count++;
}

function ringRate(ring: Ring, oldestMs: number): RateEstimate {
  const cap = ring.times.length;
  const times: number[] = [];
  const offsets: number[] = [];
  // Oldest to newest, keeping samples inside the window.
  for (let i = 0; i < ring.count; i++) {
    const idx = (ring.head - ring.count + i + cap) % cap;
    const t = ring.times[idx]!;
    if (t < oldestMs) continue;
    times.push(t);
    offsets.push(ring.offsets[idx]!);
  }
  const rate = leastSquaresRate(times, offsets);
  if (rate === undefined) return { kind: "insufficient", samples: times.length };
  return { kind: "rate", msgsPerSec: Math.max(0, rate), samples: times.length, spanMs: times.at(-1)! - times[0]! };
}
