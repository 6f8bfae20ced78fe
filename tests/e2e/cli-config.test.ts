/**
 * The CLI on every invalid config fixture: exit code 2, nothing started, every expected problem
 * printed with its key path on stderr, stdout empty. And `check-config` on the valid examples.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const invalidDir = join(root, "tests/fixtures/config/invalid");

function expectations(file: string): { path: string; text: string }[] {
  return [...readFileSync(file, "utf8").matchAll(/^# expect: (.*?) \| (.*)$/gm)].map((m) => ({
    path: m[1]!.trim(),
    text: m[2]!.trim(),
  }));
}

async function cli(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, "run", join(root, "src/main.ts"), ...args], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

describe("check-config on invalid files", () => {
  for (const name of readdirSync(invalidDir).filter((f) => f.endsWith(".toml"))) {
    const file = join(invalidDir, name);
    const expected = expectations(file);
    test(`${name} exits 2 and names every problem`, async () => {
      expect(expected.length).toBeGreaterThan(0);
      const env = Object.fromEntries(
        [...readFileSync(file, "utf8").matchAll(/^# env: ([^=]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]),
      );
      const r = await cli(["check-config", file], env);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      for (const e of expected) {
        const line = r.stderr.split("\n").find((l) => l.includes(e.text) && (e.path === "" || l.includes(e.path)));
        expect({ expected: e, found: line !== undefined, stderr: line ? "" : r.stderr }).toEqual({
          expected: e,
          found: true,
          stderr: "",
        });
      }
    });
  }

  test("run with an invalid config exits 2 without listening", async () => {
    const r = await cli(["--config", join(invalidDir, "unknown-key.toml")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("did you mean");
    expect(r.stderr).not.toContain("listening");
  });

  test("a missing config file exits 2 naming the path", async () => {
    const r = await cli(["check-config", "/nonexistent/klag.toml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("/nonexistent/klag.toml");
  });
});

describe("check-config on the shipped configs", () => {
  const files = [
    "config/reference.toml",
    "config/config.toml",
    ...readdirSync(join(root, "config/examples")).map((f) => `config/examples/${f}`),
  ];
  for (const f of files) {
    test(`${f} is valid and prints the effective config with secrets redacted`, async () => {
      const secret = 's3cr3t-"quoted"-value';
      const r = await cli(["check-config", join(root, f)], {
        KAFKA_PASSWORD: secret,
        KAFKA_USERNAME: "user",
        SASL_PASSWORD: secret,
        SSL_KEY_PASSWORD: secret,
        OTEL_TOKEN: secret,
        PROD_KAFKA_PASSWORD: secret,
        KAFKA_SASL_PASSWORD: secret,
        OTLP_TOKEN: secret,
        OTEL_AUTH_TOKEN: secret,
      });
      expect({ f, code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ f, code: 0, stderr: "" });
      expect(r.stdout).toContain("[[clusters]]");
      expect(r.stdout).not.toContain("s3cr3t");
      expect(r.stderr).not.toContain("s3cr3t");
    });
  }
});
