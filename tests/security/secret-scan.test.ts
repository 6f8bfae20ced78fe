/**
 * Secret hygiene: the exporter runs as a child process (`bun run src/main.ts`) with every kind of
 * secret set through `${VAR}` — SASL passwords (right and wrong), an encrypted client key's
 * password (and an inline key), an OIDC client secret (right and wrong), an OTLP bearer token and
 * a basic-auth hash — at debug log level. Its stderr, every HTTP page, `once` and `check-config`
 * must contain none of them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { secretValues } from "../../src/config/redact.ts";
import { configFrom, parseExposition, value } from "../helpers/exposition.ts";
import { uniqueName } from "../kafka/harness.ts";
import {
  commit,
  freePort,
  grant,
  internalAdmin,
  type OidcServer,
  ROOT,
  type SecureCluster,
  spawnExporter,
  startOidcServer,
  startSecureCluster,
  stopSecureCluster,
  topicWithMessages,
  until,
} from "./support.ts";

const BUN = process.execPath;
let info: SecureCluster;
let idp: OidcServer;
let configPath: string;
let env: Record<string, string>;
/** Every secret and every encoding of one that could plausibly leak. */
let needles: string[];
const SCRAPE_PASSWORD = `scrape-pw-${crypto.randomUUID()}`;
const OIDC_SECRET = `oidc-secret-${crypto.randomUUID()}`;
const WRONG_OIDC_SECRET = `wrong-oidc-${crypto.randomUUID()}`;
const WRONG_SASL_PASSWORD = `wrong-sasl-${crypto.randomUUID()}`;
const WRONG_KEY_PASSWORD = `wrong-key-${crypto.randomUUID()}`;
const OTEL_TOKEN = `otel-token-${crypto.randomUUID()}`;
let port: number;

function configText(p: string): string {
  const cluster = (name: string, bootstrap: string, props: Record<string, string>) =>
    [
      "[[clusters]]",
      `name = "${name}"`,
      `bootstrap_servers = "${bootstrap}"`,
      `group_whitelist = ["^${p}-"]`,
      `topic_whitelist = ["^${p}-"]`,
      "[clusters.consumer_properties]",
      ...Object.entries(props).map(([k, v]) => `${JSON.stringify(k)} = ${JSON.stringify(v)}`),
    ].join("\n");
  const scram = (password: string) => ({
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "exporter",
    "sasl.password": password,
    "ssl.ca.location": "${KAFKA_CA}",
  });
  const oauth = (secret: string) => ({
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "OAUTHBEARER",
    "sasl.oauthbearer.method": "oidc",
    "sasl.oauthbearer.client.id": "exporter",
    "sasl.oauthbearer.client.secret": secret,
    "sasl.oauthbearer.token.endpoint.url": "${OIDC_URL}",
  });
  return [
    "[exporter]",
    'poll_interval = "1s"',
    'http_host = "127.0.0.1"',
    'http_port = "${HTTP_PORT}"',
    'granularity = "partition"',
    "[exporter.timestamp_sampling]",
    "enabled = true",
    'mode = "hybrid"',
    "[exporter.otel]",
    "enabled = true",
    'endpoint = "http://127.0.0.1:${OTEL_PORT}"',
    'export_interval = "1s"',
    'timeout = "500ms"',
    "[exporter.otel.headers]",
    'authorization = "Bearer ${OTEL_TOKEN}"',
    "[exporter.http]",
    'tls_cert_file = "${TLS_CERT}"',
    'tls_key_file = "${TLS_KEY}"',
    "health_without_auth = true",
    "[exporter.http.basic_auth_users]",
    'prometheus = "${SCRAPE_HASH}"',
    cluster("scram-ok", info.listeners.saslSsl, scram("${KAFKA_PASSWORD}")),
    cluster("scram-wrong", info.listeners.saslSsl, scram("${WRONG_SASL_PASSWORD}")),
    cluster("plain-ok", info.listeners.saslPlaintext, {
      "security.protocol": "SASL_PLAINTEXT",
      "sasl.mechanism": "PLAIN",
      "sasl.username": "exporter",
      "sasl.password": "${KAFKA_PASSWORD}",
    }),
    cluster("mtls-ok", info.listeners.mtls, {
      "security.protocol": "SSL",
      "ssl.ca.location": "${KAFKA_CA}",
      "ssl.certificate.location": "${CLIENT_CERT}",
      "ssl.key.location": "${CLIENT_KEY}",
      "ssl.key.password": "${KEY_PASSWORD}",
    }),
    cluster("mtls-inline-wrong", info.listeners.mtls, {
      "security.protocol": "SSL",
      "ssl.ca.location": "${KAFKA_CA}",
      "ssl.certificate.location": "${CLIENT_CERT}",
      "ssl.key.pem": "${CLIENT_KEY_PEM}",
      "ssl.key.password": "${WRONG_KEY_PASSWORD}",
    }),
    cluster("oauth-ok", info.listeners.oauth, oauth("${OIDC_SECRET}")),
    cluster("oauth-wrong", info.listeners.oauth, oauth("${WRONG_OIDC_SECRET}")),
    "",
  ].join("\n");
}

beforeAll(async () => {
  info = await startSecureCluster("security-secret-scan");
  const admin = await internalAdmin(info);
  const p = uniqueName("scan");
  try {
    await topicWithMessages(info, admin, `${p}-t`, 2, 10);
    await commit(admin, `${p}-g`, `${p}-t`, [3, 10]);
    await grant(admin, "User:exporter", [
      { resource: "cluster", operation: "describe" },
      { resource: "topic", name: `${p}-`, prefixed: true, operation: "describe" },
      { resource: "topic", name: `${p}-`, prefixed: true, operation: "read" },
      { resource: "group", name: `${p}-`, prefixed: true, operation: "describe" },
    ]);
  } finally {
    await admin.disconnect();
  }
  idp = startOidcServer(info, { exporter: OIDC_SECRET });
  port = freePort();
  env = {
    HTTP_PORT: String(port),
    OTEL_PORT: String(freePort()),
    OTEL_TOKEN,
    TLS_CERT: info.pki.serverCert,
    TLS_KEY: info.pki.serverKey,
    SCRAPE_HASH: await Bun.password.hash(SCRAPE_PASSWORD, { algorithm: "bcrypt", cost: 10 }),
    KAFKA_CA: info.pki.ca,
    KAFKA_PASSWORD: info.users.exporter,
    WRONG_SASL_PASSWORD,
    CLIENT_CERT: info.pki.clientCert,
    CLIENT_KEY: info.pki.clientKey,
    CLIENT_KEY_PEM: readFileSync(info.pki.clientKey, "utf8"),
    KEY_PASSWORD: info.pki.clientKeyPassword,
    WRONG_KEY_PASSWORD,
    OIDC_URL: idp.url,
    OIDC_SECRET,
    WRONG_OIDC_SECRET,
  };
  const text = configText(p);
  configPath = `${info.dir}/scan-config.toml`;
  writeFileSync(configPath, text);
  const config = configFrom(text, env);
  const secrets = secretValues(config);
  // Everything the config treats as secret is what we planted (the key PEM counts as one).
  for (const s of [
    info.users.exporter,
    WRONG_SASL_PASSWORD,
    info.pki.clientKeyPassword,
    WRONG_KEY_PASSWORD,
    OIDC_SECRET,
    WRONG_OIDC_SECRET,
    env.SCRAPE_HASH!,
    `Bearer ${OTEL_TOKEN}`,
    OTEL_TOKEN,
  ]) {
    expect(secrets).toContain(s);
  }
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  needles = [
    ...secrets.filter((s) => !s.includes("PRIVATE KEY")),
    // The inline key: each base64 line of its body.
    ...env.CLIENT_KEY_PEM!.split("\n").filter((l) => l.length >= 40 && !l.startsWith("-----")),
    // The hash's salt+digest part, the plaintext scrape password and the headers built from secrets.
    env.SCRAPE_HASH!.slice(7),
    SCRAPE_PASSWORD,
    b64(`prometheus:${SCRAPE_PASSWORD}`),
    b64(`exporter:${OIDC_SECRET}`),
    b64(`exporter:${WRONG_OIDC_SECRET}`),
    b64(`exporter:${info.users.exporter}`),
    encodeURIComponent(OIDC_SECRET),
  ];
}, 180_000);

afterAll(() => {
  idp?.stop();
  stopSecureCluster(info);
});

function scan(where: string, text: string): void {
  const found = needles.filter((n) => text.includes(n));
  expect({ where, found }).toEqual({ where, found: [] });
  // Bearer tokens issued by the identity provider are credentials too (JWTs start with eyJ).
  expect({ where, jwt: /eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text) }).toEqual({ where, jwt: false });
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BUN, "run", `${ROOT}/src/main.ts`, ...args], {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

describe("no secret leaks", () => {
  test("the running daemon's debug log, status page, /metrics, /ready, /health and /leader contain no secret", async () => {
    const daemon = spawnExporter(["run", "--config", configPath, "--log-level", "debug"], env);
    const base = `https://127.0.0.1:${port}`;
    const auth = { authorization: `Basic ${Buffer.from(`prometheus:${SCRAPE_PASSWORD}`).toString("base64")}` };
    const get = (path: string, headers: Record<string, string> = auth) =>
      fetch(`${base}${path}`, { headers, tls: { ca: Bun.file(info.pki.ca) } } as RequestInit);
    const pages: Record<string, string> = {};
    let exitCode: number;
    try {
      expect(await daemon.listening()).toBe(base);
      // Two or more cycles on every cluster, so steady-state and error paths have both been logged.
      const samples = await until(
        async () => {
          const r = await get("/metrics");
          const s = parseExposition(await r.text());
          const good = ["scram-ok", "plain-ok", "mtls-ok", "oauth-ok"];
          const reported = good.every(
            (c) => value(s, "kafka_consumergroup_group_sum_lag", { cluster_name: c }) !== undefined,
          );
          return reported ? s : undefined;
        },
        60_000,
        "every good cluster to report",
      );
      for (const c of ["scram-ok", "plain-ok", "mtls-ok", "oauth-ok"]) {
        expect({ c, up: value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: c }) }).toEqual({ c, up: 1 });
      }
      await Bun.sleep(3_000); // a few more cycles and OTLP export attempts
      for (const path of ["/metrics", "/", "/ready", "/health", "/leader"])
        pages[path] = await (await get(path)).text();
      pages["401"] = await (await get("/metrics", {})).text();
      for (const c of ["scram-wrong", "mtls-inline-wrong", "oauth-wrong"]) {
        expect({
          c,
          up: value(parseExposition(pages["/metrics"]!), "kafka_lag_exporter_cluster_up", { cluster_name: c }),
        }).toEqual({ c, up: 0 });
      }
    } catch (error) {
      await daemon.stop();
      throw new Error(
        `${String(error)} (port ${port})\n--- exporter stderr, without debug lines ---\n${daemon
          .stderr()
          .split("\n")
          .filter((l) => !l.includes("level=debug"))
          .join("\n")
          .slice(0, 5000)}`,
      );
    } finally {
      exitCode = await daemon.stop();
    }
    expect(exitCode).toBe(0);
    const stderr = daemon.stderr();
    // The log did record the failures, just without their secrets.
    expect(stderr).toMatch(/cluster=scram-wrong.*authentication failed/);
    expect(stderr).toMatch(/cluster=oauth-wrong.*HTTP 401/);
    expect(stderr).toMatch(/cluster=mtls-inline-wrong.*BAD_DECRYPT/);
    expect(stderr).toContain("level=debug");
    expect(pages["/"]).toContain("scram-wrong");
    expect(pages["/ready"]).toContain("scram-wrong");
    scan("stderr", stderr);
    for (const [path, text] of Object.entries(pages)) scan(path, text);
  }, 120_000);

  test("check-config prints the effective config with every secret redacted", async () => {
    const r = await runCli(["check-config", configPath]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"sasl.password" = "<redacted>"');
    expect(r.stdout).toContain('"ssl.key.password" = "<redacted>"');
    expect(r.stdout).toContain('"ssl.key.pem" = "<redacted>"');
    expect(r.stdout).toContain('"sasl.oauthbearer.client.secret" = "<redacted>"');
    expect(r.stdout).toContain('prometheus = "<redacted>"');
    expect(r.stdout).toContain('authorization = "<redacted>"');
    scan("check-config stdout", r.stdout);
    scan("check-config stderr", r.stderr);
  });

  test("check-config of an invalid config names the problem without echoing secret values", async () => {
    const broken = readFileSync(configPath, "utf8")
      .replace('"sasl.password" = "${KAFKA_PASSWORD}"', '"sasl.pasword" = "${KAFKA_PASSWORD}"')
      .replace('prometheus = "${SCRAPE_HASH}"', 'prometheus = "${SCRAPE_PASSWORD}"');
    const path = `${info.dir}/scan-broken.toml`;
    writeFileSync(path, broken);
    const proc = Bun.spawn([BUN, "run", `${ROOT}/src/main.ts`, "check-config", path], {
      env: { ...process.env, ...env, SCRAPE_PASSWORD },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain("sasl.pasword");
    expect(stderr).toContain("did you mean `sasl.password`");
    expect(stderr).toContain("basic_auth_users.prometheus");
    scan("invalid check-config", stdout + stderr);
  });

  test("once prints the exposition and failures without secrets", async () => {
    const r = await runCli(["once", "--config", configPath, "--log-level", "debug"]);
    expect(r.code).toBe(1); // the wrong-credential clusters fail
    expect(r.stdout).toContain('kafka_lag_exporter_cluster_up{cluster_name="scram-ok"} 1');
    expect(r.stderr).toMatch(/cluster failed.*scram-wrong/);
    scan("once stdout", r.stdout);
    scan("once stderr", r.stderr);
  }, 60_000);
});
