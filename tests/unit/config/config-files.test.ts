/**
 * The shipped config files: config/reference.toml documents every key with its default, and
 * every example and the default config.toml parse.
 */

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/parse.ts";
import { NO_EFFECT_KEYS, SECTION_KEYS } from "../../../src/config/schema.ts";
import type { Config } from "../../../src/config/types.ts";

const configDir = join(import.meta.dir, "../../../config");
const read = (name: string) => readFileSync(join(configDir, name), "utf8");

function parsed(text: string, env: Record<string, string> = {}): { config: Config; notices: string[] } {
  const result = parseConfig(text, env);
  if (result.kind !== "ok") throw new Error(result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return result;
}

describe("config/reference.toml", () => {
  const text = read("reference.toml");

  test("yields exactly the defaults of a minimal config with the same cluster", () => {
    const reference = parsed(text);
    const minimal = parsed(`[[clusters]]\nname = "local"\nbootstrap_servers = "localhost:9092"\n`);
    expect(reference.config.exporter).toEqual(minimal.config.exporter);
    expect(reference.config.clusters).toEqual(minimal.config.clusters);
  });

  test("reports the no-effect keys it lists, and nothing else", () => {
    const notices = parsed(text).notices;
    expect(notices.map((n) => n.split(" ")[0]).sort()).toEqual(Object.keys(NO_EFFECT_KEYS).sort());
  });

  test("lists every key of every section in that section, set or commented out", () => {
    // Split the file into blocks by table header: "exporter.otel" → its lines.
    const blocks = new Map<string, string>();
    let current = "";
    for (const line of text.split("\n")) {
      const header = /^\[\[?([^\]]+)\]\]?$/.exec(line);
      if (header) current = header[1]!;
      else blocks.set(current, `${blocks.get(current) ?? ""}${line}\n`);
    }
    const missing: string[] = [];
    for (const [section, keys] of Object.entries(SECTION_KEYS)) {
      if (section === "") continue;
      for (const key of keys) {
        if (key === "aws_msk_iam") continue; // refused (not supported), so not documented as a setting
        const asLine = new RegExp(`^(# )?${key} = `, "m").test(blocks.get(section) ?? "");
        const asTable = blocks.has(`${section}.${key}`);
        if (!asLine && !asTable) missing.push(`${section}.${key}`);
      }
    }
    expect(missing).toEqual([]);
  });

  test("marks every no-effect key as such in its comment", () => {
    for (const path of Object.keys(NO_EFFECT_KEYS)) {
      const key = path.split(".").at(-1)!;
      expect(text).toMatch(new RegExp(`# \\[no effect\\][^\\n]*\\n${key} =`));
    }
  });
});

describe("config examples", () => {
  const env = {
    KAFKA_USERNAME: "exporter",
    KAFKA_PASSWORD: "secret",
    OTEL_TOKEN: "token",
  };
  const files = ["config.toml", ...readdirSync(join(configDir, "examples")).map((f) => `examples/${f}`)];

  test("the required examples exist", () => {
    for (const name of [
      "examples/single-cluster.toml",
      "examples/multi-cluster.toml",
      "examples/sasl-scram-tls.toml",
      "examples/otlp.toml",
    ]) {
      expect(files).toContain(name);
    }
  });

  for (const name of files) {
    test(`${name} parses without problems or notices`, () => {
      expect(parsed(read(name), env).notices).toEqual([]);
    });
  }

  test("config.toml is a minimal default pointing at localhost:9092", () => {
    const { config } = parsed(read("config.toml"));
    expect(config.clusters.map((c) => c.bootstrapServers)).toEqual([["localhost:9092"]]);
  });

  test("the SASL/SCRAM example takes its secrets from the environment", () => {
    const text = read("examples/sasl-scram-tls.toml");
    const result = parseConfig(text, {});
    expect(result.kind).toBe("invalid");
    if (result.kind === "invalid") {
      expect(result.problems.map((p) => p.path).sort()).toEqual([
        'clusters[0].consumer_properties["sasl.password"]',
        'clusters[0].consumer_properties["sasl.username"]',
      ]);
    }
    const { config } = parsed(text, env);
    expect(config.clusters[0]!.consumerProperties["sasl.password"]).toBe("secret");
  });
});
