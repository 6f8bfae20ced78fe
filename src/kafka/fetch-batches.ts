/**
 * One bounded round of raw Fetch requests that reads the record at (or first after) many committed
 * offsets: per leader broker, requests of up to 512 partitions (4 KiB each, 2 MiB a request) sent
 * in turn, and at most two follow-up requests per broker, with bigger budgets, for batches larger
 * than that.
 */
import type { FetchedRecord } from "../core/time-lag.ts";
import { Deadline } from "./deadline.ts";
import { ErrorCode, errorName } from "./errors.ts";
import { type BrokerHandle, requestWriter, sendRaw } from "./raw.ts";
import { findRecordAtOrAfter } from "./record-batch.ts";
import type { ProtocolReader } from "./wire.ts";

/**
 * Fetch v11: the newest non-flexible version, the one kafkajs 2.2.4 itself speaks, and inside Kafka
 * 4.x's supported range (4–17). v12 only adds tagged fields, v13 replaces topic names with topic ids.
 */
export const FETCH = { apiKey: 1, apiName: "Fetch", version: 11 } as const;

/** Defaults of the byte budget; see `FetchBatchesOptions`. */
export const FETCH_DEFAULTS = {
  partitionMaxBytes: 4 * 1024,
  followUpMaxBytes: 1024 * 1024,
  requestMaxBytes: 2 * 1024 * 1024,
} as const;

/** One read to make: the first record at or after `offset` of a partition whose leader is `leader`. */
export interface FetchTarget {
  topic: string;
  partition: number;
  offset: number;
  /** Leader broker node id from metadata; -1 = no leader (answered as an error without a request). */
  leader: number;
}

/** Broker access: a connected broker by node id (src/kafka/raw.ts `RawCluster.broker`). */
export interface FetchBrokers {
  broker(nodeId: number, timeoutMs: number): Promise<BrokerHandle>;
}

export interface FetchBatchesOptions {
  brokers: FetchBrokers;
  /** The whole round, both passes included (`fetch_timeout`). */
  timeoutMs: number;
  /** Brokers read at the same time (`max_concurrent_fetches`). */
  maxConcurrentBrokers: number;
  /**
   * Bytes asked per partition in the first pass (default 4 KiB). The broker answers with every
   * whole batch that fits, starting with the one that holds the offset, and a lagging partition
   * has plenty to fill it with: the budget is what a read costs in bytes and memory, so it is
   * small. A first batch larger than this comes back empty and is read again with 8× (32 KiB,
   * where a full default Java batch of 16 KiB fits) and then `followUpMaxBytes`. Measured at
   * 2,000 lagging partitions (bench/time-lag.bench.ts): half the bytes of 16 KiB, 1.5× the requests.
   */
  partitionMaxBytes?: number;
  /**
   * Largest per-partition budget of the follow-up passes (default 1 MiB, the broker's default
   * max.message.bytes). Follow-ups climb a ladder: 8 × `partitionMaxBytes` (32 KiB), then this.
   */
  followUpMaxBytes?: number;
  /**
   * Sum of partition budgets per request (default 2 MiB: 512 partitions at 4 KiB). Lagging
   * partitions answer with their whole budget, so this bounds the memory a read takes: with
   * thousands of them a response would otherwise reach the broker's fetch.max.bytes (55 MiB)
   * per broker. More partitions than fit go in further requests to the same broker, in turn.
   */
  requestMaxBytes?: number;
  now?: () => number;
}

export interface FetchRoundStats {
  /** Fetch requests sent (both passes). */
  requests: number;
  /** Response bytes received. */
  bytesFetched: number;
  /** Partition reads sent again in a follow-up pass (a partition climbing two steps counts twice). */
  followUps: number;
  durationMs: number;
}

export interface FetchRoundResult {
  /** By `fetchTargetKey(topic, partition, offset)`; every target has an entry. */
  results: Map<string, FetchedRecord>;
  stats: FetchRoundStats;
}

export function fetchTargetKey(topic: string, partition: number, offset: number): string {
  return `${topic}\u0000${partition}\u0000${offset}`;
}

/**
 * Reads every target in one bounded round (`timeoutMs` for everything) and never throws.
 *
 * Isolation is READ_UNCOMMITTED on purpose: the answer is the timestamp of the next record at the
 * committed offset, whether it belongs to an open transaction or not. A read_committed Fetch stops at
 * the last stable offset, so a group stuck behind an open transaction would get "nothing there" and
 * no time lag exactly when it matters; the distance to the LSO is reported from ListOffsets.
 * (Records of aborted transactions are counted here although read_committed consumers skip them;
 * control records are skipped.)
 *
 * Requests: per leader broker, one Fetch per `requestMaxBytes` of partition budgets, in turn
 * (max_wait_ms 0 and min_bytes 0, so an idle partition answers at once with no records: nothing
 * waits on it). A Fetch names a partition
 * once, so when several groups sit at different offsets of one partition, the extra offsets go in
 * further requests, which are skipped when the earlier answer already covers them.
 *
 * What each partition reports:
 * - the bytes are decoded with `findRecordAtOrAfter`: the exact timestamp of the first record at or
 *   after the offset (uncompressed, gzip, zstd, LogAppendTime; control batches skipped).
 * - Kafka 4.x sends only whole batches: a first batch larger than `partitionMaxBytes` comes back as
 *   no bytes below the high watermark. Those partitions, and batches cut short (older brokers send the
 *   cut batch), are asked again in the same round with a bigger budget: 8 × `partitionMaxBytes`,
 *   then `followUpMaxBytes` (exactly the cut batch's size when it is known). A follow-up pass is one
 *   request per broker, capped at `requestMaxBytes`; what the cap leaves empty is an error this cycle
 *   and is read next cycle (its neighbours are cached by then). So a broker sees at most three
 *   requests per distinct offset of a partition, usually one; small budgets keep the bytes down
 *   because the broker sends every whole batch that fits.
 * - a batch that still cannot be decoded (snappy/lz4, or cut again) reports its header:
 *   `precision: "batch"`, timestamp = the batch's first timestamp (maxTimestamp for LogAppendTime).
 *   That is at or before the target record's time, so the lag errs high by at most the batch's span.
 * - OFFSET_OUT_OF_RANGE → `outOfRange` (data loss); nothing consumable between the offset and the
 *   high watermark → `noRecord`; an error code, a timeout, an unreachable broker, or a batch larger
 *   than `followUpMaxBytes` → `error`.
 */
export async function fetchRecordsAt(
  targets: readonly FetchTarget[],
  opts: FetchBatchesOptions,
): Promise<FetchRoundResult> {
  const now = opts.now ?? Date.now;
  const started = now();
  const partitionMaxBytes = Math.max(64, opts.partitionMaxBytes ?? FETCH_DEFAULTS.partitionMaxBytes);
  const followUpMaxBytes = Math.max(partitionMaxBytes, opts.followUpMaxBytes ?? FETCH_DEFAULTS.followUpMaxBytes);
  const ctx: RoundContext = {
    brokers: opts.brokers,
    deadline: new Deadline(opts.timeoutMs, now),
    partitionMaxBytes,
    followUpMaxBytes,
    ladder: [...new Set([partitionMaxBytes, Math.min(partitionMaxBytes * 8, followUpMaxBytes), followUpMaxBytes])],
    requestMaxBytes: Math.max(followUpMaxBytes, opts.requestMaxBytes ?? FETCH_DEFAULTS.requestMaxBytes),
    stats: { requests: 0, bytesFetched: 0, followUps: 0, durationMs: 0 },
  };
  const results = new Map<string, FetchedRecord>();

  const byLeader = new Map<number, Read[]>();
  for (const t of targets) {
    const key = fetchTargetKey(t.topic, t.partition, t.offset);
    if (results.has(key)) continue;
    if (t.leader < 0) {
      results.set(key, { kind: "error", reason: "no_leader" });
      continue;
    }
    // Placeholder until answered: also dedupes targets that several groups share.
    results.set(key, { kind: "error", reason: "not read" });
    const read: Read = {
      ...t,
      key,
      fetchOffset: t.offset,
      maxBytes: partitionMaxBytes,
      carriedFirstPresent: undefined,
    };
    const list = byLeader.get(t.leader);
    if (list === undefined) byLeader.set(t.leader, [read]);
    else list.push(read);
  }

  await runLimited([...byLeader.entries()], Math.max(1, opts.maxConcurrentBrokers), async ([nodeId, reads]) => {
    // Lowest offsets first, so a partition's first request covers its later offsets when it can.
    reads.sort((a, b) => a.offset - b.offset);
    let pending = reads;
    for (let step = 0; pending.length > 0 && step < ctx.ladder.length; step++) {
      if (step > 0) ctx.stats.followUps += pending.length;
      pending = await readPass(ctx, nodeId, pending, step, results);
    }
  });
  ctx.stats.durationMs = now() - started;
  return { results, stats: ctx.stats };
}

export interface FetchRead {
  topic: string;
  partition: number;
  fetchOffset: number;
  maxBytes: number;
}

/** The Fetch v11 request body for the given reads (one topic entry per topic). */
export function encodeFetchRequest(reads: readonly FetchRead[], maxBytes: number): Uint8Array {
  const topics = new Map<string, FetchRead[]>();
  for (const r of reads) {
    const list = topics.get(r.topic);
    if (list === undefined) topics.set(r.topic, [r]);
    else list.push(r);
  }
  const w = requestWriter(false, 64 + reads.length * 40);
  w.int32(-1) // replica_id: a consumer
    .int32(0) // max_wait_ms: answer at once, an idle partition must not hold the round
    .int32(0) // min_bytes
    .int32(Math.min(maxBytes, 0x7fffffff))
    .int8(0) // isolation_level: READ_UNCOMMITTED (see fetchRecordsAt)
    .int32(0) // session_id: no fetch session
    .int32(-1); // session_epoch: FINAL_EPOCH = sessionless full fetch
  w.array([...topics.entries()], (w, [topic, parts]) => {
    w.string(topic);
    w.array(parts, (w, p) => {
      w.int32(p.partition)
        .int32(-1) // current_leader_epoch: unknown, no fencing
        .int64(p.fetchOffset)
        .int64(-1) // log_start_offset: only followers send it
        .int32(p.maxBytes);
    });
  });
  w.array([], () => {}); // forgotten_topics_data
  w.string(""); // rack_id
  return w.toBytes();
}

export interface FetchedPartition {
  topic: string;
  partition: number;
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  records: Uint8Array;
}

/** Decodes a Fetch v11 response body. Throws ProtocolDecodeError on malformed bytes. */
export function decodeFetchResponse(r: ProtocolReader): { errorCode: number; partitions: FetchedPartition[] } {
  r.int32(); // throttle_time_ms
  const errorCode = r.int16();
  r.int32(); // session_id
  const partitions: FetchedPartition[] = [];
  r.array((r) => {
    const topic = r.string();
    r.array((r) => {
      const partition = r.int32();
      const partitionError = r.int16();
      const highWatermark = r.int64AsNumber();
      const lastStableOffset = r.int64AsNumber();
      const logStartOffset = r.int64AsNumber();
      r.nullableArray((r) => {
        r.int64(); // aborted_transactions.producer_id
        r.int64(); // aborted_transactions.first_offset
      });
      r.int32(); // preferred_read_replica
      const records = r.nullableBytes() ?? new Uint8Array(0);
      partitions.push({
        topic,
        partition,
        errorCode: partitionError,
        highWatermark,
        lastStableOffset,
        logStartOffset,
        records,
      });
    });
  });
  return { errorCode, partitions };
}

interface Read extends FetchTarget {
  key: string;
  fetchOffset: number;
  maxBytes: number;
  /** First present offset ≥ target seen by an earlier pass (transaction markers before the record). */
  carriedFirstPresent: number | undefined;
}

interface RoundContext {
  brokers: FetchBrokers;
  deadline: Deadline;
  partitionMaxBytes: number;
  followUpMaxBytes: number;
  /** Per-partition budgets of the passes, ascending: [first, follow-ups…]. */
  ladder: number[];
  requestMaxBytes: number;
  stats: FetchRoundStats;
}

/** Index into the ladder: 0 = first pass. */
type Pass = number;

/** Sends one broker's reads of one pass; returns the reads that need the next pass. */
async function readPass(
  ctx: RoundContext,
  nodeId: number,
  reads: Read[],
  pass: Pass,
  results: Map<string, FetchedRecord>,
): Promise<Read[]> {
  const followUps: Read[] = [];
  // This pass's answer per partition, from the request with the partition's lowest offset.
  const earlier = new Map<string, FetchedPartition>();
  // Follow-ups share one request per broker, capped as a whole: bytes per cycle stay bounded, and a
  // partition left empty when the cap is used up is read next cycle (its neighbours are cached by then).
  for (const chunk of chunkReads(reads, pass === 0 ? ctx.requestMaxBytes : Number.POSITIVE_INFINITY)) {
    const pending: Read[] = [];
    for (const read of chunk) {
      const answer = earlier.get(partitionOf(read));
      // An offset outside [log start, high watermark] of that answer is the broker's to judge (out of range).
      const covered =
        answer !== undefined && read.offset >= answer.logStartOffset && read.offset <= answer.highWatermark;
      const reused = covered ? interpret(read, answer, pass, ctx) : undefined;
      // Only a conclusive answer is reused; anything else is asked of the broker at this offset.
      if (reused?.kind === "done" && (reused.result.kind === "noRecord" || isExact(reused.result))) {
        results.set(read.key, reused.result);
      } else {
        pending.push(read);
      }
    }
    if (pending.length === 0) continue;
    const response = await send(ctx, nodeId, pending, pass);
    if (response.kind === "failed") {
      for (const read of pending) results.set(read.key, { kind: "error", reason: response.reason });
      continue;
    }
    for (const read of pending) {
      const answer = response.partitions.get(partitionOf(read));
      if (answer === undefined) {
        results.set(read.key, { kind: "error", reason: "partition missing from the Fetch response" });
        continue;
      }
      if (!earlier.has(partitionOf(read))) earlier.set(partitionOf(read), answer);
      const outcome = interpret(read, answer, pass, ctx);
      if (outcome.kind === "followUp") followUps.push(outcome.read);
      else results.set(read.key, outcome.result);
    }
  }
  return followUps;
}

type SendResult = { kind: "ok"; partitions: Map<string, FetchedPartition> } | { kind: "failed"; reason: string };

async function send(ctx: RoundContext, nodeId: number, reads: Read[], pass: Pass): Promise<SendResult> {
  if (ctx.deadline.expired()) return { kind: "failed", reason: "timeout" };
  try {
    const broker = await ctx.brokers.broker(nodeId, ctx.deadline.remainingMs());
    const budget = reads.reduce((n, r) => n + r.maxBytes, 0);
    // The first partition of a request always gets its first batch whole, however large; the
    // headroom keeps such a batch from starving the partitions after it in the first pass.
    const maxBytes = pass === 0 ? budget + ctx.followUpMaxBytes : Math.min(budget, ctx.requestMaxBytes);
    const body = encodeFetchRequest(reads, maxBytes);
    ctx.stats.requests++;
    const reader = await sendRaw(broker, {
      apiKey: FETCH.apiKey,
      apiVersion: FETCH.version,
      apiName: FETCH.apiName,
      body,
      flexibleResponse: false,
      timeoutMs: Math.max(1, ctx.deadline.remainingMs()),
    });
    ctx.stats.bytesFetched += reader.remaining;
    const decoded = decodeFetchResponse(reader);
    if (decoded.errorCode !== ErrorCode.NONE) return { kind: "failed", reason: errorName(decoded.errorCode) };
    const partitions = new Map<string, FetchedPartition>();
    for (const p of decoded.partitions) partitions.set(`${p.topic}\u0000${p.partition}`, p);
    return { kind: "ok", partitions };
  } catch (error) {
    const e = error as { kind?: string; message?: string };
    return {
      kind: "failed",
      reason: e?.kind === "timeout" ? "timeout" : `broker ${nodeId}: ${e?.message ?? String(error)}`,
    };
  }
}

type Interpretation = { kind: "done"; result: FetchedRecord } | { kind: "followUp"; read: Read };

function interpret(read: Read, answer: FetchedPartition, pass: Pass, ctx: RoundContext): Interpretation {
  const done = (result: FetchedRecord): Interpretation => ({ kind: "done", result });
  if (answer.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) return done({ kind: "outOfRange" });
  if (answer.errorCode !== ErrorCode.NONE) return done({ kind: "error", reason: errorName(answer.errorCode) });
  const carried = read.carriedFirstPresent;
  const lookup = findRecordAtOrAfter(answer.records, read.offset);
  switch (lookup.kind) {
    case "record":
      return done({ ...lookup, firstPresentOffset: carried ?? lookup.firstPresentOffset });
    case "noRecord": {
      const firstPresentOffset = carried ?? lookup.firstPresentOffset;
      const next = Math.max(read.fetchOffset, lookup.nextOffset ?? read.fetchOffset);
      if (next >= answer.highWatermark) return done({ kind: "noRecord", firstPresentOffset });
      // More log follows what came back: the next batch is larger than the budget (Kafka sends
      // whole batches only), or transaction markers used it up. Read on from there once, bigger.
      const bigger = ctx.ladder[pass + 1];
      if (bigger !== undefined) {
        return {
          kind: "followUp",
          read: { ...read, fetchOffset: next, maxBytes: bigger, carriedFirstPresent: firstPresentOffset },
        };
      }
      return done({ kind: "error", reason: `the record batch at offset ${next} did not fit the follow-up budget` });
    }
    case "incomplete": {
      const need = lookup.needBytes ?? ctx.ladder[pass + 1];
      if (pass + 1 < ctx.ladder.length && need !== undefined && need > read.maxBytes && need <= ctx.followUpMaxBytes) {
        return { kind: "followUp", read: { ...read, maxBytes: need, carriedFirstPresent: carried } };
      }
      if (lookup.fallback !== undefined) {
        return done({ ...lookup.fallback, firstPresentOffset: carried ?? lookup.fallback.firstPresentOffset });
      }
      return done({ kind: "error", reason: `record batch larger than ${ctx.followUpMaxBytes} bytes` });
    }
    case "error":
      return done({ kind: "error", reason: lookup.reason });
  }
}

function isExact(result: FetchedRecord): boolean {
  return result.kind === "record" && result.precision === "exact";
}

function partitionOf(read: Read): string {
  return `${read.topic}\u0000${read.partition}`;
}

/** Splits reads into requests: each partition at most once per request, byte budgets summed ≤ cap. */
function chunkReads(reads: Read[], requestMaxBytes: number): Read[][] {
  const chunks: { reads: Read[]; bytes: number; partitions: Set<string> }[] = [];
  for (const read of reads) {
    const pk = partitionOf(read);
    let chunk = chunks.find((c) => !c.partitions.has(pk) && c.bytes + read.maxBytes <= requestMaxBytes);
    if (chunk === undefined) {
      chunk = { reads: [], bytes: 0, partitions: new Set() };
      chunks.push(chunk);
    }
    chunk.reads.push(read);
    chunk.bytes += read.maxBytes;
    chunk.partitions.add(pk);
  }
  return chunks.map((c) => c.reads);
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function runLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
