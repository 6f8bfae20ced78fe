/**
 * Group/topic filter patterns, validated exactly as src/core/filters.ts compiles them
 * (`new RegExp(pattern)`, no flags). Like the reference (Rust `Regex::is_match`), a pattern
 * matches when it is found ANYWHERE in the name: "__.*" also matches "a__b"; anchor with ^…$. Pure.
 */

export type PatternResult = { kind: "ok"; regex: RegExp } | { kind: "error"; message: string };

/** Compiles one filter pattern; compile errors become values. */
export function compilePattern(pattern: string): PatternResult {
  try {
    return { kind: "ok", regex: new RegExp(pattern) };
  } catch (e) {
    const reason = e instanceof Error ? e.message.replace(/^Invalid regular expression: /, "") : String(e);
    // Rust's regex accepts a leading "(?i)"; JavaScript only has the scoped form "(?i:…)".
    const flags = /^\(\?([imsx]+)\)(.*)$/s.exec(pattern);
    const hint =
      flags !== null
        ? `; JavaScript has no leading inline flags, write ${JSON.stringify(`(?${flags[1]}:${flags[2]})`)} instead`
        : "";
    return { kind: "error", message: `invalid regex ${JSON.stringify(pattern)}: ${reason}${hint}` };
  }
}
