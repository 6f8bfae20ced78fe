/**
 * Edge: reads a config file and hands its text to `parseConfig`. A missing or unreadable file is
 * one problem naming the path; document-level problems (TOML syntax) are attributed to the file.
 */

import type { Env } from "./env.ts";
import { parseConfig } from "./parse.ts";
import type { ConfigResult } from "./types.ts";

/** Loads and validates the config at `path`, substituting `${VAR}` from `env`. */
export async function loadConfigFile(path: string, env: Env = process.env): Promise<ConfigResult> {
  let text: string;
  try {
    text = await Bun.file(path).text();
  } catch (e) {
    return { kind: "invalid", problems: [{ path, message: `cannot read the config file: ${readError(e)}` }] };
  }
  const result = parseConfig(text, env);
  if (result.kind === "ok") return result;
  return {
    kind: "invalid",
    problems: result.problems.map((p) => (p.path === "" ? { path, message: p.message } : p)),
  };
}

function readError(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return "no such file (pass --config FILE, or create config.toml)";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "it is a directory, not a file";
  return e instanceof Error ? e.message : String(e);
}
