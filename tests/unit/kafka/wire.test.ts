/** Kafka protocol primitives: byte-exact encodings (from the protocol guide) and round trips. */
import { describe, expect, test } from "bun:test";
import { formatUuid, ProtocolDecodeError, ProtocolReader, ProtocolWriter, parseUuid } from "../../../src/kafka/wire.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => Uint8Array.from(Buffer.from(h.replaceAll(" ", ""), "hex"));

describe("ProtocolWriter encodes each primitive byte for byte", () => {
  const rows: { name: string; write: (w: ProtocolWriter) => unknown; hex: string }[] = [
    { name: "int8 -1", write: (w) => w.int8(-1), hex: "ff" },
    { name: "boolean true", write: (w) => w.boolean(true), hex: "01" },
    { name: "int16 big-endian", write: (w) => w.int16(0x1234), hex: "1234" },
    { name: "int16 negative", write: (w) => w.int16(-2), hex: "fffe" },
    { name: "int32 big-endian", write: (w) => w.int32(0x01020304), hex: "01020304" },
    { name: "int32 -1", write: (w) => w.int32(-1), hex: "ffffffff" },
    { name: "uint32 max", write: (w) => w.uint32(0xffffffff), hex: "ffffffff" },
    { name: "int64 from number", write: (w) => w.int64(1), hex: "0000000000000001" },
    { name: "int64 -2 (earliest timestamp)", write: (w) => w.int64(-2n), hex: "fffffffffffffffe" },
    { name: "int64 max from bigint", write: (w) => w.int64(2n ** 63n - 1n), hex: "7fffffffffffffff" },
    { name: "uvarint 0", write: (w) => w.uvarint(0), hex: "00" },
    { name: "uvarint 127 is one byte", write: (w) => w.uvarint(127), hex: "7f" },
    { name: "uvarint 128 is two bytes", write: (w) => w.uvarint(128), hex: "8001" },
    { name: "uvarint 300", write: (w) => w.uvarint(300), hex: "ac02" },
    { name: "uvarint 2^32-1", write: (w) => w.uvarint(0xffffffff), hex: "ffffffff0f" },
    { name: "varint 0", write: (w) => w.varint(0), hex: "00" },
    { name: "varint -1 zigzags to 1", write: (w) => w.varint(-1), hex: "01" },
    { name: "varint 1 zigzags to 2", write: (w) => w.varint(1), hex: "02" },
    { name: "varint -64 zigzags to 127", write: (w) => w.varint(-64), hex: "7f" },
    { name: "varint 64 zigzags to 128", write: (w) => w.varint(64), hex: "8001" },
    { name: "varlong -1", write: (w) => w.varlong(-1n), hex: "01" },
    { name: "varlong 2^40 (zigzag 2^41)", write: (w) => w.varlong(2 ** 40), hex: "808080808040" },
    { name: "string", write: (w) => w.string("ab"), hex: "00026162" },
    { name: "string utf-8 length in bytes", write: (w) => w.string("é"), hex: "0002c3a9" },
    { name: "nullable string null", write: (w) => w.nullableString(null), hex: "ffff" },
    { name: "compact string", write: (w) => w.compactString("ab"), hex: "036162" },
    { name: "compact string empty", write: (w) => w.compactString(""), hex: "01" },
    { name: "compact nullable string null", write: (w) => w.compactNullableString(null), hex: "00" },
    { name: "bytes", write: (w) => w.bytes(bytes("beef")), hex: "00000002beef" },
    { name: "nullable bytes null", write: (w) => w.nullableBytes(null), hex: "ffffffff" },
    { name: "compact bytes", write: (w) => w.compactBytes(bytes("beef")), hex: "03beef" },
    { name: "compact nullable bytes null", write: (w) => w.compactNullableBytes(null), hex: "00" },
    { name: "array of int32", write: (w) => w.array([1, 2], (w, v) => w.int32(v)), hex: "000000020000000100000002" },
    { name: "nullable array null", write: (w) => w.nullableArray(null, () => {}), hex: "ffffffff" },
    { name: "compact array", write: (w) => w.compactArray([7], (w, v) => w.int8(v)), hex: "0207" },
    { name: "compact array empty", write: (w) => w.compactArray([], () => {}), hex: "01" },
    { name: "compact array null", write: (w) => w.compactArray(null, () => {}), hex: "00" },
    { name: "empty tagged fields", write: (w) => w.emptyTaggedFields(), hex: "00" },
    {
      name: "uuid from hex with dashes",
      write: (w) => w.uuid("00112233-4455-6677-8899-aabbccddeeff"),
      hex: "00112233445566778899aabbccddeeff",
    },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const w = new ProtocolWriter(1);
      r.write(w);
      expect(hex(w.toBytes())).toBe(r.hex);
    });
  }

  test("grows past its initial capacity without losing bytes", () => {
    const w = new ProtocolWriter(16);
    for (let i = 0; i < 1000; i++) w.int32(i);
    const r = new ProtocolReader(w.toBytes());
    for (let i = 0; i < 1000; i++) expect(r.int32()).toBe(i);
    expect(r.remaining).toBe(0);
  });

  const outOfRange: { name: string; write: (w: ProtocolWriter) => unknown }[] = [
    { name: "int8 128", write: (w) => w.int8(128) },
    { name: "int16 40000", write: (w) => w.int16(40000) },
    { name: "int32 2^31", write: (w) => w.int32(2 ** 31) },
    { name: "int32 non-integer", write: (w) => w.int32(1.5) },
    { name: "int64 unsafe number", write: (w) => w.int64(2 ** 53) },
    { name: "int64 bigint 2^63", write: (w) => w.int64(2n ** 63n) },
    { name: "uvarint negative", write: (w) => w.uvarint(-1) },
    { name: "uuid malformed", write: (w) => w.uuid("not-a-uuid") },
  ];
  for (const r of outOfRange) {
    test(`rejects ${r.name} instead of writing garbage`, () => {
      expect(() => r.write(new ProtocolWriter())).toThrow(RangeError);
    });
  }
});

describe("ProtocolReader decodes each primitive", () => {
  const rows: { name: string; hex: string; read: (r: ProtocolReader) => unknown; value: unknown }[] = [
    { name: "int8", hex: "80", read: (r) => r.int8(), value: -128 },
    { name: "boolean false", hex: "00", read: (r) => r.boolean(), value: false },
    { name: "int16", hex: "fffe", read: (r) => r.int16(), value: -2 },
    { name: "int32", hex: "7fffffff", read: (r) => r.int32(), value: 2147483647 },
    { name: "uint32", hex: "ffffffff", read: (r) => r.uint32(), value: 4294967295 },
    { name: "int64", hex: "fffffffffffffffe", read: (r) => r.int64(), value: -2n },
    { name: "int64AsNumber at 2^53-1", hex: "001fffffffffffff", read: (r) => r.int64AsNumber(), value: 2 ** 53 - 1 },
    { name: "int64AsNumber -1", hex: "ffffffffffffffff", read: (r) => r.int64AsNumber(), value: -1 },
    { name: "uvarint 300", hex: "ac02", read: (r) => r.uvarint(), value: 300 },
    { name: "uvarint 2^32-1", hex: "ffffffff0f", read: (r) => r.uvarint(), value: 0xffffffff },
    { name: "varint -64", hex: "7f", read: (r) => r.varint(), value: -64 },
    { name: "varint 64", hex: "8001", read: (r) => r.varint(), value: 64 },
    { name: "varlong -2^40", hex: "ffffffffff3f", read: (r) => r.varlong(), value: -(2n ** 40n) },
    { name: "string", hex: "00026162", read: (r) => r.string(), value: "ab" },
    { name: "nullable string null", hex: "ffff", read: (r) => r.nullableString(), value: null },
    { name: "compact string", hex: "036162", read: (r) => r.compactString(), value: "ab" },
    { name: "compact nullable string null", hex: "00", read: (r) => r.compactNullableString(), value: null },
    { name: "bytes", hex: "00000002beef", read: (r) => hex(r.bytes()), value: "beef" },
    { name: "nullable bytes null", hex: "ffffffff", read: (r) => r.nullableBytes(), value: null },
    { name: "compact bytes", hex: "03beef", read: (r) => hex(r.compactBytes()), value: "beef" },
    { name: "array", hex: "000000020000000100000002", read: (r) => r.array((r) => r.int32()), value: [1, 2] },
    { name: "null array reads as empty", hex: "ffffffff", read: (r) => r.array((r) => r.int32()), value: [] },
    { name: "nullable array null", hex: "ffffffff", read: (r) => r.nullableArray((r) => r.int32()), value: null },
    { name: "compact array", hex: "030102", read: (r) => r.compactArray((r) => r.int8()), value: [1, 2] },
    { name: "compact null array reads as empty", hex: "00", read: (r) => r.compactArray((r) => r.int8()), value: [] },
    {
      name: "compact nullable array null",
      hex: "00",
      read: (r) => r.compactNullableArray((r) => r.int8()),
      value: null,
    },
    {
      name: "uuid in Kafka's base64url form",
      hex: "00112233445566778899aabbccddeeff",
      read: (r) => r.uuid(),
      value: "ABEiM0RVZneImaq7zN3u_w",
    },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const reader = new ProtocolReader(bytes(r.hex));
      expect(r.read(reader)).toEqual(r.value);
      expect(reader.remaining).toBe(0);
    });
  }

  test("skips tagged fields it does not know, then reads on", () => {
    // 2 tagged fields: tag 0 size 2 (abcd), tag 5 size 1 (ff); then int8 7.
    const r = new ProtocolReader(bytes("02 00 02 abcd 05 01 ff 07"));
    r.skipTaggedFields();
    expect(r.int8()).toBe(7);
  });

  test("reads at a non-zero byte offset of a shared buffer", () => {
    const backing = bytes("ffff 0000002a");
    const r = new ProtocolReader(backing.subarray(2));
    expect(r.int32()).toBe(42);
  });

  const malformed: { name: string; hex: string; read: (r: ProtocolReader) => unknown }[] = [
    { name: "truncated int32", hex: "0001", read: (r) => r.int32() },
    { name: "string longer than the buffer", hex: "0005ab", read: (r) => r.string() },
    { name: "null where a STRING is required", hex: "ffff", read: (r) => r.string() },
    { name: "null where a COMPACT_STRING is required", hex: "00", read: (r) => r.compactString() },
    { name: "array count beyond the remaining bytes", hex: "7fffffff", read: (r) => r.array((r) => r.int8()) },
    { name: "uvarint over 32 bits", hex: "ffffffff1f", read: (r) => r.uvarint() },
    { name: "unterminated uvarint", hex: "ff", read: (r) => r.uvarint() },
    { name: "int64AsNumber above 2^53", hex: "0020000000000000", read: (r) => r.int64AsNumber() },
    { name: "int64AsNumber below -2^53", hex: "ffe0000000000000", read: (r) => r.int64AsNumber() },
    { name: "tagged field larger than the buffer", hex: "01 00 09 ab", read: (r) => r.skipTaggedFields() },
  ];
  for (const m of malformed) {
    test(`throws ProtocolDecodeError on ${m.name}`, () => {
      expect(() => m.read(new ProtocolReader(bytes(m.hex)))).toThrow(ProtocolDecodeError);
    });
  }
});

describe("round trips", () => {
  const ints = [0, 1, -1, 63, -64, 64, 127, 128, 16383, 16384, 2 ** 31 - 1, -(2 ** 31)];
  for (const v of ints) {
    test(`varint ${v} reads back as written`, () => {
      expect(new ProtocolReader(new ProtocolWriter().varint(v).toBytes()).varint()).toBe(v);
    });
  }
  const longs = [0n, -1n, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n];
  for (const v of longs) {
    test(`varlong ${v} reads back as written`, () => {
      expect(new ProtocolReader(new ProtocolWriter().varlong(v).toBytes()).varlong()).toBe(v);
    });
  }
  test("uuid text forms convert both ways", () => {
    const raw = parseUuid("ABEiM0RVZneImaq7zN3u_w");
    expect(hex(raw)).toBe("00112233445566778899aabbccddeeff");
    expect(formatUuid(raw)).toBe("ABEiM0RVZneImaq7zN3u_w");
  });
});

describe("int64OrNaN and int64AsNumber without BigInt", () => {
  test("agree with the BigInt reading for edges and random values; NaN exactly outside ±(2^53 − 1)", () => {
    const values: bigint[] = [0n, 1n, -1n, 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n), 2n ** 53n - 1n, -(2n ** 53n - 1n)];
    values.push(2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n));
    for (let i = 0; i < 2000; i++) {
      const hi = BigInt((Math.random() * 2 ** 32) | 0);
      const lo = BigInt(Math.floor(Math.random() * 2 ** 32));
      values.push(BigInt.asIntN(64, (hi << 32n) | lo));
      values.push(BigInt(Math.floor((Math.random() - 0.5) * 2 ** 54)));
    }
    for (const big of values) {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigInt64(0, big);
      const safe = big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER);
      const reader = new ProtocolReader(bytes);
      const v = reader.int64OrNaN();
      expect({ big: String(big), v }).toEqual({ big: String(big), v: safe ? Number(big) : Number.NaN });
      expect(reader.remaining).toBe(0);
      if (safe) expect(new ProtocolReader(bytes).int64AsNumber()).toBe(Number(big));
      else expect(() => new ProtocolReader(bytes).int64AsNumber()).toThrow(/safe-integer range/);
    }
  });
});
