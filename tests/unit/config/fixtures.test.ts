/**
 * Fixture-driven config tests: every tests/fixtures/config/{valid,invalid}/*.toml describes its
 * own expectations in comments — `# env: NAME=value`, `# expect: path | message substring`
 * (invalid: exactly these problems), `# notice: substring` (valid: these notices appear).
 */

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/parse.ts";

const root = join(import.meta.dir, "../../fixtures/config");

interface Fixture {
  name: string;
  text: string;
  env: Record<string, string>;
  expects: { path: string; message: string }[];
  notices: string[];
}

function loadFixtures(kind: "valid" | "invalid"): Fixture[] {
  const dir = join(root, kind);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".toml"))
    .sort()
    .map((name) => {
      const text = readFileSync(join(dir, name), "utf8");
      const env: Record<string, string> = {};
      const expects: Fixture["expects"] = [];
      const notices: string[] = [];
      for (const line of text.split("\n")) {
        const env_ = /^# env: ([^=]+)=(.*)$/.exec(line);
        if (env_) env[env_[1]!] = env_[2]!;
        const exp = /^# expect: (.*?) \| (.*)$/.exec(line);
        if (exp) expects.push({ path: exp[1]!.trim(), message: exp[2]! });
        const notice = /^# notice: (.*)$/.exec(line);
        if (notice) notices.push(notice[1]!);
      }
      return { name, text, env, expects, notices };
    });
}

const invalid = loadFixtures("invalid");
const valid = loadFixtures("valid");

describe("invalid config fixtures", () => {
  test("there is a fixture for each required failure", () => {
    const names = invalid.map((f) => f.name);
    for (const required of [
      "unknown-key.toml",
      "wrong-type.toml",
      "bad-duration.toml",
      "bad-regex.toml",
      "duplicate-cluster-name.toml",
      "empty-cluster-name.toml",
      "invalid-port.toml",
      "unset-variable.toml",
      "label-collision.toml",
      "invalid-label-name.toml",
      "gssapi.toml",
      "unknown-consumer-property.toml",
      "many-problems.toml",
    ]) {
      expect(names).toContain(required);
    }
  });

  for (const fixture of invalid) {
    test(`${fixture.name} reports exactly its expected problems`, () => {
      expect(fixture.expects.length).toBeGreaterThan(0);
      const result = parseConfig(fixture.text, fixture.env);
      if (result.kind !== "invalid") throw new Error(`${fixture.name} parsed as valid`);
      for (const want of fixture.expects) {
        const match = result.problems.find((p) => p.path === want.path && p.message.includes(want.message));
        if (match === undefined) {
          throw new Error(
            `${fixture.name}: no problem at ${want.path} containing "${want.message}"; got:\n` +
              result.problems.map((p) => `  ${p.path}: ${p.message}`).join("\n"),
          );
        }
      }
      expect(result.problems.length).toBe(fixture.expects.length);
    });
  }
});

describe("valid config fixtures", () => {
  for (const fixture of valid) {
    test(`${fixture.name} parses and reports its expected notices`, () => {
      const result = parseConfig(fixture.text, fixture.env);
      if (result.kind !== "ok") {
        throw new Error(result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
      }
      for (const want of fixture.notices) {
        expect(result.notices.some((n) => n.includes(want))).toBe(true);
      }
      expect(new Set(result.notices).size).toBe(result.notices.length);
    });
  }
});
