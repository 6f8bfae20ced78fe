/**
 * A small RecordBatch v2 encoder for the decoder's table tests: builds batches byte for byte as the
 * Kafka protocol lays them out (header, zigzag-varint records, optional gzip/zstd), CRC left 0.
 */
import { gzipSync } from "node:zlib";

export interface TestRecord {
  offsetDelta: number;
  timestampDelta: number;
  key?: string | null;
  value?: string | null;
  headers?: [string, string][];
}

export interface TestBatch {
  baseOffset: number;
  baseTimestamp: number;
  maxTimestamp?: number;
  compression?: "none" | "gzip" | "snappy" | "lz4" | "zstd";
  logAppendTime?: boolean;
  transactional?: boolean;
  control?: boolean;
  lastOffsetDelta?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  partitionLeaderEpoch?: number;
  records: TestRecord[];
}

const CODEC_BITS = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;

export function encodeBatch(batch: TestBatch): Uint8Array {
  const codec = batch.compression ?? "none";
  let records = concat(batch.records.map(encodeRecord));
  if (codec === "gzip") records = gzipSync(records);
  else if (codec === "zstd") records = Bun.zstdCompressSync(records);
  else if (codec === "snappy" || codec === "lz4") records = new Uint8Array(records.length).fill(0xab);
  const attributes =
    CODEC_BITS[codec] |
    (batch.logAppendTime ? 0x08 : 0) |
    (batch.transactional ? 0x10 : 0) |
    (batch.control ? 0x20 : 0);
  const total = 61 + records.byteLength;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  const lastOffsetDelta = batch.lastOffsetDelta ?? Math.max(0, ...batch.records.map((r) => r.offsetDelta));
  const maxTs =
    batch.maxTimestamp ??
    Math.max(batch.baseTimestamp, ...batch.records.map((r) => batch.baseTimestamp + r.timestampDelta));
  v.setBigInt64(0, BigInt(batch.baseOffset));
  v.setInt32(8, total - 12);
  v.setInt32(12, batch.partitionLeaderEpoch ?? 0);
  v.setInt8(16, 2);
  v.setUint32(17, 0);
  v.setInt16(21, attributes);
  v.setInt32(23, lastOffsetDelta);
  v.setBigInt64(27, BigInt(batch.baseTimestamp));
  v.setBigInt64(35, BigInt(maxTs));
  v.setBigInt64(43, BigInt(batch.producerId ?? -1));
  v.setInt16(51, batch.producerEpoch ?? -1);
  v.setInt32(53, batch.baseSequence ?? -1);
  v.setInt32(57, batch.records.length);
  out.set(records, 61);
  return out;
}

/** A transaction marker batch (control bit, one record whose key is the marker type). */
export function encodeControlBatch(baseOffset: number, timestamp: number, commit = true): Uint8Array {
  const key = String.fromCharCode(0, 0, 0, commit ? 1 : 0);
  return encodeBatch({
    baseOffset,
    baseTimestamp: timestamp,
    control: true,
    transactional: true,
    producerId: 7,
    producerEpoch: 0,
    records: [{ offsetDelta: 0, timestampDelta: 0, key, value: "\u0000\u0000\u0000\u0000\u0000\u0000" }],
  });
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

function encodeRecord(r: TestRecord): Uint8Array {
  const enc = new TextEncoder();
  const body: number[] = [0];
  writeVarint(body, r.timestampDelta);
  writeVarint(body, r.offsetDelta);
  writeBytes(body, r.key === undefined || r.key === null ? null : enc.encode(r.key));
  writeBytes(body, r.value === undefined ? enc.encode("v") : r.value === null ? null : enc.encode(r.value));
  const headers = r.headers ?? [];
  writeVarint(body, headers.length);
  for (const [k, val] of headers) {
    writeBytes(body, enc.encode(k));
    writeBytes(body, enc.encode(val));
  }
  const out: number[] = [];
  writeVarint(out, body.length);
  return Uint8Array.from([...out, ...body]);
}

function writeBytes(out: number[], bytes: Uint8Array | null): void {
  if (bytes === null) {
    writeVarint(out, -1);
    return;
  }
  writeVarint(out, bytes.byteLength);
  out.push(...bytes);
}

/** Zigzag varlong, arithmetic so values beyond 32 bits work. */
function writeVarint(out: number[], value: number): void {
  let raw = value >= 0 ? value * 2 : -value * 2 - 1;
  while (raw >= 0x80) {
    out.push((raw % 0x80) | 0x80);
    raw = Math.floor(raw / 0x80);
  }
  out.push(raw);
}
