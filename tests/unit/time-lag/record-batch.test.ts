import { describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import {
  decodeBatchRecords,
  findRecordAtOrAfter,
  parseRecordBatches,
  RECORD_BATCH_HEADER_BYTES,
} from "../../../src/kafka/record-batch.ts";
import { concat, encodeBatch, encodeControlBatch, type TestRecord } from "./batch-encoder.ts";

const T = 1_700_000_000_000;

/** n records with offset deltas 0…n−1 and timestamps T+0, T+1000, … */
function seq(n: number, step = 1000): TestRecord[] {
  return Array.from({ length: n }, (_, i) => ({ offsetDelta: i, timestampDelta: i * step, value: `value-${i}` }));
}

const plain = encodeBatch({ baseOffset: 100, baseTimestamp: T, records: seq(5) });
const second = encodeBatch({ baseOffset: 105, baseTimestamp: T + 10_000, records: seq(3) });
const bigPlain = encodeBatch({
  baseOffset: 200,
  baseTimestamp: T,
  records: Array.from({ length: 50 }, (_, i) => ({ offsetDelta: i, timestampDelta: i * 10, value: "x".repeat(100) })),
});

interface Row {
  name: string;
  bytes: Uint8Array;
  target: number;
  expect: Record<string, unknown>;
}

const rows: Row[] = [
  {
    name: "the first record of an uncompressed batch carries the batch's base timestamp",
    bytes: concat([plain, second]),
    target: 100,
    expect: { kind: "record", offset: 100, timestampMs: T, precision: "exact", firstPresentOffset: 100 },
  },
  {
    name: "a target in the middle of a batch gets that record's own timestamp",
    bytes: concat([plain, second]),
    target: 103,
    expect: { kind: "record", offset: 103, timestampMs: T + 3000, precision: "exact" },
  },
  {
    name: "a target in the second batch skips the first one",
    bytes: concat([plain, second]),
    target: 106,
    expect: { kind: "record", offset: 106, timestampMs: T + 11_000, precision: "exact" },
  },
  {
    name: "a truncated trailing batch still answers when the target record is wholly present",
    bytes: bigPlain.subarray(0, 1200),
    target: 203,
    expect: { kind: "record", offset: 203, timestampMs: T + 30, precision: "exact" },
  },
  {
    name: "a truncated batch cut before the target asks for the whole batch and offers the header's answer",
    bytes: bigPlain.subarray(0, 1200),
    target: 240,
    expect: {
      kind: "incomplete",
      needBytes: bigPlain.byteLength,
      fallback: {
        kind: "record",
        offset: 240,
        timestampMs: T,
        timestampType: "CreateTime",
        precision: "batch",
        firstPresentOffset: undefined,
      },
    },
  },
  {
    name: "fewer bytes than a batch header after a whole batch is incomplete with the needed size",
    bytes: concat([plain, second.subarray(0, 30)]),
    target: 105,
    expect: { kind: "incomplete", needBytes: plain.byteLength + second.byteLength, fallback: undefined },
  },
  {
    name: "a control batch at the target is skipped but its offset counts as present",
    bytes: concat([
      encodeControlBatch(100, T + 50),
      encodeBatch({ baseOffset: 101, baseTimestamp: T + 60, records: seq(2) }),
    ]),
    target: 100,
    expect: { kind: "record", offset: 101, timestampMs: T + 60, precision: "exact", firstPresentOffset: 100 },
  },
  {
    name: "a partition holding only a control batch past the target has no record yet",
    bytes: encodeControlBatch(100, T + 50),
    target: 100,
    expect: { kind: "noRecord", firstPresentOffset: 100, nextOffset: 101 },
  },
  {
    name: "gzip batches are decompressed for the exact record timestamp",
    bytes: encodeBatch({ baseOffset: 10, baseTimestamp: T, compression: "gzip", records: seq(4, 250) }),
    target: 12,
    expect: { kind: "record", offset: 12, timestampMs: T + 500, precision: "exact" },
  },
  {
    name: "zstd batches are decompressed for the exact record timestamp",
    bytes: encodeBatch({ baseOffset: 10, baseTimestamp: T, compression: "zstd", records: seq(4, 250) }),
    target: 13,
    expect: { kind: "record", offset: 13, timestampMs: T + 750, precision: "exact" },
  },
  {
    name: "a truncated gzip batch yields the records in the decompressible prefix",
    bytes: (() => {
      const b = encodeBatch({
        baseOffset: 0,
        baseTimestamp: T,
        compression: "gzip",
        records: Array.from({ length: 400 }, (_, i) => ({
          offsetDelta: i,
          timestampDelta: i,
          value: crypto.randomUUID(),
        })),
      });
      return b.subarray(0, Math.floor(b.byteLength / 2));
    })(),
    target: 5,
    expect: { kind: "record", offset: 5, timestampMs: T + 5, precision: "exact" },
  },
  {
    name: "a truncated zstd batch cut inside its first block asks for the whole batch",
    bytes: (() => {
      const b = encodeBatch({
        baseOffset: 0,
        baseTimestamp: T,
        compression: "zstd",
        records: Array.from({ length: 2000 }, (_, i) => ({
          offsetDelta: i,
          timestampDelta: i,
          value: crypto.randomUUID(),
        })),
      });
      return b.subarray(0, Math.floor(b.byteLength / 2));
    })(),
    target: 7,
    // zstd emits nothing until a whole block (≤128 KiB of output) is in: the prefix decodes to no records.
    expect: { kind: "incomplete", fallback: { kind: "record", offset: 7, timestampMs: T, precision: "batch" } },
  },
  {
    name: "a truncated zstd batch yields the records of its complete blocks",
    bytes: (() => {
      const b = encodeBatch({
        baseOffset: 0,
        baseTimestamp: T,
        compression: "zstd",
        records: Array.from({ length: 8000 }, (_, i) => ({
          offsetDelta: i,
          timestampDelta: i,
          value: crypto.randomUUID(),
        })),
      });
      return b.subarray(0, Math.floor((b.byteLength * 3) / 4));
    })(),
    target: 7,
    expect: { kind: "record", offset: 7, timestampMs: T + 7, precision: "exact" },
  },
  {
    name: "a truncated batch behind a control batch needs the bytes up to its end",
    bytes: concat([encodeControlBatch(199, T), bigPlain]).subarray(0, 900),
    target: 230,
    expect: { kind: "incomplete", needBytes: encodeControlBatch(199, T).byteLength + bigPlain.byteLength },
  },
  {
    name: "LogAppendTime batches give every record the batch's max timestamp",
    bytes: encodeBatch({
      baseOffset: 0,
      baseTimestamp: T,
      maxTimestamp: T + 99_000,
      logAppendTime: true,
      records: seq(3),
    }),
    target: 1,
    expect: { kind: "record", offset: 1, timestampMs: T + 99_000, timestampType: "LogAppendTime", precision: "exact" },
  },
  {
    name: "a record without a timestamp reads as -1",
    bytes: encodeBatch({ baseOffset: 0, baseTimestamp: -1, maxTimestamp: -1, records: seq(2, 0) }),
    target: 1,
    expect: { kind: "record", offset: 1, timestampMs: -1 },
  },
  {
    name: "a compacted-away target resolves to the next surviving record and reports the gap",
    bytes: encodeBatch({
      baseOffset: 10,
      baseTimestamp: T,
      lastOffsetDelta: 4,
      records: [
        { offsetDelta: 0, timestampDelta: 0 },
        { offsetDelta: 3, timestampDelta: 3000 },
      ],
    }),
    target: 11,
    expect: { kind: "record", offset: 13, timestampMs: T + 3000, firstPresentOffset: 13 },
  },
  {
    name: "a batch emptied by the cleaner is skipped",
    bytes: concat([
      encodeBatch({ baseOffset: 0, baseTimestamp: T, lastOffsetDelta: 9, records: [] }),
      encodeBatch({ baseOffset: 10, baseTimestamp: T + 10, records: seq(1) }),
    ]),
    target: 3,
    expect: { kind: "record", offset: 10, timestampMs: T + 10, firstPresentOffset: 10 },
  },
  {
    name: "a snappy batch answers from its header with batch precision",
    bytes: encodeBatch({
      baseOffset: 50,
      baseTimestamp: T,
      maxTimestamp: T + 5,
      compression: "snappy",
      records: seq(3),
    }),
    target: 51,
    expect: { kind: "record", offset: 51, timestampMs: T, precision: "batch", firstPresentOffset: undefined },
  },
  {
    name: "the producer's out-of-order timestamps come back per record (negative deltas)",
    bytes: encodeBatch({
      baseOffset: 0,
      baseTimestamp: T,
      records: [
        { offsetDelta: 0, timestampDelta: 0 },
        { offsetDelta: 1, timestampDelta: -5000 },
      ],
    }),
    target: 1,
    expect: { kind: "record", offset: 1, timestampMs: T - 5000 },
  },
  {
    name: "timestamp deltas beyond 32 bits decode exactly",
    bytes: encodeBatch({
      baseOffset: 0,
      baseTimestamp: T - 10_000_000_000,
      records: [
        { offsetDelta: 0, timestampDelta: 0 },
        { offsetDelta: 1, timestampDelta: 10_000_000_000 },
      ],
    }),
    target: 1,
    expect: { kind: "record", offset: 1, timestampMs: T },
  },
  {
    name: "records with keys and headers are skipped over correctly",
    bytes: encodeBatch({
      baseOffset: 0,
      baseTimestamp: T,
      records: [
        {
          offsetDelta: 0,
          timestampDelta: 0,
          key: "k".repeat(300),
          headers: [
            ["h1", "v1"],
            ["h2", "x".repeat(200)],
          ],
        },
        { offsetDelta: 1, timestampDelta: 7, key: null, value: null },
      ],
    }),
    target: 1,
    expect: { kind: "record", offset: 1, timestampMs: T + 7 },
  },
  {
    name: "empty records bytes mean no record at or after the offset",
    bytes: new Uint8Array(0),
    target: 0,
    expect: { kind: "noRecord", firstPresentOffset: undefined, nextOffset: undefined },
  },
  {
    name: "batches wholly below the target mean no record",
    bytes: plain,
    target: 105,
    expect: { kind: "noRecord", firstPresentOffset: undefined, nextOffset: 105 },
  },
  {
    name: "a batch with another magic byte is an error, not a timestamp",
    bytes: (() => {
      const b = encodeBatch({ baseOffset: 0, baseTimestamp: T, records: seq(1) });
      b[16] = 1;
      return b;
    })(),
    target: 0,
    expect: { kind: "error" },
  },
];

describe("findRecordAtOrAfter", () => {
  for (const row of rows) {
    test(row.name, () => {
      expect(findRecordAtOrAfter(row.bytes, row.target)).toMatchObject(row.expect);
    });
  }
});

describe("parseRecordBatches", () => {
  test("decodes every header field of a transactional batch", () => {
    const bytes = encodeBatch({
      baseOffset: 2 ** 40,
      baseTimestamp: T,
      maxTimestamp: T + 2,
      compression: "zstd",
      transactional: true,
      producerId: 4242,
      producerEpoch: 3,
      baseSequence: 17,
      partitionLeaderEpoch: 9,
      records: seq(3, 1),
    });
    const scan = parseRecordBatches(bytes);
    expect(scan.trailing).toEqual({ kind: "none" });
    expect(scan.batches).toHaveLength(1);
    const batch = scan.batches[0]!;
    expect(batch.complete).toBe(true);
    expect(batch.sizeBytes).toBe(bytes.byteLength);
    expect(batch.lastOffset).toBe(2 ** 40 + 2);
    expect(batch.header).toMatchObject({
      baseOffset: 2 ** 40,
      batchLength: bytes.byteLength - 12,
      partitionLeaderEpoch: 9,
      magic: 2,
      compression: "zstd",
      timestampType: "CreateTime",
      transactional: true,
      control: false,
      lastOffsetDelta: 2,
      baseTimestamp: T,
      maxTimestamp: T + 2,
      producerId: 4242,
      producerEpoch: 3,
      baseSequence: 17,
      recordCount: 3,
    });
  });

  test("marks a batch cut by the fetch byte limit as incomplete and keeps its header", () => {
    const scan = parseRecordBatches(concat([plain, bigPlain.subarray(0, RECORD_BATCH_HEADER_BYTES + 5)]));
    expect(scan.batches.map((b) => b.complete)).toEqual([true, false]);
    expect(scan.trailing).toEqual({ kind: "partialBatch" });
    expect(scan.batches[1]!.header.baseOffset).toBe(200);
  });

  test("reports a partial header with the size the batch needs once its length is readable", () => {
    expect(parseRecordBatches(plain.subarray(0, 12)).trailing).toEqual({
      kind: "partialHeader",
      needBytes: plain.byteLength,
    });
    expect(parseRecordBatches(plain.subarray(0, 8)).trailing).toEqual({ kind: "partialHeader", needBytes: undefined });
  });

  test("flags a control batch", () => {
    const scan = parseRecordBatches(encodeControlBatch(7, T));
    expect(scan.batches[0]!.header).toMatchObject({ control: true, transactional: true, baseOffset: 7 });
  });
});

describe("decodeBatchRecords", () => {
  test("returns every record's offset and timestamp, key and value sizes", () => {
    const batch = parseRecordBatches(
      encodeBatch({
        baseOffset: 5,
        baseTimestamp: T,
        records: [
          { offsetDelta: 0, timestampDelta: 0, key: "ab", value: "hello" },
          { offsetDelta: 1, timestampDelta: 3, key: null, value: "" },
        ],
      }),
    ).batches[0]!;
    expect(decodeBatchRecords(batch)).toEqual({
      kind: "ok",
      complete: true,
      records: [
        { offset: 5, timestampMs: T, keyBytes: 2, valueBytes: 5, headerCount: 0 },
        { offset: 6, timestampMs: T + 3, keyBytes: 0, valueBytes: 0, headerCount: 0 },
      ],
    });
  });

  test("reports corrupt gzip instead of throwing", () => {
    const good = encodeBatch({ baseOffset: 0, baseTimestamp: T, compression: "gzip", records: seq(2) });
    const bad = good.slice();
    bad.fill(0x11, RECORD_BATCH_HEADER_BYTES);
    const batch = parseRecordBatches(bad).batches[0]!;
    expect(decodeBatchRecords(batch).kind).toBe("corrupt");
    expect(findRecordAtOrAfter(bad, 0).kind).toBe("error");
  });

  test("uses an injected decompressor", () => {
    const inner = encodeBatch({ baseOffset: 0, baseTimestamp: T, records: seq(2) }).subarray(RECORD_BATCH_HEADER_BYTES);
    const batch = encodeBatch({ baseOffset: 0, baseTimestamp: T, compression: "gzip", records: seq(2) });
    let calls = 0;
    const result = findRecordAtOrAfter(batch, 1, (codec, data) => {
      calls++;
      expect(codec).toBe("gzip");
      expect(data.byteLength).toBe(gzipSync(inner).byteLength);
      return inner;
    });
    expect(calls).toBe(1);
    expect(result).toMatchObject({ kind: "record", offset: 1, timestampMs: T + 1000 });
  });
});
