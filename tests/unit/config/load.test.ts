import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile } from "../../../src/config/load.ts";

const dir = mkdtempSync(join(tmpdir(), "klag-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("loadConfigFile", () => {
  test("loads a file and substitutes from the given environment", async () => {
    const path = join(dir, "ok.toml");
    writeFileSync(path, `[[clusters]]\nname = "local"\nbootstrap_servers = "\${BROKERS}"\n`);
    const result = await loadConfigFile(path, { BROKERS: "kafka:9092" });
    expect(result).toMatchObject({ kind: "ok", config: { clusters: [{ bootstrapServers: ["kafka:9092"] }] } });
  });

  test("a missing file is one problem naming the path", async () => {
    const path = join(dir, "missing.toml");
    expect(await loadConfigFile(path, {})).toEqual({
      kind: "invalid",
      problems: [
        { path, message: "cannot read the config file: no such file (pass --config FILE, or create config.toml)" },
      ],
    });
  });

  test("a directory is one problem naming the path", async () => {
    const result = await loadConfigFile(dir, {});
    expect(result).toEqual({
      kind: "invalid",
      problems: [{ path: dir, message: "cannot read the config file: it is a directory, not a file" }],
    });
  });

  test("a syntax error is attributed to the file", async () => {
    const path = join(dir, "broken.toml");
    writeFileSync(path, `[exporter\n`);
    const result = await loadConfigFile(path, {});
    expect(result.kind).toBe("invalid");
    if (result.kind === "invalid") {
      expect(result.problems).toHaveLength(1);
      expect(result.problems[0]!.path).toBe(path);
      expect(result.problems[0]!.message).toStartWith("TOML syntax error on line 1:");
    }
  });
});
