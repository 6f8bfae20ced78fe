// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" in plain strings is the syntax under test.

import { describe, expect, test } from "bun:test";
import { escapeSubstitution, substituteString, substituteTree } from "../../../src/config/env.ts";
import { parseConfig } from "../../../src/config/parse.ts";
import type { Config } from "../../../src/config/types.ts";

const env = { USER: "bob", EMPTY: "", PORT: "9100", SECRET: `pa"ss\\wo'rd$1` };

describe("substituteString", () => {
  const ok: [name: string, text: string, value: string, whole: boolean][] = [
    ["text without $ is unchanged", "plain", "plain", false],
    ["a set variable", "${USER}", "bob", true],
    ["a variable inside text", "user=${USER}!", "user=bob!", false],
    ["two variables", "${USER}:${PORT}", "bob:9100", false],
    ["a default for an unset variable", "${NOPE:-fallback}", "fallback", true],
    ["the value over the default when set", "${USER:-fallback}", "bob", true],
    ["the default for a set but empty variable", "${EMPTY:-fallback}", "fallback", true],
    ["an empty default", "${NOPE:-}", "", true],
    ["an optional unset variable as empty", "${?NOPE}", "", true],
    ["an optional set variable", "${?USER}", "bob", true],
    ["an optional variable with a default", "${?NOPE:-d}", "d", true],
    ["$$ as a literal $", "cost: $$5", "cost: $5", false],
    ["$${VAR} as literal text", "$${USER}", "${USER}", false],
    ["a lone $ as itself", "-dlq$", "-dlq$", false],
    ["a bcrypt hash untouched", "$2y$10$abc", "$2y$10$abc", false],
    ["a value with quotes and backslashes verbatim", "${SECRET}", `pa"ss\\wo'rd$1`, true],
    ["a default containing a colon", "${NOPE:-localhost:9092}", "localhost:9092", true],
  ];
  for (const [name, text, value, whole] of ok) {
    test(`substitutes ${name}`, () => {
      expect(substituteString(text, env)).toEqual({ kind: "ok", value, whole });
    });
  }

  const bad: [name: string, text: string, message: string][] = [
    ["an unset variable without default", "${NOPE}", "environment variable `NOPE` is not set"],
    ["every unset variable of a value", "${A}-${B}", "`A`, `B` are not set"],
    ["an unterminated substitution", "${USER", 'unterminated "${"'],
    ["an invalid variable name", "${1X}", "invalid substitution"],
    ["an empty name", "${}", "invalid substitution"],
  ];
  for (const [name, text, message] of bad) {
    test(`reports ${name}`, () => {
      const result = substituteString(text, env);
      expect(result.kind).toBe("error");
      if (result.kind === "error") expect(result.message).toContain(message);
    });
  }
});

describe("substituteTree", () => {
  test("substitutes string values at every depth and leaves keys and other values alone", () => {
    const tree = { "${USER}": "${USER}", n: 1, list: ["${PORT}", true], table: { deep: "x${USER}" } };
    const result = substituteTree(tree, env);
    expect(result.tree).toEqual({ "${USER}": "bob", n: 1, list: ["9100", true], table: { deep: "xbob" } });
    expect([...result.wholePaths].sort()).toEqual(['["${USER}"]', "list[0]"]);
    expect(result.problems).toEqual([]);
  });

  test("reports a failed substitution with its key path", () => {
    const result = substituteTree({ clusters: [{ labels: { env: "${NOPE}" } }] }, env);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]!.path).toBe("clusters[0].labels.env");
    expect(result.failedPaths.has("clusters[0].labels.env")).toBe(true);
  });
});

describe("escapeSubstitution", () => {
  for (const value of ["${X}", "$$", "a$", "$${X}$", "plain", "-dlq$", "$2y$10$x"]) {
    test(`escapes ${JSON.stringify(value)} so that substitution gives it back`, () => {
      expect(substituteString(escapeSubstitution(value), {})).toMatchObject({ kind: "ok", value });
    });
  }
});

describe("substitution through parseConfig", () => {
  const cluster = (props: string) =>
    `[[clusters]]\nname = "c"\nbootstrap_servers = "localhost:9092"\n[clusters.consumer_properties]\n${props}\n`;

  test("keeps quotes and backslashes of a secret intact (substitution happens after TOML parsing)", () => {
    const text = cluster(
      `"security.protocol" = "SASL_SSL"\n"sasl.mechanism" = "PLAIN"\n"sasl.username" = "u"\n"sasl.password" = "\${SECRET}"`,
    );
    const result = parseConfig(text, env);
    if (result.kind !== "ok") throw new Error(JSON.stringify(result));
    expect(result.config.clusters[0]!.consumerProperties["sasl.password"]).toBe(`pa"ss\\wo'rd$1`);
  });

  test("never substitutes inside comments", () => {
    const text = `# password: \${UNSET_IN_COMMENT}\n${cluster('# "sasl.password" = "${ALSO_UNSET}"')}`;
    expect(parseConfig(text, {}).kind).toBe("ok");
  });

  test("turns $$ into a literal $", () => {
    const text = `[[clusters]]\nname = "price$$"\nbootstrap_servers = "localhost:9092"\n`;
    const result = parseConfig(text, {});
    if (result.kind !== "ok") throw new Error(JSON.stringify(result));
    expect(result.config.clusters[0]!.name).toBe("price$");
  });

  test("treats an unset ${?VAR} as empty, and an empty optional path as not set", () => {
    const text = `[exporter.otel]\nca_file = "\${?CA}"\n[[clusters]]\nname = "a\${?SUFFIX}"\nbootstrap_servers = "localhost:9092"\n`;
    const result = parseConfig(text, {});
    if (result.kind !== "ok") throw new Error(JSON.stringify(result));
    expect(result.config.clusters[0]!.name).toBe("a");
    expect(result.config.exporter.otel.caFile).toBeUndefined();
  });

  const numeric: [
    name: string,
    line: string,
    vars: Record<string, string>,
    pick: (c: Config) => number,
    want: number,
  ][] = [
    ["a port from a set variable", `http_port = "\${PORT}"`, { PORT: "9100" }, (c) => c.exporter.httpPort, 9100],
    ["a port from the default", `http_port = "\${PORT:-8000}"`, {}, (c) => c.exporter.httpPort, 8000],
    ["an integer", `max_series = "\${MAX}"`, { MAX: "500" }, (c) => c.exporter.maxSeries, 500],
  ];
  for (const [name, line, vars, pick, want] of numeric) {
    test(`coerces ${name}`, () => {
      const result = parseConfig(`[exporter]\n${line}\n${cluster("")}`, vars);
      if (result.kind !== "ok") throw new Error(JSON.stringify(result));
      expect(pick(result.config)).toBe(want);
    });
  }

  test("coerces booleans and floats from a single substitution", () => {
    const text = `[exporter.timestamp_sampling]\nenabled = "\${ON}"\nrate_min_msgs_per_sec = "\${FLOOR}"\n${cluster("")}`;
    const result = parseConfig(text, { ON: "false", FLOOR: "0.5" });
    if (result.kind !== "ok") throw new Error(JSON.stringify(result));
    expect(result.config.exporter.timestampSampling.enabled).toBe(false);
    expect(result.config.exporter.timestampSampling.rateMinMsgsPerSec).toBe(0.5);
  });

  test("does not coerce a string that is more than one substitution", () => {
    const result = parseConfig(`[exporter]\nhttp_port = "80\${PORT}"\n${cluster("")}`, { PORT: "00" });
    expect(result).toMatchObject({ kind: "invalid", problems: [{ path: "exporter.http_port" }] });
  });

  test("names the key and the value when a substituted boolean is not one", () => {
    const result = parseConfig(`[exporter.otel]\nenabled = "\${ON}"\n${cluster("")}`, { ON: "maybe" });
    expect(result).toEqual({
      kind: "invalid",
      problems: [
        { path: "exporter.otel.enabled", message: 'substituted value "maybe" is not a boolean; use true or false' },
      ],
    });
  });

  test("reports an unset variable once, without a second problem for the same key", () => {
    const result = parseConfig(`[exporter]\nhttp_port = "\${PORT}"\n${cluster("")}`, {});
    expect(result).toMatchObject({ kind: "invalid", problems: [{ path: "exporter.http_port" }] });
    if (result.kind === "invalid") expect(result.problems).toHaveLength(1);
  });
});
