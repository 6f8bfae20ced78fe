/**
 * Decoder for Kafka RecordBatch v2 bytes as returned in a Fetch response: batch headers, a truncated
 * trailing batch, control batches, and records (uncompressed, gzip, zstd) to find the exact timestamp
 * of the first record at or after an offset. No I/O; decompression is an injectable function.
 */
import { gunzipSync, constants as zlibConstants, zstdDecompressSync } from "node:zlib";

/** Bytes before the first record of a v2 batch (offset 0 … recordCount). */
export const RECORD_BATCH_HEADER_BYTES = 61;
/** baseOffset (8) + batchLength (4): `batchLength` counts the bytes after these. */
const LOG_OVERHEAD = 12;

export type CompressionCodec = "none" | "gzip" | "snappy" | "lz4" | "zstd";
const CODECS: readonly CompressionCodec[] = ["none", "gzip", "snappy", "lz4", "zstd"];

export type TimestampType = "CreateTime" | "LogAppendTime";

export interface RecordBatchHeader {
  baseOffset: number;
  /** Bytes after the length field (whole batch = batchLength + 12). */
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  /** Attribute bits 0–2. */
  compression: CompressionCodec;
  /** Attribute bit 3. */
  timestampType: TimestampType;
  /** Attribute bit 4. */
  transactional: boolean;
  /** Attribute bit 5: a transaction marker, never delivered to consumers. */
  control: boolean;
  lastOffsetDelta: number;
  /** The producer's first timestamp (Java: first record's; kafkajs: the smallest in the batch). */
  baseTimestamp: number;
  /** Largest record timestamp, or the broker's append time for LogAppendTime batches. */
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/** A batch found in the bytes; `complete` is false for the trailing batch cut by the Fetch byte limit. */
export interface RecordBatchView {
  header: RecordBatchHeader;
  /** Where the batch starts within the scanned bytes. */
  position: number;
  /** baseOffset + lastOffsetDelta. */
  lastOffset: number;
  /** Size of the whole batch on the wire (batchLength + 12). */
  sizeBytes: number;
  complete: boolean;
  /** The records section that is present (after the 61-byte header; compressed when the batch is). */
  recordBytes: Uint8Array;
}

export interface BatchScan {
  batches: RecordBatchView[];
  /**
   * What follows the last whole batch: nothing, a partial batch whose header is readable (it is the
   * last element of `batches`, `complete: false`), or fewer bytes than a header (`needBytes`: the
   * bytes from the start of the scan to the end of that batch, when its length is readable).
   */
  trailing: { kind: "none" } | { kind: "partialBatch" } | { kind: "partialHeader"; needBytes?: number };
  /** Set when a batch could not be parsed (bad magic, impossible length); scanning stops there. */
  error?: string;
}

export interface DecodedRecord {
  offset: number;
  /** The record's timestamp per the batch's timestamp type; -1 means the record has none. */
  timestampMs: number;
  keyBytes: number;
  valueBytes: number;
  headerCount: number;
}

export type RecordsDecode =
  | { kind: "ok"; records: DecodedRecord[]; complete: boolean }
  | { kind: "unsupported"; codec: CompressionCodec }
  | { kind: "corrupt"; message: string };

/** Decompresses a batch's records section; `partial` input is a prefix of the compressed stream. */
export type Decompressor = (codec: "gzip" | "zstd", data: Uint8Array, partial: boolean) => Uint8Array;

/**
 * The first record at or after a target offset:
 * - `record`: `precision: "exact"` is that record's own timestamp. `precision: "batch"` means the batch
 *   could not be decoded (snappy/lz4, or cut short before the target): `offset` is max(target,
 *   baseOffset) and the timestamp is the batch's (maxTimestamp for LogAppendTime, else baseTimestamp,
 *   which is at or before the first record's timestamp for kafkajs and equal to it for the Java client,
 *   so the time lag derived from it errs on the high side by at most the batch's time span).
 *   `firstPresentOffset` is the first offset ≥ target that exists in the log, control records
 *   included (the evidence compaction needs); undefined when a batch on the way could not be decoded.
 * - `noRecord`: the bytes end (at a batch boundary) before any record ≥ target; `nextOffset` is the
 *   offset after the last whole batch (undefined without one): whether more of the log follows is
 *   for the caller to judge against the high watermark.
 * - `incomplete`: the bytes end inside the batch that holds the answer; `needBytes` is how many bytes
 *   from the start of `bytes` reach the end of that batch, when known. `fallback` is the batch-level
 *   answer when a header was readable.
 * - `error`: undecodable bytes.
 */
export type TimestampLookup =
  | {
      kind: "record";
      offset: number;
      timestampMs: number;
      timestampType: TimestampType;
      precision: "exact" | "batch";
      firstPresentOffset: number | undefined;
    }
  | { kind: "noRecord"; firstPresentOffset: number | undefined; nextOffset: number | undefined }
  | {
      kind: "incomplete";
      needBytes: number | undefined;
      fallback: Extract<TimestampLookup, { kind: "record" }> | undefined;
    }
  | { kind: "error"; reason: string };

/** Splits a Fetch response's records bytes into batches; never throws. */
export function parseRecordBatches(bytes: Uint8Array): BatchScan {
  const batches: RecordBatchView[] = [];
  const steps = recordBatches(bytes);
  for (;;) {
    const r = steps.next();
    if (r.done) return { batches, ...r.value };
    batches.push(r.value);
  }
}

/**
 * The batches of `bytes` one at a time, then what follows them (see `BatchScan`). Lazy: a reader
 * that stops at the batch it wants parses nothing after it, which matters when a lagging
 * partition answers with hundreds of small batches and only the first is needed.
 */
export function* recordBatches(bytes: Uint8Array): Generator<RecordBatchView, Omit<BatchScan, "batches">, void> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  while (pos < bytes.byteLength) {
    const left = bytes.byteLength - pos;
    if (left < RECORD_BATCH_HEADER_BYTES) {
      const needBytes = left >= LOG_OVERHEAD ? view.getInt32(pos + 8) + LOG_OVERHEAD : undefined;
      return { trailing: { kind: "partialHeader", needBytes: needBytes === undefined ? undefined : pos + needBytes } };
    }
    const header = readHeader(view, pos);
    if (typeof header === "string") return { trailing: { kind: "none" }, error: header };
    const sizeBytes = header.batchLength + LOG_OVERHEAD;
    const complete = sizeBytes <= left;
    const end = complete ? pos + sizeBytes : bytes.byteLength;
    yield {
      header,
      position: pos,
      lastOffset: header.baseOffset + header.lastOffsetDelta,
      sizeBytes,
      complete,
      recordBytes: bytes.subarray(pos + RECORD_BATCH_HEADER_BYTES, end),
    };
    if (!complete) return { trailing: { kind: "partialBatch" } };
    pos = end;
  }
  return { trailing: { kind: "none" } };
}

/**
 * Decodes the records of a batch, decompressing gzip and zstd. For a batch cut short, returns the
 * records that are wholly present (`complete: false`).
 */
export function decodeBatchRecords(
  batch: RecordBatchView,
  decompress: Decompressor = defaultDecompressor,
): RecordsDecode {
  const { header } = batch;
  let data = batch.recordBytes;
  if (header.compression === "snappy" || header.compression === "lz4") {
    return { kind: "unsupported", codec: header.compression };
  }
  if (header.compression !== "none") {
    try {
      data = decompress(header.compression, data, !batch.complete);
    } catch (err) {
      return { kind: "corrupt", message: `${header.compression} decompression failed: ${(err as Error).message}` };
    }
  }
  const reader = new VarReader(data);
  const records: DecodedRecord[] = [];
  const logAppend = header.timestampType === "LogAppendTime";
  for (let i = 0; i < header.recordCount; i++) {
    const start = reader.pos;
    const length = reader.varint();
    if (length === undefined || reader.pos + length > data.byteLength) {
      if (batch.complete)
        return { kind: "corrupt", message: `record ${i} of batch ${header.baseOffset} overruns the batch` };
      return { kind: "ok", records, complete: false };
    }
    const end = reader.pos + length;
    const fields = readRecordFields(reader, end);
    if (fields === undefined)
      return { kind: "corrupt", message: `record ${i} of batch ${header.baseOffset} is malformed` };
    reader.pos = end;
    // Java's DefaultRecord: LogAppendTime records all carry the batch's maxTimestamp; CreateTime
    // records are baseTimestamp + delta, and a batch without timestamps has baseTimestamp -1.
    const timestampMs = logAppend
      ? header.maxTimestamp
      : header.baseTimestamp < 0
        ? -1
        : header.baseTimestamp + fields.timestampDelta;
    records.push({
      offset: header.baseOffset + fields.offsetDelta,
      timestampMs,
      keyBytes: fields.keyBytes,
      valueBytes: fields.valueBytes,
      headerCount: fields.headerCount,
    });
    if (reader.pos <= start) break;
  }
  return { kind: "ok", records, complete: true };
}

/** Finds the first non-control record at or after `targetOffset` in a partition's records bytes. */
export function findRecordAtOrAfter(
  bytes: Uint8Array,
  targetOffset: number,
  decompress: Decompressor = defaultDecompressor,
): TimestampLookup {
  const scan = recordBatches(bytes);
  // First offset ≥ target known to exist; `unknown` once a batch on the way could not be decoded.
  let firstPresent: number | undefined;
  let presentKnown = true;
  const notePresent = (offset: number) => {
    if (presentKnown && firstPresent === undefined) firstPresent = offset;
  };
  let last: RecordBatchView | undefined;
  let next = scan.next();
  for (; !next.done; next = scan.next()) {
    const batch = next.value;
    last = batch;
    const { header } = batch;
    if (batch.lastOffset < targetOffset) continue;
    if (header.recordCount === 0) continue; // emptied by the cleaner, kept for producer state
    if (header.control) {
      // Transaction markers occupy offsets (so they are not a compaction gap) but are never consumed.
      if (firstPresent === undefined && presentKnown) {
        const decoded = decodeBatchRecords(batch, decompress);
        if (decoded.kind === "ok") {
          const hit = decoded.records.find((r) => r.offset >= targetOffset);
          if (hit !== undefined) notePresent(hit.offset);
          else if (!decoded.complete) presentKnown = false;
        } else {
          presentKnown = false;
        }
      }
      continue;
    }
    const batchAnswer = batchLevelAnswer(batch, targetOffset, presentKnown ? firstPresent : undefined);
    const decoded = decodeBatchRecords(batch, decompress);
    if (decoded.kind === "ok") {
      const hit = decoded.records.find((r) => r.offset >= targetOffset);
      if (hit !== undefined) {
        notePresent(hit.offset);
        return {
          kind: "record",
          offset: hit.offset,
          timestampMs: hit.timestampMs,
          timestampType: header.timestampType,
          precision: "exact",
          firstPresentOffset: presentKnown ? firstPresent : undefined,
        };
      }
      if (!decoded.complete)
        return { kind: "incomplete", needBytes: batch.position + batch.sizeBytes, fallback: batchAnswer };
      continue; // every record ≥ target in this batch's range was compacted away
    }
    if (decoded.kind === "corrupt") return { kind: "error", reason: decoded.message };
    // Unsupported codec: the header is all we can read.
    if (!batch.complete)
      return { kind: "incomplete", needBytes: batch.position + batch.sizeBytes, fallback: batchAnswer };
    return batchAnswer;
  }
  const end = next.value;
  if (end.error !== undefined) return { kind: "error", reason: end.error };
  if (end.trailing.kind === "partialHeader")
    return { kind: "incomplete", needBytes: end.trailing.needBytes, fallback: undefined };
  return {
    kind: "noRecord",
    firstPresentOffset: presentKnown ? firstPresent : undefined,
    nextOffset: last === undefined ? undefined : last.lastOffset + 1,
  };
}

/** gzip through node:zlib, zstd through Bun's libzstd; a cut-short input yields the decodable prefix. */
export const defaultDecompressor: Decompressor = (codec, data, partial) => {
  if (codec === "gzip") {
    return partial ? gunzipSync(data, { finishFlush: zlibConstants.Z_SYNC_FLUSH }) : gunzipSync(data);
  }
  // Bun.zstdDecompressSync rejects a truncated frame; node:zlib's streaming decoder returns the prefix.
  return partial ? zstdDecompressSync(data) : Bun.zstdDecompressSync(data);
};

function batchLevelAnswer(
  batch: RecordBatchView,
  targetOffset: number,
  firstPresentOffset: number | undefined,
): Extract<TimestampLookup, { kind: "record" }> {
  const { header } = batch;
  return {
    kind: "record",
    offset: Math.max(targetOffset, header.baseOffset),
    timestampMs: header.timestampType === "LogAppendTime" ? header.maxTimestamp : header.baseTimestamp,
    timestampType: header.timestampType,
    precision: "batch",
    firstPresentOffset,
  };
}

function readHeader(view: DataView, pos: number): RecordBatchHeader | string {
  const baseOffset = readInt64(view, pos);
  const batchLength = view.getInt32(pos + 8);
  const magic = view.getInt8(pos + 16);
  if (magic !== 2) return `unsupported record batch magic ${magic} at offset ${baseOffset}`;
  if (batchLength < RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD) return `record batch length ${batchLength} is too small`;
  const attributes = view.getInt16(pos + 21);
  const lastOffsetDelta = view.getInt32(pos + 23);
  const baseTimestamp = readInt64(view, pos + 27);
  const maxTimestamp = readInt64(view, pos + 35);
  const recordCount = view.getInt32(pos + 57);
  if (baseOffset === undefined || baseOffset < 0) return "record batch base offset is not a safe integer";
  if (baseTimestamp === undefined || maxTimestamp === undefined) return "record batch timestamp is not a safe integer";
  if (lastOffsetDelta < 0 || recordCount < 0) return `record batch at ${baseOffset} has negative counts`;
  return {
    baseOffset,
    batchLength,
    partitionLeaderEpoch: view.getInt32(pos + 12),
    magic,
    crc: view.getUint32(pos + 17),
    attributes,
    compression: CODECS[attributes & 0x07] ?? "none",
    timestampType: attributes & 0x08 ? "LogAppendTime" : "CreateTime",
    transactional: (attributes & 0x10) !== 0,
    control: (attributes & 0x20) !== 0,
    lastOffsetDelta,
    baseTimestamp,
    maxTimestamp,
    producerId: readInt64(view, pos + 43) ?? -1,
    producerEpoch: view.getInt16(pos + 51),
    baseSequence: view.getInt32(pos + 53),
    recordCount,
  };
}

function readInt64(view: DataView, pos: number): number | undefined {
  const value = Number(view.getBigInt64(pos));
  return Number.isSafeInteger(value) ? value : undefined;
}

interface RecordFields {
  timestampDelta: number;
  offsetDelta: number;
  keyBytes: number;
  valueBytes: number;
  headerCount: number;
}

function readRecordFields(reader: VarReader, end: number): RecordFields | undefined {
  if (reader.pos >= end) return undefined;
  reader.pos += 1; // record attributes (unused)
  const timestampDelta = reader.varint();
  const offsetDelta = reader.varint();
  if (timestampDelta === undefined || offsetDelta === undefined || offsetDelta < 0) return undefined;
  const keyBytes = reader.skipBytes(end);
  const valueBytes = reader.skipBytes(end);
  const headerCount = reader.varint();
  if (keyBytes === undefined || valueBytes === undefined || headerCount === undefined || headerCount < 0)
    return undefined;
  for (let h = 0; h < headerCount; h++) {
    const headerKey = reader.skipBytes(end);
    const headerValue = reader.skipBytes(end);
    if (headerKey === undefined || headerValue === undefined) return undefined;
  }
  if (reader.pos > end) return undefined;
  return { timestampDelta, offsetDelta, keyBytes, valueBytes, headerCount };
}

/** Zigzag varints (up to 64 bits) as used inside v2 records. */
class VarReader {
  pos = 0;
  constructor(private readonly data: Uint8Array) {}

  /** A zigzag varint/varlong as a safe integer; undefined when the bytes end or it does not fit. */
  varint(): number | undefined {
    let raw = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.data.byteLength) return undefined;
      const byte = this.data[this.pos++]!;
      raw += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(raw)) return undefined;
        // zigzag: even → n/2, odd → −(n+1)/2 (arithmetic, since raw may exceed 32 bits).
        return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      }
      scale *= 128;
    }
    return undefined;
  }

  /** Skips a varint-length-prefixed byte string (-1 = null); returns its length (0 for null). */
  skipBytes(end: number): number | undefined {
    const length = this.varint();
    if (length === undefined || length < -1) return undefined;
    if (length <= 0) return 0;
    if (this.pos + length > end) return undefined;
    this.pos += length;
    return length;
  }
}
