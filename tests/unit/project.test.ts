/**
 * Project-wide checks that run with the suite: types, lint/format, and the dependency rules
 * of docs/architecture.md (the pure core and metrics layers import no I/O and no edge module).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");

function run(cmd: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { cwd: root, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? 1, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^\s*(?:import|export)[^;]*?from\s+["']([^"']+)["']/gm)].map((m) => m[1]!);
}

describe("project", () => {
  test("the TypeScript compiler finds no type errors (strict)", () => {
    const r = run(["node_modules/.bin/tsc", "--noEmit", "-p", "."]);
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  });

  test("biome finds no lint or format problems", () => {
    const r = run(["node_modules/.bin/biome", "check", "."]);
    if (r.code !== 0) console.error(r.out);
    expect(r.code).toBe(0);
  });

  test("src/core imports nothing but other core modules", () => {
    for (const file of tsFiles(join(root, "src/core"))) {
      for (const spec of imports(file)) {
        expect({ file, spec, ok: spec.startsWith("./") }).toEqual({ file, spec, ok: true });
      }
      const text = readFileSync(file, "utf8");
      expect({ file, io: /\b(Date\.now|process\.|Bun\.|setTimeout|setInterval|fetch\()/.test(text) }).toEqual({
        file,
        io: false,
      });
    }
  });

  test("src/metrics depends only on core, config types and itself", () => {
    for (const file of tsFiles(join(root, "src/metrics"))) {
      for (const spec of imports(file)) {
        const ok = spec.startsWith("./") || spec.startsWith("../core/") || spec === "../config/types.ts";
        expect({ file, spec, ok }).toEqual({ file, spec, ok: true });
      }
    }
  });

  test("src/lib imports nothing of ours", () => {
    for (const file of tsFiles(join(root, "src/lib"))) {
      for (const spec of imports(file)) {
        const ok = !spec.startsWith("../") || spec === "../../package.json";
        expect({ file, spec, ok }).toEqual({ file, spec, ok: true });
      }
    }
  });
});
