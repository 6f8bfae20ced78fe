/**
 * Version-aware helpers shared by the request/response codecs: the same field is a classic
 * (int16/int32 length) or compact (uvarint length + 1) value depending on whether the API
 * version is flexible, and every flexible struct ends with tagged fields.
 */
import { type ProtocolReader, ProtocolWriter } from "../wire.ts";

/**
 * A writer for a request body. kafkajs writes request header v1; a flexible request needs
 * header v2 (v1 + empty tagged fields), so its body starts with that tagged-field byte.
 */
export function requestWriter(flexible: boolean, initialCapacity = 256): ProtocolWriter {
  const w = new ProtocolWriter(initialCapacity);
  if (flexible) w.emptyTaggedFields();
  return w;
}

export function readArray<T>(r: ProtocolReader, flexible: boolean, item: (r: ProtocolReader) => T): T[] {
  return flexible ? r.compactArray(item) : r.array(item);
}

export function readString(r: ProtocolReader, flexible: boolean): string {
  return flexible ? r.compactString() : r.string();
}

export function readNullableString(r: ProtocolReader, flexible: boolean): string | null {
  return flexible ? r.compactNullableString() : r.nullableString();
}

export function readBytes(r: ProtocolReader, flexible: boolean): Uint8Array {
  return (flexible ? r.compactNullableBytes() : r.nullableBytes()) ?? new Uint8Array(0);
}

/** Ends a struct: skips its tagged fields when the version is flexible. */
export function endStruct(r: ProtocolReader, flexible: boolean): void {
  if (flexible) r.skipTaggedFields();
}

export function writeArray<T>(
  w: ProtocolWriter,
  flexible: boolean,
  items: readonly T[] | null,
  item: (w: ProtocolWriter, value: T) => void,
): void {
  if (flexible) w.compactArray(items, item);
  else w.nullableArray(items, item);
}

export function writeString(w: ProtocolWriter, flexible: boolean, value: string): void {
  if (flexible) w.compactString(value);
  else w.string(value);
}

/** Ends a struct: writes empty tagged fields when the version is flexible. */
export function endWrite(w: ProtocolWriter, flexible: boolean): void {
  if (flexible) w.emptyTaggedFields();
}
