/**
 * Group/topic filter patterns. Like the reference (Rust `Regex::is_match`), a pattern matches
 * when it is found ANYWHERE in the name (unanchored search): "__.*" also matches "a__b";
 * write "^__.*" or "^orders$" to anchor. A leading "(?i)" (Rust inline flag) means case-insensitive. Pure.
 */

export type PatternResult = { kind: "ok"; regex: RegExp } | { kind: "error"; message: string };

/** Compiles one filter pattern; compile errors become values. */
export function compilePattern(pattern: string): PatternResult {
  const insensitive = pattern.startsWith("(?i)");
  const source = insensitive ? pattern.slice(4) : pattern;
  try {
    // No `u` flag: Rust's regex accepts escapes like `\-` that unicode-mode JS rejects.
    return { kind: "ok", regex: new RegExp(source, insensitive ? "i" : "") };
  } catch (e) {
    const reason = e instanceof Error ? e.message.replace(/^Invalid regular expression: /, "") : String(e);
    return { kind: "error", message: `invalid regex ${JSON.stringify(pattern)}: ${reason}` };
  }
}
