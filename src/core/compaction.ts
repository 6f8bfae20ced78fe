/**
 * Compaction evidence for one committed offset: the log was read there and the committed record is
 * gone although the offset is still inside the retained range. Pure; `cleanup.policy` is never used.
 */
import type { FetchedRecord } from "./time-lag.ts";
import type { Watermarks } from "./types.ts";

/**
 * True only on evidence: the first offset at or after `committed` that exists in the log (data or
 * control record) is larger than `committed`, while earliest ≤ committed < latest. Everything else
 * (no read, unreadable batch, data loss, nothing to consume) is false: no evidence, no label.
 *
 * | earliest | committed | latest | first present offset read | result                      |
 * |----------|-----------|--------|---------------------------|-----------------------------|
 * | 0        | 10        | 50     | 10                        | false (record still there)  |
 * | 0        | 10        | 50     | 14                        | true  (10…13 compacted away)|
 * | 20       | 10        | 50     | out of range              | false (data loss instead)   |
 * | 0        | 50        | 50     | —                         | false (nothing to read)     |
 * | 0        | 10        | 50     | unknown (snappy batch)    | false (no evidence)         |
 */
export function compactionDetected(
  committed: number,
  watermarks: Watermarks | undefined,
  fetched: FetchedRecord | undefined,
): boolean {
  if (watermarks === undefined || fetched === undefined) return false;
  if (committed < watermarks.earliest || committed >= watermarks.latest) return false;
  if (fetched.kind !== "record" && fetched.kind !== "noRecord") return false;
  const first = fetched.firstPresentOffset;
  return first !== undefined && first > committed;
}
