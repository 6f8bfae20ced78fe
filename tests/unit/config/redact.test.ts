import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../src/config/parse.ts";
import { REDACTED, secretValues, toEffectiveConfigText } from "../../../src/config/redact.ts";
import type { Config } from "../../../src/config/types.ts";

const HASH = "$2y$10$abcdefghijklmnopqrstuu5Hc9sWXGpA5QZ8xbBv9xC8p9tQO1Wq2";
const SECRETS = {
  KAFKA_PASSWORD: `p"a\\ss$word`,
  KEY_PASSWORD: "key-pass-123",
  OIDC_SECRET: "oidc-secret-456",
  OTEL_TOKEN: "otel-token-789",
  API_KEY: "api-key-000",
};

const WITH_SECRETS = `
[exporter.otel]
enabled = true
[exporter.otel.headers]
authorization = "Bearer \${OTEL_TOKEN}"
x-api-key = "\${API_KEY}"
x-tenant = "team-a"

[exporter.http.basic_auth_users]
prometheus = "${HASH.replaceAll("$", "$$")}"

[[clusters]]
name = "scram"
bootstrap_servers = "k:9093"
[clusters.consumer_properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "exporter"
"sasl.password" = "\${KAFKA_PASSWORD}"
"ssl.certificate.location" = "/c.pem"
"ssl.key.location" = "/k.pem"
"ssl.key.password" = "\${KEY_PASSWORD}"

[[clusters]]
name = "oidc"
bootstrap_servers = "k2:9092"
[clusters.consumer_properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "OAUTHBEARER"
"sasl.oauthbearer.method" = "oidc"
"sasl.oauthbearer.client.id" = "klag"
"sasl.oauthbearer.client.secret" = "\${OIDC_SECRET}"
"sasl.oauthbearer.token.endpoint.url" = "https://idp/token"
`;

function parsed(text: string, env: Record<string, string> = {}): Config {
  const result = parseConfig(text, env);
  if (result.kind !== "ok") throw new Error(result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return result.config;
}

describe("toEffectiveConfigText", () => {
  const config = parsed(WITH_SECRETS, SECRETS);
  const text = toEffectiveConfigText(config);

  test("contains no secret value", () => {
    for (const secret of [...Object.values(SECRETS), HASH]) expect(text).not.toContain(secret);
  });

  test("redacts passwords, key passwords, client secrets, hashes and credential headers", () => {
    for (const line of [
      `"sasl.password" = "${REDACTED}"`,
      `"ssl.key.password" = "${REDACTED}"`,
      `"sasl.oauthbearer.client.secret" = "${REDACTED}"`,
      `prometheus = "${REDACTED}"`,
      `authorization = "${REDACTED}"`,
      `x-api-key = "${REDACTED}"`,
    ]) {
      expect(text).toContain(line);
    }
  });

  test("keeps non-secret values, such as the user name and ordinary headers", () => {
    expect(text).toContain(`"sasl.username" = "exporter"`);
    expect(text).toContain(`x-tenant = "team-a"`);
  });

  test("parses back to the same config, apart from the redacted values", () => {
    const redactedCopy = structuredClone(config);
    redactedCopy.exporter.otel.headers.authorization = REDACTED;
    redactedCopy.exporter.otel.headers["x-api-key"] = REDACTED;
    for (const c of redactedCopy.clusters) {
      for (const key of ["sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret"]) {
        if (c.consumerProperties[key] !== undefined) c.consumerProperties[key] = REDACTED;
      }
    }
    // A redacted hash is no longer a valid bcrypt hash, so compare without the users.
    redactedCopy.exporter.http.basicAuthUsers = {};
    const withoutUsers = text.replace(
      /\[exporter\.http\.basic_auth_users\]\n[^\n[]*\n/,
      "[exporter.http.basic_auth_users]\n",
    );
    expect(parsed(withoutUsers)).toEqual(redactedCopy);
  });

  test("round-trips every default and values containing $ and quotes exactly", () => {
    const text2 = [
      "[[clusters]]",
      // TOML: we\"ird$$$$b$${x} → after substitution: we"ird$$b${x}
      `name = "we\\"ird$$$$b$$${"{x}"}"`,
      'bootstrap_servers = "k:9092"',
      'topic_blacklist = ["-dlq$", "a$$b"]',
      "[clusters.labels]",
      'note = "back\\\\slash"',
      "",
    ].join("\n");
    const config2 = parsed(text2);
    expect(config2.clusters[0]!.name).toBe(`we"ird$$b$${"{x}"}`);
    expect(config2.clusters[0]!.topicBlacklist).toEqual(["-dlq$", "a$b"]);
    expect(config2.clusters[0]!.labels.note).toBe("back\\slash");
    expect(parsed(toEffectiveConfigText(config2))).toEqual(config2);
  });
});

describe("secretValues", () => {
  test("lists every raw secret once", () => {
    const config = parsed(WITH_SECRETS, SECRETS);
    expect(secretValues(config).sort()).toEqual([...Object.values(SECRETS), HASH, "Bearer otel-token-789"].sort());
  });

  test("is empty for a config without secrets", () => {
    expect(secretValues(parsed(`[[clusters]]\nname = "a"\nbootstrap_servers = "k:9092"\n`))).toEqual([]);
  });
});
