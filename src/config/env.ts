/**
 * Environment substitution on the STRING VALUES of a parsed TOML tree (never on raw text, so
 * quotes or backslashes in a secret cannot break parsing and comments are never touched). Pure.
 *
 * Syntax inside a string value:
 *   ${VAR}           the variable's value; unset → a problem naming the variable and the key
 *   ${VAR:-default}  the value, or `default` when VAR is unset or empty (shell semantics)
 *   ${?VAR}          the value, or "" when unset (optional); `${?VAR:-default}` also works
 *   $$               a literal `$`
 * Any other `$` is literal (so regexes like "-dlq$" and bcrypt hashes need no escaping).
 */

import { childPath } from "./path.ts";
import type { ConfigProblem } from "./types.ts";

export type Env = Record<string, string | undefined>;

export type SubstitutionResult =
  | {
      kind: "ok";
      value: string;
      /** True when the whole text was exactly one `${…}` (so a number/boolean field may take it). */
      whole: boolean;
    }
  | { kind: "error"; message: string };

export interface SubstitutedTree {
  tree: unknown;
  problems: ConfigProblem[];
  /** Paths of string values that were exactly one substitution (candidates for number/bool coercion). */
  wholePaths: Set<string>;
  /** Paths whose substitution failed (already reported; validators skip them). */
  failedPaths: Set<string>;
}

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Substitutes one string. Examples with env {USER: "bob"}:
 *   "${USER}" → "bob" (whole), "u=${USER}" → "u=bob", "${PORT:-8000}" → "8000" (whole),
 *   "${?NOPE}" → "", "$${USER}" → "${USER}", "${NOPE}" → error naming NOPE.
 */
export function substituteString(text: string, env: Env): SubstitutionResult {
  if (!text.includes("$")) return { kind: "ok", value: text, whole: false };
  let out = "";
  let substitutions = 0;
  let literalChars = 0;
  const unset: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch !== "$") {
      out += ch;
      literalChars++;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      literalChars++;
      i += 2;
      continue;
    }
    if (next !== "{") {
      out += "$";
      literalChars++;
      i++;
      continue;
    }
    const close = text.indexOf("}", i + 2);
    if (close < 0) {
      return { kind: "error", message: `unterminated "\${" (write "$$" for a literal "$")` };
    }
    const body = text.slice(i + 2, close);
    const optional = body.startsWith("?");
    const spec = optional ? body.slice(1) : body;
    const sep = spec.indexOf(":-");
    const name = sep < 0 ? spec : spec.slice(0, sep);
    const fallback = sep < 0 ? undefined : spec.slice(sep + 2);
    if (!VAR_NAME.test(name)) {
      return {
        kind: "error",
        message: `invalid substitution "\${${body}}": expected \${NAME}, \${NAME:-default} or \${?NAME} with NAME made of letters, digits and _`,
      };
    }
    const value = env[name];
    if (fallback !== undefined) {
      out += value === undefined || value === "" ? fallback : value;
    } else if (value !== undefined) {
      out += value;
    } else if (!optional) {
      unset.push(name);
    }
    substitutions++;
    i = close + 1;
  }
  if (unset.length > 0) {
    const names = unset.map((n) => `\`${n}\``).join(", ");
    const first = unset[0]!;
    return {
      kind: "error",
      message: `environment variable ${names} ${unset.length === 1 ? "is" : "are"} not set; set it, or give a default (\${${first}:-value}) or mark it optional (\${?${first}})`,
    };
  }
  return { kind: "ok", value: out, whole: substitutions === 1 && literalChars === 0 };
}

/** Applies `substituteString` to every string value of a parsed TOML tree; keys are left alone. */
export function substituteTree(tree: unknown, env: Env): SubstitutedTree {
  const problems: ConfigProblem[] = [];
  const wholePaths = new Set<string>();
  const failedPaths = new Set<string>();
  const walk = (node: unknown, path: string): unknown => {
    if (typeof node === "string") {
      const r = substituteString(node, env);
      if (r.kind === "error") {
        problems.push({ path, message: r.message });
        failedPaths.add(path);
        return node;
      }
      if (r.whole) wholePaths.add(path);
      return r.value;
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, childPath(path, index)));
    if (isPlainTable(node)) {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) out[key] = walk(value, childPath(path, key));
      return out;
    }
    return node;
  };
  return { tree: walk(tree, ""), problems, wholePaths, failedPaths };
}

/** Escapes a literal value so that substitution gives it back unchanged ("${X}" → "$${X}"). */
export function escapeSubstitution(value: string): string {
  return value.replace(/\$(?=[${])/g, () => "$$");
}

/** A TOML table as Bun.TOML.parse returns it (not an array, not a date). */
export function isPlainTable(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
