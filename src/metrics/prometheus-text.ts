/**
 * Prometheus text 0.0.4 and OpenMetrics 1.0 encoding: escaping, number formatting, family
 * headers, a whole-exposition encoder for plain data, and Accept negotiation. Pure functions.
 */

export type ExpositionFormat = "prometheus" | "openmetrics";

export const CONTENT_TYPE: Readonly<Record<ExpositionFormat, string>> = Object.freeze({
  prometheus: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
});

/** Label values may hold anything; numbers and booleans are rendered with `String()`. */
export type LabelValue = string | number | boolean;

export const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `\` → `\\`, `"` → `\"`, newline → `\n` (both formats). */
export function escapeLabelValue(value: string): string {
  if (!LABEL_SPECIAL.test(value)) return value;
  return value.replace(LABEL_SPECIAL_G, escapeChar);
}

/**
 * HELP text: Prometheus 0.0.4 escapes `\` and newline only; OpenMetrics escapes `"` as well
 * (its HELP is an escaped-string like a label value).
 */
export function escapeHelp(help: string, format: ExpositionFormat): string {
  if (format === "openmetrics") return escapeLabelValue(help);
  if (!HELP_SPECIAL.test(help)) return help;
  return help.replace(HELP_SPECIAL_G, escapeChar);
}

/**
 * Sample values. Safe integers print in full (`123456789`, no exponent); other finite numbers
 * print like Go's `strconv.FormatFloat(v, 'g', -1, 64)`, which the Prometheus client uses:
 * shortest round-trip digits, exponent form when the exponent is < -4 or >= 6.
 *
 *   0 → "0"   -3 → "-3"   2**53 → "9007199254740992"   0.5 → "0.5"   1e-5 → "1e-05"
 *   1234567.5 → "1.2345675e+06"   1e21 → "1e+21"   NaN → "NaN"   ±Infinity → "+Inf" / "-Inf"
 */
export function formatValue(value: number): string {
  if (Number.isInteger(value) && value <= MAX_PLAIN_INTEGER && value >= -MAX_PLAIN_INTEGER) {
    return value === 0 ? "0" : String(value); // -0 prints as "0"
  }
  const abs = Math.abs(value);
  // Go's decimal exponent is in [-4, 6) exactly when 1e-4 <= |v| < 1e6 (shortest digits never
  // round across a power of ten); JS prints that range in fixed notation with the same digits.
  if (abs >= 1e-4 && abs < 1e6) return String(value);
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  const exp = value.toExponential(); // shortest round-trip digits: "1.2345675e+6"
  const e = exp.indexOf("e");
  const exponent = Number(exp.slice(e + 1));
  const magnitude = Math.abs(exponent);
  return `${exp.slice(0, e)}e${exponent < 0 ? "-" : "+"}${magnitude < 10 ? "0" : ""}${magnitude}`;
}

/** `a="x",b="y"` for label names and values in the same order; "" when there are none. */
export function renderLabelPairs(names: readonly string[], values: readonly LabelValue[]): string {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    const v = values[i];
    out += `${i === 0 ? "" : ","}${names[i]}="${typeof v === "string" ? escapeLabelValue(v) : String(v)}"`;
  }
  return out;
}

/**
 * Parses label text produced by `renderLabelPairs` back into a record, undoing the escapes:
 *   `a="x\"y",b="1"` → { a: 'x"y', b: "1" }
 */
export function unescapeLabelText(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('="', i);
    if (eq < 0) break;
    const name = text.slice(i, eq);
    let value = "";
    let j = eq + 2;
    for (; j < text.length; j++) {
      const c = text[j];
      if (c === '"') break;
      if (c === "\\") {
        const next = text[++j];
        value += next === "n" ? "\n" : (next ?? "");
      } else value += c;
    }
    labels[name] = value;
    i = j + 2; // past the closing quote and the comma
  }
  return labels;
}

/** One sample line: `name{labels} value\n`, without braces when `labelText` is empty. */
export function renderSample(name: string, labelText: string, value: number): string {
  return labelText === "" ? `${name} ${formatValue(value)}\n` : `${name}{${labelText}} ${formatValue(value)}\n`;
}

export interface FamilyHeaderInput {
  readonly name: string;
  readonly help: string;
  readonly type: "gauge" | "counter";
}

/**
 * The family name as written in `# HELP`/`# TYPE`: OpenMetrics names a counter family without
 * its `_total` suffix (samples keep it); Prometheus 0.0.4 uses the sample name.
 */
export function familyName(def: FamilyHeaderInput, format: ExpositionFormat): string {
  if (format === "openmetrics" && def.type === "counter" && def.name.endsWith("_total")) {
    return def.name.slice(0, -"_total".length);
  }
  return def.name;
}

/** `# HELP` then `# TYPE`, each once per family, before the family's samples. */
export function renderFamilyHeader(def: FamilyHeaderInput, format: ExpositionFormat): string {
  const name = familyName(def, format);
  return `# HELP ${name} ${escapeHelp(def.help, format)}\n# TYPE ${name} ${def.type}\n`;
}

/** Appended after the last family in OpenMetrics; nothing in Prometheus 0.0.4. */
export function renderTrailer(format: ExpositionFormat): string {
  return format === "openmetrics" ? "# EOF\n" : "";
}

export interface PlainFamily extends FamilyHeaderInput {
  /** Samples in exposition order; label names in object insertion order. */
  readonly samples: readonly { readonly labels?: Readonly<Record<string, string>>; readonly value: number }[];
}

/**
 * Encodes whole families from plain data: families sorted by name (code-unit order), samples
 * in the order given, families without samples omitted, one trailing newline per line.
 * The gauge store renders the same bytes for the same data much faster (see store.ts).
 */
export function encodeFamilies(families: readonly PlainFamily[], format: ExpositionFormat): string {
  const sorted = [...families].sort((a, b) => compareStrings(a.name, b.name));
  let out = "";
  for (const family of sorted) {
    if (family.samples.length === 0) continue;
    out += renderFamilyHeader(family, format);
    for (const sample of family.samples) {
      const labels = sample.labels ?? {};
      out += renderSample(family.name, renderLabelPairs(Object.keys(labels), Object.values(labels)), sample.value);
    }
  }
  return out + renderTrailer(format);
}

/**
 * Picks the exposition format from an Accept header: the acceptable media range with the
 * highest q wins, the earlier one on a tie. OpenMetrics is acceptable as
 * `application/openmetrics-text` with version 1.0.0, 0.0.1 or none; everything else that is
 * acceptable (text/plain, wildcards) or a missing/unparsable header gives Prometheus 0.0.4.
 *
 *   "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5" → "openmetrics"
 *   "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"        → "prometheus"
 *   "application/openmetrics-text;version=2.0.0"                               → "prometheus"
 */
export function negotiate(accept: string | null | undefined): ExpositionFormat {
  if (!accept) return "prometheus";
  let best: ExpositionFormat = "prometheus";
  let bestQ = -1;
  for (const range of accept.split(",")) {
    const [type = "", ...params] = range.split(";");
    const mediaType = type.trim().toLowerCase();
    let q = 1;
    let version: string | undefined;
    for (const param of params) {
      const eq = param.indexOf("=");
      if (eq < 0) continue;
      const key = param.slice(0, eq).trim().toLowerCase();
      const value = param
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, "$1");
      if (key === "q") q = parseQ(value);
      else if (key === "version") version = value;
    }
    if (q <= 0) continue;
    let format: ExpositionFormat | undefined;
    if (mediaType === "application/openmetrics-text") {
      if (version === undefined || version === "1.0.0" || version === "0.0.1") format = "openmetrics";
    } else if (mediaType === "text/plain" || mediaType === "text/*" || mediaType === "*/*") {
      format = "prometheus";
    }
    if (format !== undefined && q > bestQ) {
      best = format;
      bestQ = q;
    }
  }
  return best;
}

/** True when an Accept-Encoding header allows gzip (`gzip` or `*` with q > 0, and gzip not refused). */
export function acceptsGzip(acceptEncoding: string | null | undefined): boolean {
  if (!acceptEncoding) return false;
  let gzipQ: number | undefined;
  let starQ: number | undefined;
  for (const item of acceptEncoding.split(",")) {
    const [coding = "", ...params] = item.split(";");
    const name = coding.trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const [key = "", value = ""] = param.split("=");
      if (key.trim().toLowerCase() === "q") q = parseQ(value.trim());
    }
    if (name === "gzip" || name === "x-gzip") gzipQ = Math.max(gzipQ ?? 0, q);
    else if (name === "*") starQ = q;
  }
  return gzipQ !== undefined ? gzipQ > 0 : (starQ ?? 0) > 0;
}

/** Code-unit order, the order of families (and of series in the store). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const MAX_PLAIN_INTEGER = 2 ** 53;
const LABEL_SPECIAL = /[\\"\n]/;
const LABEL_SPECIAL_G = /[\\"\n]/g;
const HELP_SPECIAL = /[\\\n]/;
const HELP_SPECIAL_G = /[\\\n]/g;

function escapeChar(c: string): string {
  return c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n";
}

function parseQ(text: string): number {
  const q = Number(text);
  return Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 0;
}
