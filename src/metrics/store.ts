/**
 * The gauge store: one per cluster (plus one for process metrics). Values live in typed-array
 * columns indexed by slot; each series is keyed by its pre-escaped label text, interned once,
 * so a series that lasts across cycles allocates nothing that is kept. No I/O, no clock.
 */
import { isDroppable, type MetricDef } from "./catalog.ts";
import {
  compareStrings,
  escapeLabelValue,
  formatValue,
  LABEL_NAME_RE,
  type LabelValue,
  unescapeLabelText,
} from "./prometheus-text.ts";

export interface GaugeStoreOptions {
  /** Appended to every series of the store, sorted by name, after the built-in labels. */
  extraLabels?: Readonly<Record<string, string>>;
  /** A series not set in a cycle keeps its last value this long before it disappears; 0 = at once. */
  gracePeriodMs?: number;
  /** Cardinality budget; 0 or absent = unlimited. Group, cluster and process series are never dropped. */
  maxSeries?: number;
}

export interface CycleReport {
  /** Series in the store after the cycle (stale ones included). */
  series: number;
  /** Series the budget removed at this cycle's end. */
  dropped: number;
  /** Series not set this cycle but kept within the grace period. */
  stale: number;
}

/** The sample lines of one family as UTF-8: `name{labels} value\n` per series, in series order. */
export interface FamilyFragment {
  readonly def: MetricDef;
  readonly bytes: Uint8Array;
  readonly series: number;
}

export interface StoreStats {
  series: number;
  /** Slots allocated in the value columns (live + free). */
  capacity: number;
  freeSlots: number;
  families: number;
}

export interface GaugeStore {
  /** Starts a cycle at `nowMs`; every series set from now on counts as produced by this cycle. */
  beginCycle(nowMs: number): void;
  /**
   * Sets a series' value. `labelValues` are in `def.labels` order (extra labels are added at
   * render). Throws on a wrong number of values (a programming error, not a runtime outcome).
   */
  set(def: MetricDef, labelValues: readonly LabelValue[], value: number): void;
  /** Ends the cycle: removes series not set in it (after the grace period), applies the budget. */
  endCycle(): CycleReport;
  /** `endCycle` as steps that yield every few thousand series (lib/slice.ts runs them in slices). */
  endCycleSteps(): Generator<void, CycleReport, void>;
  /**
   * Families with at least one series, sorted by name; series sorted by label text. The
   * fragments share one fresh buffer: later writes to the store do not change them.
   */
  renderFamilies(): FamilyFragment[];
  /**
   * Renders now, as steps that yield every few thousand series, and keeps the result for the
   * next `renderFamilies()` call, which returns it if the store was not written in between.
   */
  prepareRender(): Generator<void, void, void>;
  /** The value of one series, or undefined when the store does not hold it. */
  get(def: MetricDef, labelValues: readonly LabelValue[]): number | undefined;
  /** Visits every series with its labels (extra labels included), e.g. for the OTLP bridge. */
  forEachSeries(visit: (def: MetricDef, labels: Record<string, string>, value: number) => void): void;
  stats(): StoreStats;
}

export function createGaugeStore(opts: GaugeStoreOptions = {}): GaugeStore {
  return new Store(opts);
}

// Series order within a family: sorted by the rendered label text (code-unit order), so the
// same data renders the same bytes whatever happened before. New series are sorted among
// themselves and merged in; steady cycles never sort.

const MIN_CAPACITY = 1024;
/** Longest `formatValue` output ("-1.7976931348623157e+308") plus the newline. */
const MAX_VALUE_BYTES = 25;

interface Family {
  readonly def: MetricDef;
  readonly id: number;
  /** `name="` for the first label, `,name="` for the rest, and their lengths. */
  readonly prefixes: readonly string[];
  readonly prefixLengths: readonly number[];
  /** Line start and the text between the label text and the value, and their UTF-8 size. */
  readonly open: string;
  readonly close: string;
  readonly openBytes: Uint8Array;
  readonly closeBytes: Uint8Array;
  readonly fixedBytes: number;
  readonly index: Map<string, number>;
  /** Settled slots, sorted by label text. */
  order: number[];
  /** Slots created since the last settle, unsorted. */
  added: number[];
  /** `order` may hold freed slots. */
  hasRemoved: boolean;
  /** Slots in the order the previous cycle set them; the next set() is predicted from here. */
  prevSeq: number[];
  /** Slots in the order this cycle sets them (becomes `prevSeq` at the end of the cycle). */
  curSeq: number[];
  /** Position in `prevSeq` of the series the next set() most likely names. */
  cursor: number;
}

class Store implements GaugeStore {
  private readonly extraText: string;
  private readonly extraPairs: readonly (readonly [string, string])[];
  private readonly gracePeriodMs: number;
  private readonly maxSeries: number;

  private readonly families = new Map<MetricDef, Family>();
  private familyList: Family[] = [];

  private capacity = 0;
  private values = new Float64Array(0);
  private seenCycle = new Uint32Array(0);
  private seenMs = new Float64Array(0);
  /** Creation sequence: the budget drops the newest series of a family first. */
  private born = new Float64Array(0);
  private familyOf = new Uint16Array(0);
  /** UTF-8 size of each slot's label text, so render can size its buffer exactly. */
  private keyBytes = new Uint32Array(0);
  /** slot → its index in its family's `prevSeq`, or -1. */
  private seqPos = new Int32Array(0);
  /** slot → interned label text; undefined = free. */
  private keys: (string | undefined)[] = [];
  private free: number[] = [];
  private highWater = 0;
  private live = 0;
  private bornSeq = 0;

  private cycle = 0;
  private nowMs = 0;
  /** Counts writes, so a prepared rendering is used only if nothing changed since. */
  private writes = 0;
  private prepared: { writes: number; fragments: FamilyFragment[] } | undefined;

  constructor(opts: GaugeStoreOptions) {
    const extra = Object.entries(opts.extraLabels ?? {}).sort(([a], [b]) => compareStrings(a, b));
    for (const [name] of extra) {
      if (!LABEL_NAME_RE.test(name) || name.startsWith("__")) throw new Error(`invalid extra label name ${name}`);
    }
    this.extraPairs = extra;
    this.extraText = extra.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
    this.gracePeriodMs = Math.max(0, opts.gracePeriodMs ?? 0);
    this.maxSeries = Math.max(0, opts.maxSeries ?? 0);
    this.grow(MIN_CAPACITY);
  }

  beginCycle(nowMs: number): void {
    this.writes++;
    this.cycle++;
    this.nowMs = nowMs;
  }

  set(def: MetricDef, labelValues: readonly LabelValue[], value: number): void {
    const family = this.families.get(def) ?? this.addFamily(def);
    if (labelValues.length !== family.prefixes.length) {
      throw new Error(`${def.name}: expected ${family.prefixes.length} label values, got ${labelValues.length}`);
    }
    // Cycles set the same series in much the same order, so first compare the values with
    // the series that came next last cycle: no key string is built and nothing is allocated.
    let slot = this.predict(family, labelValues);
    if (slot < 0) {
      const key = this.keyOf(family, labelValues);
      const found = family.index.get(key);
      if (found === undefined) {
        slot = this.create(family, key);
        family.cursor++; // a new series most often replaces the predicted one (a renamed member)
      } else {
        slot = found;
        const pos = this.seqPos[found]!;
        if (pos >= 0) family.cursor = pos + 1; // back in step with last cycle's order
      }
    }
    // Bounded, for stores that are written without ever ending a cycle.
    if (family.curSeq.length < 2 * family.index.size + 64) family.curSeq.push(slot);
    this.writes++;
    this.values[slot] = value;
    this.seenCycle[slot] = this.cycle;
    this.seenMs[slot] = this.nowMs;
  }

  endCycle(): CycleReport {
    const steps = this.endCycleSteps();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  *endCycleSteps(): Generator<void, CycleReport, void> {
    this.writes++;
    let stale = 0;
    for (let slot = 0; slot < this.highWater; slot++) {
      if ((slot & 16383) === 16383) yield;
      if (this.keys[slot] === undefined || this.seenCycle[slot] === this.cycle) continue;
      if (this.gracePeriodMs > 0 && this.nowMs - this.seenMs[slot]! <= this.gracePeriodMs) stale++;
      else this.release(slot);
    }
    const dropped = this.maxSeries > 0 && this.live > this.maxSeries ? this.applyBudget() : 0;
    if (dropped > 0) stale = this.countStale();
    for (const family of this.familyList) {
      yield;
      this.settle(family);
      this.rollSequence(family);
    }
    this.writes++;
    if (this.capacity > MIN_CAPACITY && this.live * 4 < this.capacity) this.compact();
    return { series: this.live, dropped, stale };
  }

  renderFamilies(): FamilyFragment[] {
    const prepared = this.prepared;
    this.prepared = undefined;
    if (prepared !== undefined && prepared.writes === this.writes) return prepared.fragments;
    const steps = this.renderSteps();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  *prepareRender(): Generator<void, void, void> {
    this.prepared = undefined;
    const writes = this.writes;
    const fragments = yield* this.renderSteps();
    // A write during the steps (a caller that did not wait) makes the rendering unusable.
    if (this.writes === writes) this.prepared = { writes, fragments };
  }

  private *renderSteps(): Generator<void, FamilyFragment[], void> {
    const sorted = this.familyList
      .filter((f) => f.index.size > 0)
      .sort((a, b) => compareStrings(a.def.name, b.def.name));
    const { keys, keyBytes, values } = this;
    let capacity = 0;
    for (const family of sorted) {
      this.settle(family);
      const perLine = family.fixedBytes + MAX_VALUE_BYTES;
      for (const slot of family.order) capacity += perLine + keyBytes[slot]!;
    }
    // Writing each piece straight into the buffer is several times faster than building one
    // big string and encoding it (a long concatenation is a rope that must be flattened).
    const buffer = Buffer.from(new ArrayBuffer(capacity));
    const out: FamilyFragment[] = [];
    let offset = 0;
    for (const family of sorted) {
      const { openBytes, closeBytes, order } = family;
      const start = offset;
      for (let i = 0; i < order.length; i++) {
        if ((i & 4095) === 4095) yield;
        const slot = order[i]!;
        offset = copySmall(buffer, offset, openBytes);
        const key = keys[slot]!;
        // Pure-ASCII label text (UTF-8 size = length) takes the cheaper one-byte-per-char path.
        offset += keyBytes[slot] === key.length ? buffer.write(key, offset, "latin1") : buffer.write(key, offset);
        offset = copySmall(buffer, offset, closeBytes);
        // Integers (nearly every sample) are written digit by digit: no string per sample.
        const v = values[slot]!;
        offset =
          Number.isInteger(v) && v <= MAX_PLAIN_INTEGER && v >= -MAX_PLAIN_INTEGER
            ? writeInteger(buffer, offset, v)
            : offset + buffer.write(formatValue(v), offset, "latin1");
        buffer[offset++] = 10; // "\n"
      }
      out.push({ def: family.def, bytes: new Uint8Array(buffer.buffer, start, offset - start), series: order.length });
    }
    return out;
  }

  get(def: MetricDef, labelValues: readonly LabelValue[]): number | undefined {
    const family = this.families.get(def);
    if (family === undefined) return undefined;
    const slot = family.index.get(this.keyOf(family, labelValues));
    return slot === undefined ? undefined : this.values[slot];
  }

  forEachSeries(visit: (def: MetricDef, labels: Record<string, string>, value: number) => void): void {
    for (const family of this.familyList) {
      for (const [key, slot] of family.index) {
        const labels = unescapeLabelText(key);
        for (const [k, v] of this.extraPairs) labels[k] = v;
        visit(family.def, labels, this.values[slot]!);
      }
    }
  }

  stats(): StoreStats {
    return {
      series: this.live,
      capacity: this.capacity,
      freeSlots: this.free.length,
      families: this.familyList.length,
    };
  }

  private addFamily(def: MetricDef): Family {
    if (this.familyList.length >= 0xffff) throw new Error("too many metric families in one store");
    const hasLabels = def.labels.length > 0;
    const hasExtra = this.extraText !== "";
    const prefixes = def.labels.map((name, i) => `${i === 0 ? "" : ","}${name}="`);
    const open = hasLabels || hasExtra ? `${def.name}{` : def.name;
    const close = hasLabels ? `${hasExtra ? `,${this.extraText}` : ""}} ` : hasExtra ? `${this.extraText}} ` : " ";
    const family: Family = {
      def,
      id: this.familyList.length,
      prefixes,
      prefixLengths: prefixes.map((p) => p.length),
      open,
      close,
      openBytes: Buffer.from(open, "utf8"),
      closeBytes: Buffer.from(close, "utf8"),
      fixedBytes: Buffer.byteLength(open + close, "utf8"),
      index: new Map(),
      order: [],
      added: [],
      hasRemoved: false,
      prevSeq: [],
      curSeq: [],
      cursor: 0,
    };
    this.families.set(def, family);
    this.familyList.push(family);
    return family;
  }

  /** The slot predicted from last cycle's order when its label text matches `labelValues`, else -1. */
  private predict(family: Family, labelValues: readonly LabelValue[]): number {
    const c = family.cursor;
    if (c >= family.prevSeq.length) return -1;
    const slot = family.prevSeq[c]!;
    const key = this.keys[slot];
    if (key === undefined || this.familyOf[slot] !== family.id) return -1;
    if (!labelTextMatches(key, family.prefixLengths, labelValues)) return -1;
    family.cursor = c + 1;
    return slot;
  }

  private create(family: Family, key: string): number {
    const slot = this.allocate();
    this.keys[slot] = key;
    this.keyBytes[slot] = Buffer.byteLength(key, "utf8");
    this.familyOf[slot] = family.id;
    this.born[slot] = this.bornSeq++;
    this.seqPos[slot] = -1;
    family.index.set(key, slot);
    family.added.push(slot);
    this.live++;
    return slot;
  }

  /** This cycle's set order becomes the prediction for the next one (freed slots left out). */
  private rollSequence(family: Family): void {
    const { keys, seqPos } = this;
    for (const slot of family.prevSeq) seqPos[slot] = -1;
    const next = family.curSeq;
    let n = 0;
    for (let i = 0; i < next.length; i++) {
      const slot = next[i]!;
      if (keys[slot] === undefined) continue;
      next[n] = slot;
      seqPos[slot] = n++;
    }
    next.length = n;
    family.curSeq = family.prevSeq;
    family.curSeq.length = 0;
    family.prevSeq = next;
    family.cursor = 0;
  }

  /** `a="x",b="y"`: the series' identity within its family and its rendered label text. */
  private keyOf(family: Family, labelValues: readonly LabelValue[]): string {
    const { prefixes } = family;
    let key = "";
    for (let i = 0; i < prefixes.length; i++) {
      const v = labelValues[i]!;
      key += prefixes[i] + (typeof v === "string" ? escapeLabelValue(v) : String(v)) + '"';
    }
    return key;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.highWater === this.capacity) this.grow(this.capacity * 2);
    return this.highWater++;
  }

  private release(slot: number): void {
    const family = this.familyList[this.familyOf[slot]!]!;
    family.index.delete(this.keys[slot]!);
    family.hasRemoved = true;
    this.keys[slot] = undefined;
    this.free.push(slot);
    this.live--;
  }

  /** Drops the newest (stale first) series of the lowest-priority droppable families until within budget. */
  private applyBudget(): number {
    let excess = this.live - this.maxSeries;
    const candidates = this.familyList
      .filter((f) => isDroppable(f.def) && f.index.size > 0)
      .sort((a, b) => a.def.priority - b.def.priority || compareStrings(a.def.name, b.def.name));
    let dropped = 0;
    for (const family of candidates) {
      if (excess <= 0) break;
      const slots = [...family.index.values()];
      if (slots.length > excess) {
        const isStale = (s: number) => (this.seenCycle[s] === this.cycle ? 0 : 1);
        slots.sort((a, b) => isStale(b) - isStale(a) || this.born[b]! - this.born[a]!);
      }
      const n = Math.min(excess, slots.length);
      for (let i = 0; i < n; i++) this.release(slots[i]!);
      excess -= n;
      dropped += n;
    }
    return dropped;
  }

  private countStale(): number {
    let stale = 0;
    for (let slot = 0; slot < this.highWater; slot++) {
      if (this.keys[slot] !== undefined && this.seenCycle[slot] !== this.cycle) stale++;
    }
    return stale;
  }

  /** Removes freed slots from the family's order and merges the new ones in, sorted. */
  private settle(family: Family): void {
    const { keys } = this;
    if (family.hasRemoved) {
      family.order = family.order.filter((s) => keys[s] !== undefined && this.familyOf[s] === family.id);
      family.added = family.added.filter((s) => keys[s] !== undefined && this.familyOf[s] === family.id);
      family.hasRemoved = false;
    }
    if (family.added.length === 0) return;
    const added = family.added.sort((a, b) => compareStrings(keys[a]!, keys[b]!));
    family.added = [];
    const old = family.order;
    if (old.length === 0) {
      family.order = added;
      return;
    }
    const merged = new Array<number>(old.length + added.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < old.length && j < added.length) {
      merged[k++] = keys[old[i]!]! <= keys[added[j]!]! ? old[i++]! : added[j++]!;
    }
    while (i < old.length) merged[k++] = old[i++]!;
    while (j < added.length) merged[k++] = added[j++]!;
    family.order = merged;
  }

  private grow(capacity: number): void {
    const copy = <T extends Float64Array | Uint32Array | Uint16Array | Int32Array>(from: T, to: T): T => {
      to.set(from.subarray(0, Math.min(from.length, to.length)));
      return to;
    };
    this.values = copy(this.values, new Float64Array(capacity));
    this.seenCycle = copy(this.seenCycle, new Uint32Array(capacity));
    this.seenMs = copy(this.seenMs, new Float64Array(capacity));
    this.born = copy(this.born, new Float64Array(capacity));
    this.familyOf = copy(this.familyOf, new Uint16Array(capacity));
    this.keyBytes = copy(this.keyBytes, new Uint32Array(capacity));
    this.seqPos = copy(this.seqPos, new Int32Array(capacity));
    this.capacity = capacity;
  }

  /**
   * After a spike (live < capacity / 4), renumbers live slots densely in render order and
   * shrinks the columns, so a one-off burst of series does not pin memory forever.
   * Called right after every family is settled, so each live slot is in exactly one order.
   */
  private compact(): void {
    let capacity = MIN_CAPACITY;
    while (capacity < this.live * 2) capacity *= 2;
    const values = new Float64Array(capacity);
    const seenCycle = new Uint32Array(capacity);
    const seenMs = new Float64Array(capacity);
    const born = new Float64Array(capacity);
    const familyOf = new Uint16Array(capacity);
    const keyBytes = new Uint32Array(capacity);
    const seqPos = new Int32Array(capacity).fill(-1);
    const keys: (string | undefined)[] = [];
    const remap = new Int32Array(this.highWater).fill(-1);
    let next = 0;
    for (const family of this.familyList) {
      const order = family.order;
      for (let i = 0; i < order.length; i++) {
        const from = order[i]!;
        const key = this.keys[from]!;
        values[next] = this.values[from]!;
        seenCycle[next] = this.seenCycle[from]!;
        seenMs[next] = this.seenMs[from]!;
        born[next] = this.born[from]!;
        familyOf[next] = family.id;
        keyBytes[next] = this.keyBytes[from]!;
        keys[next] = key;
        family.index.set(key, next);
        remap[from] = next;
        order[i] = next++;
      }
    }
    for (const family of this.familyList) {
      family.prevSeq = family.prevSeq.map((slot) => remap[slot]!).filter((slot) => slot >= 0);
      family.prevSeq.forEach((slot, i) => {
        seqPos[slot] = i;
      });
    }
    this.values = values;
    this.seenCycle = seenCycle;
    this.seenMs = seenMs;
    this.born = born;
    this.familyOf = familyOf;
    this.keyBytes = keyBytes;
    this.seqPos = seqPos;
    this.keys = keys;
    this.free = [];
    this.highWater = next;
    this.capacity = capacity;
  }
}

/** Same bound as `formatValue`: integers up to 2^53 print as plain digits. */
const MAX_PLAIN_INTEGER = 2 ** 53;

/** Writes the decimal digits of an integer |v| ≤ 2^53 at `offset` (−0 as "0"); returns the end. */
function writeInteger(buffer: Uint8Array, offset: number, v: number): number {
  if (v < 0) {
    buffer[offset++] = 45; // "-"
    v = -v;
  }
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let i = offset + digits - 1; i >= offset; i--) {
    buffer[i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return offset + digits;
}

/** Copies a few bytes (a family's fixed text): a loop beats `set` at these sizes. */
function copySmall(buffer: Uint8Array, offset: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) buffer[offset++] = bytes[i]!;
  return offset;
}

/**
 * Whether `key` (label text of this family) holds exactly `values`, compared character by
 * character through the escapes, without building a string.
 *   key `a="x\"y",b="7"` matches ['x"y', 7] and ['x"y', "7"]; not ['x', 7] or ['x"y', 70].
 */
function labelTextMatches(key: string, prefixLengths: readonly number[], values: readonly LabelValue[]): boolean {
  let pos = 0;
  for (let i = 0; i < prefixLengths.length; i++) {
    pos += prefixLengths[i]!;
    const v = values[i]!;
    pos =
      typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff
        ? matchDigits(key, pos, v)
        : matchEscaped(key, pos, typeof v === "string" ? v : String(v));
    if (pos < 0 || key.charCodeAt(pos) !== 34) return false;
    pos++;
  }
  return pos === key.length;
}

/** Position after `text` (escaped) at `pos` in `key`, or -1. */
function matchEscaped(key: string, pos: number, text: string): number {
  for (let j = 0; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 92 || c === 34 || c === 10) {
      if (key.charCodeAt(pos) !== 92 || key.charCodeAt(pos + 1) !== (c === 10 ? 110 : c)) return -1;
      pos += 2;
    } else if (key.charCodeAt(pos++) !== c) return -1;
  }
  return pos;
}

/** Position after the decimal digits of `n` (a non-negative int32) at `pos` in `key`, or -1. */
function matchDigits(key: string, pos: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let d = digits - 1; d >= 0; d--) {
    if (key.charCodeAt(pos + d) !== 48 + (n % 10)) return -1;
    n = Math.floor(n / 10);
  }
  return pos + digits;
}
