/**
 * Typed readers over one TOML table for the config parser. Each returns undefined when the key
 * is absent or invalid (recording the problem with its path), so callers write
 * `reader(ctx, table, "key") ?? default`. Pure.
 */

import { formatDuration, parseDuration } from "../lib/duration.ts";
import { isPlainTable } from "./env.ts";
import { childPath, sectionLabel } from "./path.ts";
import { MAX_DURATION_MS, NO_EFFECT_KEYS, SECTION_KEYS, type SectionName } from "./schema.ts";
import { closestMatch } from "./suggest.ts";
import type { ConfigProblem } from "./types.ts";

export interface Ctx {
  problems: ConfigProblem[];
  notices: string[];
  /** String values that were exactly one `${…}`; number/boolean fields may coerce them. */
  whole: Set<string>;
  /** Values whose substitution failed; already reported, so validators stay quiet about them. */
  failed: Set<string>;
}

export interface Table {
  path: string;
  values: Record<string, unknown>;
}

export function problem(ctx: Ctx, path: string, message: string): void {
  ctx.problems.push({ path, message });
}

/** Checks that `value` is a table with only `section`'s keys; absent → empty table. */
export function openSection(ctx: Ctx, value: unknown, path: string, section: SectionName): Table {
  if (value === undefined) return { path, values: {} };
  if (!isPlainTable(value)) {
    problem(ctx, path, `expected a table ${sectionLabel(path)}, got ${describe(value)}`);
    return { path, values: {} };
  }
  const valid: readonly string[] = SECTION_KEYS[section];
  const values: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const keyPath = childPath(path, key);
    if (!valid.includes(key)) {
      problem(ctx, keyPath, unknownKeyMessage(key, section, path));
      continue;
    }
    values[key] = v;
    const reason = NO_EFFECT_KEYS[section === "" ? key : `${section}.${key}`];
    if (reason !== undefined) ctx.notices.push(`${keyPath} has no effect in this implementation: ${reason}`);
  }
  return { path, values };
}

function unknownKeyMessage(key: string, section: SectionName, path: string): string {
  const valid: readonly string[] = SECTION_KEYS[section];
  const where = path === "" ? "at the top level" : `in ${sectionLabel(path)}`;
  const suggestion = closestMatch(key, valid);
  if (suggestion !== undefined) return `unknown key \`${key}\` ${where}; did you mean \`${suggestion}\`?`;
  const home = (Object.keys(SECTION_KEYS) as SectionName[]).find(
    (s) => s !== section && (SECTION_KEYS[s] as readonly string[]).includes(key),
  );
  if (home !== undefined) {
    const label = home === "" ? "the top level" : home === "clusters" ? "[[clusters]]" : `[${home}]`;
    return `unknown key \`${key}\` ${where}; it belongs in ${label}`;
  }
  return `unknown key \`${key}\` ${where}; remove it (valid keys: ${valid.join(", ")})`;
}

export function string(ctx: Ctx, t: Table, key: string, opts: { nonEmpty?: boolean } = {}): string | undefined {
  const path = childPath(t.path, key);
  const v = t.values[key];
  if (v === undefined || ctx.failed.has(path)) return undefined;
  if (typeof v !== "string") {
    problem(ctx, path, `expected a string, got ${describe(v)}; put the value in quotes`);
    return undefined;
  }
  if (opts.nonEmpty && v.trim() === "") {
    problem(ctx, path, "must not be empty (remove the key to use the default)");
    return undefined;
  }
  return v;
}

/** An optional string: absent or "" (e.g. an unset `${?VAR}`) both mean "not set". */
export function optionalString(ctx: Ctx, t: Table, key: string): string | undefined {
  const v = string(ctx, t, key);
  return v === undefined || v.trim() === "" ? undefined : v;
}

export function oneOf<T extends string>(ctx: Ctx, t: Table, key: string, allowed: readonly T[]): T | undefined {
  const v = string(ctx, t, key);
  if (v === undefined) return undefined;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  const suggestion = closestMatch(v, allowed);
  problem(
    ctx,
    childPath(t.path, key),
    `invalid value ${JSON.stringify(v)}; use ${allowed.map((a) => `"${a}"`).join(" or ")}` +
      (suggestion !== undefined ? ` (did you mean "${suggestion}"?)` : ""),
  );
  return undefined;
}

export function boolean(ctx: Ctx, t: Table, key: string): boolean | undefined {
  const path = childPath(t.path, key);
  const v = t.values[key];
  if (v === undefined || ctx.failed.has(path)) return undefined;
  if (typeof v === "boolean") return v;
  if (typeof v === "string" && ctx.whole.has(path)) {
    const text = v.trim().toLowerCase();
    if (text === "true") return true;
    if (text === "false") return false;
    problem(ctx, path, `substituted value ${JSON.stringify(v)} is not a boolean; use true or false`);
    return undefined;
  }
  problem(
    ctx,
    path,
    `expected true or false, got ${describe(v)}${typeof v === "string" ? " (remove the quotes)" : ""}`,
  );
  return undefined;
}

/** A number, or a string that was exactly one substitution and reads as a number. */
function numeric(ctx: Ctx, t: Table, key: string, what: string): number | undefined {
  const path = childPath(t.path, key);
  const v = t.values[key];
  if (v === undefined || ctx.failed.has(path)) return undefined;
  if (typeof v === "number") return v;
  if (typeof v === "string" && ctx.whole.has(path)) {
    const text = v.trim();
    if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
    problem(ctx, path, `substituted value ${JSON.stringify(v)} is not ${what}`);
    return undefined;
  }
  problem(ctx, path, `expected ${what}, got ${describe(v)}${typeof v === "string" ? " (remove the quotes)" : ""}`);
  return undefined;
}

export function integer(ctx: Ctx, t: Table, key: string, range: { min: number; max?: number }): number | undefined {
  const v = numeric(ctx, t, key, "a whole number");
  if (v === undefined) return undefined;
  const path = childPath(t.path, key);
  if (!Number.isSafeInteger(v)) {
    problem(ctx, path, `expected a whole number, got ${v}`);
    return undefined;
  }
  if (v < range.min || (range.max !== undefined && v > range.max)) {
    const bounds = range.max === undefined ? `at least ${range.min}` : `between ${range.min} and ${range.max}`;
    problem(ctx, path, `${v} is out of range; use a whole number ${bounds}`);
    return undefined;
  }
  return v;
}

export function float(ctx: Ctx, t: Table, key: string, range: { min: number }): number | undefined {
  const v = numeric(ctx, t, key, "a number");
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v < range.min) {
    problem(ctx, childPath(t.path, key), `${v} is out of range; use a finite number of at least ${range.min}`);
    return undefined;
  }
  return v;
}

export function port(ctx: Ctx, t: Table, key: string): number | undefined {
  const v = numeric(ctx, t, key, "a port number");
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1 || v > 65535) {
    problem(ctx, childPath(t.path, key), `invalid port ${v}; use a whole number from 1 to 65535`);
    return undefined;
  }
  return v;
}

export function duration(ctx: Ctx, t: Table, key: string, range: { min: 0 | 1 }): number | undefined {
  const path = childPath(t.path, key);
  const v = t.values[key];
  if (v === undefined || ctx.failed.has(path)) return undefined;
  if (typeof v !== "string") {
    const hint = typeof v === "number" ? `; write it with a unit, in quotes, e.g. "${v}s"` : '; write e.g. "30s"';
    problem(ctx, path, `expected a duration string, got ${describe(v)}${hint}`);
    return undefined;
  }
  const parsed = parseDuration(v);
  if (parsed.kind === "error") {
    problem(ctx, path, parsed.message);
    return undefined;
  }
  if (parsed.ms < range.min) {
    problem(ctx, path, `must be greater than 0 (got ${JSON.stringify(v)})`);
    return undefined;
  }
  if (parsed.ms > MAX_DURATION_MS) {
    problem(ctx, path, `${JSON.stringify(v)} is too long; the maximum is ${formatDuration(MAX_DURATION_MS)}`);
    return undefined;
  }
  return parsed.ms;
}

export function stringList(ctx: Ctx, t: Table, key: string): string[] | undefined {
  const path = childPath(t.path, key);
  const v = t.values[key];
  if (v === undefined || ctx.failed.has(path)) return undefined;
  if (!Array.isArray(v)) {
    const hint = typeof v === "string" ? `; write [${JSON.stringify(v)}]` : "";
    problem(ctx, path, `expected an array of strings, got ${describe(v)}${hint}`);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  v.forEach((item, index) => {
    if (typeof item === "string") out.push(item);
    else {
      ok = false;
      problem(ctx, childPath(path, index), `expected a string, got ${describe(item)}`);
    }
  });
  return ok ? out : undefined;
}

/**
 * A table of string values (`[clusters.labels]`, `consumer_properties`, headers). With
 * `stringify` (the default), numbers and booleans are accepted and turned into text.
 */
export function stringMap(
  ctx: Ctx,
  value: unknown,
  path: string,
  what: string,
  opts: { stringify?: boolean } = {},
): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isPlainTable(value)) {
    problem(ctx, path, `expected a table ${sectionLabel(path)} of ${what}, got ${describe(value)}`);
    return undefined;
  }
  const stringify = opts.stringify ?? true;
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    const at = childPath(path, key);
    if (typeof v === "string") {
      out[key] = v;
    } else if (stringify && (typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)))) {
      out[key] = String(v);
    } else {
      problem(ctx, at, `expected a string, got ${describe(v)}`);
    }
  }
  return out;
}

/** A short description of a TOML value for messages: `integer 30`, `string "x"`, `a table`. */
export function describe(v: unknown): string {
  if (typeof v === "string") return `string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "nan";
    return Number.isInteger(v) ? `integer ${v}` : `number ${v}`;
  }
  if (typeof v === "boolean") return `boolean ${v}`;
  if (Array.isArray(v)) return "an array";
  if (isPlainTable(v)) return "a table";
  if (v !== null && typeof v === "object") return `a date/time ${String(v)}`;
  return String(v);
}
