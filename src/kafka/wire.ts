/**
 * Kafka protocol primitives: a growable binary writer and a bounds-checked reader for the
 * classic (int16/int32 length) and flexible (compact, uvarint length + tagged fields) encodings.
 * Pure: no I/O. Spec: https://kafka.apache.org/protocol#protocol_types
 */

/** A response (or record) did not decode: truncated, malformed, or a value out of range. */
export class ProtocolDecodeError extends Error {
  override readonly name = "ProtocolDecodeError";
}

const MAX_UVARINT32 = 0xffffffff;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");

/** Writes Kafka protocol values big-endian into a buffer that grows as needed. */
export class ProtocolWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** A copy-free view of the bytes written so far. */
  toBytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  int8(value: number): this {
    checkInt(value, -128, 127, "int8");
    this.ensure(1);
    this.view.setInt8(this.pos, value);
    this.pos += 1;
    return this;
  }

  boolean(value: boolean): this {
    return this.int8(value ? 1 : 0);
  }

  int16(value: number): this {
    checkInt(value, -32768, 32767, "int16");
    this.ensure(2);
    this.view.setInt16(this.pos, value);
    this.pos += 2;
    return this;
  }

  int32(value: number): this {
    checkInt(value, -2147483648, 2147483647, "int32");
    this.ensure(4);
    this.view.setInt32(this.pos, value);
    this.pos += 4;
    return this;
  }

  uint32(value: number): this {
    checkInt(value, 0, 0xffffffff, "uint32");
    this.ensure(4);
    this.view.setUint32(this.pos, value);
    this.pos += 4;
    return this;
  }

  /** int64 from a bigint or a safe integer number (offsets, timestamps). */
  int64(value: bigint | number): this {
    const big = typeof value === "bigint" ? value : BigInt(checkSafe(value, "int64"));
    if (big < -(1n << 63n) || big >= 1n << 63n) throw new RangeError(`int64 out of range: ${big}`);
    this.ensure(8);
    this.view.setBigInt64(this.pos, big);
    this.pos += 8;
    return this;
  }

  /** Unsigned varint (LEB128), up to 32 bits: compact lengths and tagged-field counts. */
  uvarint(value: number): this {
    checkInt(value, 0, MAX_UVARINT32, "uvarint");
    let v = value;
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  /** Signed zig-zag varint (32-bit), as used in record headers. */
  varint(value: number): this {
    checkInt(value, -2147483648, 2147483647, "varint");
    const zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
    return this.uvarint(zigzag);
  }

  /** Signed zig-zag varlong (64-bit), as used in records. */
  varlong(value: bigint | number): this {
    const v = typeof value === "bigint" ? value : BigInt(checkSafe(value, "varlong"));
    let zigzag = v >= 0n ? v << 1n : (-v << 1n) - 1n;
    this.ensure(10);
    while (zigzag >= 0x80n) {
      this.buf[this.pos++] = Number(zigzag & 0x7fn) | 0x80;
      zigzag >>= 7n;
    }
    this.buf[this.pos++] = Number(zigzag);
    return this;
  }

  /** STRING: int16 length + UTF-8. */
  string(value: string): this {
    const bytes = encoder.encode(value);
    this.int16(bytes.length);
    return this.raw(bytes);
  }

  /** NULLABLE_STRING: length -1 for null. */
  nullableString(value: string | null): this {
    if (value === null) return this.int16(-1);
    return this.string(value);
  }

  /** COMPACT_STRING: uvarint (length + 1) + UTF-8. */
  compactString(value: string): this {
    const bytes = encoder.encode(value);
    this.uvarint(bytes.length + 1);
    return this.raw(bytes);
  }

  /** COMPACT_NULLABLE_STRING: uvarint 0 for null. */
  compactNullableString(value: string | null): this {
    if (value === null) return this.uvarint(0);
    return this.compactString(value);
  }

  /** BYTES: int32 length + bytes. */
  bytes(value: Uint8Array): this {
    this.int32(value.length);
    return this.raw(value);
  }

  nullableBytes(value: Uint8Array | null): this {
    if (value === null) return this.int32(-1);
    return this.bytes(value);
  }

  /** COMPACT_BYTES: uvarint (length + 1) + bytes. */
  compactBytes(value: Uint8Array): this {
    this.uvarint(value.length + 1);
    return this.raw(value);
  }

  compactNullableBytes(value: Uint8Array | null): this {
    if (value === null) return this.uvarint(0);
    return this.compactBytes(value);
  }

  /** ARRAY: int32 count, then each item. */
  array<T>(items: readonly T[], write: (w: this, item: T) => void): this {
    this.int32(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  /** Nullable ARRAY: count -1 for null. */
  nullableArray<T>(items: readonly T[] | null, write: (w: this, item: T) => void): this {
    if (items === null) return this.int32(-1);
    return this.array(items, write);
  }

  /** COMPACT_ARRAY: uvarint (count + 1), then each item; null is uvarint 0. */
  compactArray<T>(items: readonly T[] | null, write: (w: this, item: T) => void): this {
    if (items === null) return this.uvarint(0);
    this.uvarint(items.length + 1);
    for (const item of items) write(this, item);
    return this;
  }

  /** An empty tagged-field section (uvarint 0): ends every flexible struct. */
  emptyTaggedFields(): this {
    return this.uvarint(0);
  }

  /** UUID from 32 hex digits (dashes allowed) or Kafka's 22-character base64url form. */
  uuid(value: string): this {
    return this.raw(parseUuid(value));
  }

  /** Raw bytes, no length prefix. */
  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** Reads Kafka protocol values from a byte array; every read is bounds-checked. */
export class ProtocolReader {
  private readonly view: DataView;
  private pos = 0;

  constructor(private readonly src: Uint8Array) {
    this.view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.src.length - this.pos;
  }

  int8(): number {
    this.need(1);
    const v = this.view.getInt8(this.pos);
    this.pos += 1;
    return v;
  }

  boolean(): boolean {
    return this.int8() !== 0;
  }

  int16(): number {
    this.need(2);
    const v = this.view.getInt16(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }

  /** int64 as a number; throws ProtocolDecodeError outside ±(2^53 − 1). No BigInt is made for safe values. */
  int64AsNumber(): number {
    const v = this.int64OrNaN();
    if (Number.isNaN(v)) {
      this.pos -= 8;
      return int64ToSafeNumber(this.int64());
    }
    return v;
  }

  /** int64 as a number, or NaN outside ±(2^53 − 1); reads the two halves, so no BigInt is made. */
  int64OrNaN(): number {
    this.need(8);
    const hi = this.view.getInt32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    this.pos += 8;
    const v = hi * 4294967296 + lo;
    return Number.isSafeInteger(v) ? v : Number.NaN;
  }

  uvarint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.uint8();
      if (shift === 28 && b > 0x0f) throw new ProtocolDecodeError("uvarint longer than 32 bits");
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }

  varint(): number {
    const zigzag = this.uvarint();
    return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
  }

  varlong(): bigint {
    let zigzag = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.uint8();
      if (shift === 63n && b > 1) throw new ProtocolDecodeError("varlong longer than 64 bits");
      zigzag |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7n;
    }
    return (zigzag & 1n) === 0n ? zigzag >> 1n : -((zigzag + 1n) >> 1n);
  }

  string(): string {
    const s = this.nullableString();
    if (s === null) throw new ProtocolDecodeError("unexpected null STRING");
    return s;
  }

  nullableString(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    return decoder.decode(this.take(len));
  }

  compactString(): string {
    const s = this.compactNullableString();
    if (s === null) throw new ProtocolDecodeError("unexpected null COMPACT_STRING");
    return s;
  }

  compactNullableString(): string | null {
    const n = this.uvarint();
    if (n === 0) return null;
    return decoder.decode(this.take(n - 1));
  }

  bytes(): Uint8Array {
    const b = this.nullableBytes();
    if (b === null) throw new ProtocolDecodeError("unexpected null BYTES");
    return b;
  }

  nullableBytes(): Uint8Array | null {
    const len = this.int32();
    if (len < 0) return null;
    return this.take(len);
  }

  compactBytes(): Uint8Array {
    const b = this.compactNullableBytes();
    if (b === null) throw new ProtocolDecodeError("unexpected null COMPACT_BYTES");
    return b;
  }

  compactNullableBytes(): Uint8Array | null {
    const n = this.uvarint();
    if (n === 0) return null;
    return this.take(n - 1);
  }

  /** ARRAY (int32 count); a null array (-1) reads as []. */
  array<T>(read: (r: this) => T): T[] {
    return this.nullableArray(read) ?? [];
  }

  nullableArray<T>(read: (r: this) => T): T[] | null {
    const count = this.int32();
    if (count < 0) return null;
    return this.items(count, read);
  }

  /** COMPACT_ARRAY (uvarint count + 1); a null array (0) reads as []. */
  compactArray<T>(read: (r: this) => T): T[] {
    return this.compactNullableArray(read) ?? [];
  }

  compactNullableArray<T>(read: (r: this) => T): T[] | null {
    const n = this.uvarint();
    if (n === 0) return null;
    return this.items(n - 1, read);
  }

  /** Reads and discards a tagged-field section (count, then tag + size + data per field). */
  skipTaggedFields(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint(); // tag
      this.skip(this.uvarint());
    }
  }

  /** 16 bytes, rendered as Kafka renders topic ids: 22-character base64url. */
  uuid(): string {
    return formatUuid(this.take(16));
  }

  /** Exactly n bytes (a view into the source, not a copy). */
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.src.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  private uint8(): number {
    this.need(1);
    return this.src[this.pos++]!;
  }

  private items<T>(count: number, read: (r: this) => T): T[] {
    // Each item takes at least one byte: a count beyond the remaining bytes is corrupt.
    if (count > this.remaining) throw new ProtocolDecodeError(`array count ${count} exceeds remaining bytes`);
    const out: T[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = read(this);
    return out;
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.src.length) {
      throw new ProtocolDecodeError(`truncated: need ${n} bytes at ${this.pos}, have ${this.src.length - this.pos}`);
    }
  }
}

/** Converts an int64 to a number; throws ProtocolDecodeError outside the safe-integer range. */
export function int64ToSafeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ProtocolDecodeError(`int64 ${value} is outside the safe-integer range`);
  }
  return Number(value);
}

/** Kafka's string form of a UUID (`Uuid.toString()`): base64url of the 16 bytes, no padding. */
export function formatUuid(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/** Parses a UUID given as 22-char base64url (Kafka's form) or 32 hex digits with optional dashes. */
export function parseUuid(value: string): Uint8Array {
  const hex = value.replaceAll("-", "");
  if (/^[0-9a-fA-F]{32}$/.test(hex)) return Uint8Array.from(Buffer.from(hex, "hex"));
  if (/^[A-Za-z0-9_-]{22}$/.test(value)) {
    const bytes = Buffer.from(value, "base64url");
    if (bytes.length === 16) return Uint8Array.from(bytes);
  }
  throw new RangeError(`not a UUID: ${value}`);
}

function checkInt(value: number, min: number, max: number, type: string): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${type} out of range: ${value}`);
}

function checkSafe(value: number, type: string): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${type} needs a safe integer: ${value}`);
  return value;
}
