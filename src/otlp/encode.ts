/**
 * OTLP protobuf encoding of a metrics export request (ExportMetricsServiceRequest), written
 * straight into one growing byte buffer. Gauges and sums of numbers, which is all the bridge
 * sends. Points that come from a rendered gauge store (`StorePoint`) have their attributes
 * copied from the exposition's label bytes, so a series costs no strings and no objects here.
 */
import type { Attributes, HrTime } from "@opentelemetry/api";
import { ValueType } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type DataPoint,
  DataPointType,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;

/**
 * One series of a rendered store: its label text is `bytes[labelStart, labelEnd)` of the
 * family's exposition lines (`a="x",b="y"`, Prometheus escaping, extra labels included).
 * `attributes` decodes it on demand, so any other consumer of the point sees real attributes.
 */
export class StorePoint implements DataPoint<number> {
  constructor(
    readonly startTime: HrTime,
    readonly endTime: HrTime,
    readonly value: number,
    readonly bytes: Uint8Array,
    readonly labelStart: number,
    readonly labelEnd: number,
  ) {}

  get attributes(): Attributes {
    return decodeLabelText(this.bytes, this.labelStart, this.labelEnd);
  }
}

const utf8 = new TextDecoder();

/** `a="x\"y",b="1"` (UTF-8 bytes) → { a: 'x"y', b: "1" }. */
export function decodeLabelText(bytes: Uint8Array, start: number, end: number): Attributes {
  const out: Attributes = {};
  let i = start;
  while (i < end) {
    let eq = i;
    while (eq < end && bytes[eq] !== 0x3d /* = */) eq++;
    const key = utf8.decode(bytes.subarray(i, eq));
    const raw: number[] = [];
    let j = eq + 2; // past ="
    for (; j < end; j++) {
      const b = bytes[j]!;
      if (b === 0x22 /* " */) break;
      if (b === 0x5c /* \ */) {
        const next = bytes[++j]!;
        raw.push(next === 0x6e /* n */ ? 0x0a : next);
      } else raw.push(b);
    }
    out[key] = utf8.decode(Uint8Array.from(raw));
    i = j + 2; // past the closing quote and the comma
  }
  return out;
}

/** A protobuf writer over one growing buffer; length prefixes are reserved and patched. */
export class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  private readonly encoder = new TextEncoder();

  constructor(initialBytes = 64 * 1024) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.pos = 0;
  }

  /** The bytes written so far (a copy: the writer's buffer is reused). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  varint(value: number): void {
    this.ensure(10);
    let v = value;
    if (v < 0) {
      // int64 two's complement: ten bytes.
      const lo = v >>> 0;
      const hi = Math.floor(v / 4294967296) >>> 0;
      this.varint64(lo, hi);
      return;
    }
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  private varint64(lo: number, hi: number): void {
    let l = lo;
    let h = hi;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (l & 0x7f) | 0x80;
      l = ((l >>> 7) | (h << 25)) >>> 0;
      h >>>= 7;
    }
    this.buf[this.pos++] = l & 0x01;
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  double(field: number, value: number): void {
    this.tag(field, I64);
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** fixed64 nanoseconds of an HrTime [seconds, nanos], without BigInt. */
  time(field: number, t: HrTime): void {
    this.tag(field, I64);
    this.ensure(8);
    const seconds = t[0];
    const nanos = t[1];
    // seconds * 1e9 + nanos, split at 2^32: seconds = sHi * 2^16 + sLo.
    const sLo = seconds % 65536;
    const sHi = Math.floor(seconds / 65536);
    const loPart = sLo * 1e9 + nanos; // < 2^46
    const hiPart = sHi * 1e9; // multiply by 2^16 below
    const low = (loPart % 4294967296) + (hiPart % 65536) * 65536;
    const lowWord = low % 4294967296;
    const carry = Math.floor(low / 4294967296);
    const highWord = Math.floor(loPart / 4294967296) + Math.floor(hiPart / 65536) + carry;
    this.view.setUint32(this.pos, lowWord, true);
    this.view.setUint32(this.pos + 4, highWord >>> 0, true);
    this.pos += 8;
  }

  string(field: number, s: string): void {
    this.tag(field, LEN);
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      this.varint(n);
      this.ensure(n);
      for (let i = 0; i < n; i++) this.buf[this.pos++] = s.charCodeAt(i);
      return;
    }
    const bytes = this.encoder.encode(s);
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Starts a length-delimited field; `reserve` bytes are kept for its length. */
  begin(field: number, reserve: number): number {
    this.tag(field, LEN);
    this.ensure(reserve);
    const at = this.pos;
    this.pos += reserve;
    return at;
  }

  /** Ends the field begun at `at` with `reserve` bytes: writes the length, moving the body if it needs more or fewer bytes. */
  end(at: number, reserve: number): void {
    const bodyStart = at + reserve;
    const length = this.pos - bodyStart;
    const size = varintSize(length);
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buf.copyWithin(at + size, bodyStart, this.pos);
      this.pos += size - reserve;
    }
    let v = length;
    let p = at;
    while (v > 0x7f) {
      this.buf[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[p] = v;
  }
}

/** Writes a non-negative varint at `p` (capacity already ensured); returns the position after it. */
function putVarint(buf: Uint8Array, p: number, value: number): number {
  let v = value;
  let at = p;
  while (v > 0x7f) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

function varintSize(v: number): number {
  let n = 1;
  let x = v;
  while (x > 0x7f) {
    x = Math.floor(x / 128);
    n++;
  }
  return n;
}

/** Attributes from an object: KeyValue messages in field `field`. */
function writeAttributes(w: Writer, field: number, attributes: Attributes): void {
  for (const key of Object.keys(attributes)) {
    const value = attributes[key];
    if (value === undefined || value === null) continue;
    const kv = w.begin(field, 1);
    w.string(1, key);
    const any = w.begin(2, 1);
    writeAnyValue(w, value);
    w.end(any, 1);
    w.end(kv, 1);
  }
}

function writeAnyValue(w: Writer, value: unknown): void {
  if (typeof value === "string") w.string(1, value);
  else if (typeof value === "boolean") {
    w.tag(2, VARINT);
    w.varint(value ? 1 : 0);
  } else if (typeof value === "number") {
    if (Number.isSafeInteger(value)) {
      w.tag(3, VARINT);
      w.varint(value);
    } else w.double(4, value);
  } else if (value instanceof Uint8Array) {
    w.tag(7, LEN);
    w.varint(value.length);
    w.ensure(value.length);
    w.buf.set(value, w.pos);
    w.pos += value.length;
  } else if (Array.isArray(value)) {
    const arr = w.begin(5, 1); // ArrayValue
    for (const item of value) {
      const v = w.begin(1, 1);
      if (item !== null && item !== undefined) writeAnyValue(w, item);
      w.end(v, 1);
    }
    w.end(arr, 1);
  } else if (typeof value === "object" && value !== null) {
    const list = w.begin(6, 1); // KeyValueList
    writeAttributes(w, 1, value as Attributes);
    w.end(list, 1);
  }
}

/**
 * KeyValue messages (field 7 of NumberDataPoint) straight from exposition label bytes:
 * `k="v",…` with `\\`, `\"` and `\n` undone. No allocation.
 */
function writeLabelBytes(w: Writer, src: Uint8Array, start: number, end: number): void {
  let i = start;
  while (i < end) {
    let eq = i;
    while (src[eq] !== 0x3d) eq++;
    // Value: from eq + 2 to the unescaped closing quote; count escapes to know its length.
    let j = eq + 2;
    let escapes = 0;
    while (src[j] !== 0x22) {
      if (src[j] === 0x5c) {
        escapes++;
        j++;
      }
      j++;
    }
    const keyLen = eq - i;
    const valueLen = j - (eq + 2) - escapes;
    const anyLen = 1 + varintSize(valueLen) + valueLen;
    const kvLen = 1 + varintSize(keyLen) + keyLen + 1 + varintSize(anyLen) + anyLen;
    w.ensure(1 + varintSize(kvLen) + kvLen);
    const buf = w.buf;
    let p = w.pos;
    buf[p++] = 0x3a; // NumberDataPoint field 7 (attributes), LEN
    p = putVarint(buf, p, kvLen);
    buf[p++] = 0x0a; // KeyValue field 1 (key), LEN
    p = putVarint(buf, p, keyLen);
    for (let k = i; k < eq; k++) buf[p++] = src[k]!;
    buf[p++] = 0x12; // KeyValue field 2 (value), LEN
    p = putVarint(buf, p, anyLen);
    buf[p++] = 0x0a; // AnyValue field 1 (string_value), LEN
    p = putVarint(buf, p, valueLen);
    if (escapes === 0) {
      for (let k = eq + 2; k < j; k++) buf[p++] = src[k]!;
    } else {
      for (let k = eq + 2; k < j; k++) {
        let b = src[k]!;
        if (b === 0x5c) {
          b = src[++k]!;
          if (b === 0x6e) b = 0x0a;
        }
        buf[p++] = b;
      }
    }
    w.pos = p;
    i = j + 2; // past the closing quote and the comma
  }
}

function writeNumberPoint(w: Writer, field: number, point: DataPoint<number>, valueType: ValueType): void {
  const at = w.begin(field, 2);
  if (point instanceof StorePoint) writeLabelBytes(w, point.bytes, point.labelStart, point.labelEnd);
  else writeAttributes(w, 7, point.attributes);
  w.time(2, point.startTime);
  w.time(3, point.endTime);
  if (valueType === ValueType.INT && Number.isSafeInteger(point.value)) {
    w.tag(6, I64);
    w.ensure(8);
    w.view.setBigInt64(w.pos, BigInt(point.value), true);
    w.pos += 8;
  } else w.double(4, point.value);
  w.end(at, 2);
}

const OTLP_TEMPORALITY: Record<AggregationTemporality, number> = {
  [AggregationTemporality.DELTA]: 1,
  [AggregationTemporality.CUMULATIVE]: 2,
};

/**
 * Encodes `metrics` as an ExportMetricsServiceRequest. Gauge and sum metrics are encoded;
 * histogram kinds, which the bridge never produces, are left out.
 */
export function encodeExportRequest(metrics: ResourceMetrics, w: Writer = new Writer()): Uint8Array {
  w.reset();
  const rm = w.begin(1, 3);
  const resource = w.begin(1, 2);
  writeAttributes(w, 1, metrics.resource.attributes);
  w.end(resource, 2);
  for (const scopeMetrics of metrics.scopeMetrics) {
    const sm = w.begin(2, 3);
    const scope = w.begin(1, 1);
    w.string(1, scopeMetrics.scope.name);
    if (scopeMetrics.scope.version) w.string(2, scopeMetrics.scope.version);
    w.end(scope, 1);
    for (const metric of scopeMetrics.metrics) {
      if (metric.dataPointType !== DataPointType.GAUGE && metric.dataPointType !== DataPointType.SUM) continue;
      const m = w.begin(2, 3);
      w.string(1, metric.descriptor.name);
      if (metric.descriptor.description) w.string(2, metric.descriptor.description);
      if (metric.descriptor.unit) w.string(3, metric.descriptor.unit);
      const isSum = metric.dataPointType === DataPointType.SUM;
      const data = w.begin(isSum ? 7 : 5, 3);
      const valueType = metric.descriptor.valueType;
      for (const point of metric.dataPoints) writeNumberPoint(w, 1, point, valueType);
      if (isSum) {
        w.tag(2, VARINT);
        w.varint(OTLP_TEMPORALITY[metric.aggregationTemporality]);
        if (metric.isMonotonic) {
          w.tag(3, VARINT);
          w.varint(1);
        }
      }
      w.end(data, 3);
      w.end(m, 3);
    }
    w.end(sm, 3);
  }
  w.end(rm, 3);
  return w.finish();
}
