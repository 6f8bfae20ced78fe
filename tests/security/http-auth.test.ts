/**
 * The HTTP endpoint with TLS, client certificates and basic auth ([exporter.http]): a real
 * Prometheus (Debian's /usr/bin/prometheus) scrapes it over https with credentials; wrong or
 * missing credentials get a bare 401 on every path; /health stays open when configured so.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createDaemon, type Daemon } from "../../src/daemon/daemon.ts";
import { configFrom, quietLogger } from "../helpers/exposition.ts";
import { freePort, makePki, type SecureCluster, scratchDir, until } from "./support.ts";

const PROMETHEUS = "/usr/bin/prometheus";
const USER = "prometheus";
const PASSWORD = `scrape-${crypto.randomUUID()}`;
let hash: string;
let dir: string;
let pki: SecureCluster["pki"];
/** Unencrypted copy of the client key (Prometheus cannot read encrypted keys). */
let clientKey: string;
const daemons: Daemon[] = [];

beforeAll(async () => {
  dir = scratchDir(`security-http-${process.pid}`);
  pki = makePki(dir);
  clientKey = `${dir}/client-plain.key`;
  const conv = Bun.spawnSync([
    "openssl",
    "pkey",
    "-in",
    pki.clientKey,
    "-passin",
    `pass:${pki.clientKeyPassword}`,
    "-out",
    clientKey,
  ]);
  if (conv.exitCode !== 0) throw new Error(conv.stderr.toString());
  hash = await Bun.password.hash(PASSWORD, { algorithm: "bcrypt", cost: 10 });
});

afterAll(async () => {
  for (const d of daemons) await d.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface HttpOptions {
  tls?: boolean;
  clientCa?: boolean;
  users?: boolean;
  healthWithoutAuth?: boolean;
}

/** Starts a daemon with one (unreachable) cluster: /metrics still serves its self metrics. */
async function startExporter(o: HttpOptions): Promise<{ url: string; port: number }> {
  const port = freePort();
  const lines = [
    "[exporter]",
    'http_host = "127.0.0.1"',
    `http_port = ${port}`,
    "[exporter.http]",
    ...(o.tls ? ['tls_cert_file = "${TLS_CERT}"', 'tls_key_file = "${TLS_KEY}"'] : []),
    ...(o.clientCa ? ['tls_client_ca_file = "${TLS_CA}"'] : []),
    ...(o.healthWithoutAuth !== undefined ? [`health_without_auth = ${o.healthWithoutAuth}`] : []),
    ...(o.users ? ["[exporter.http.basic_auth_users]", `${USER} = "\${SCRAPE_HASH}"`] : []),
    "[[clusters]]",
    'name = "offline"',
    `bootstrap_servers = "127.0.0.1:${freePort()}"`,
  ];
  const config = configFrom(`${lines.join("\n")}\n`, {
    TLS_CERT: pki.serverCert,
    TLS_KEY: pki.serverKey,
    TLS_CA: pki.ca,
    SCRAPE_HASH: hash,
  });
  const daemon = createDaemon({ config, logger: quietLogger() });
  await daemon.start();
  daemons.push(daemon);
  return { url: `${o.tls ? "https" : "http"}://127.0.0.1:${port}`, port };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

function get(url: string, headers: Record<string, string> = {}, client = false): Promise<Response> {
  const tls: Record<string, unknown> = { ca: Bun.file(pki.ca) };
  if (client) Object.assign(tls, { cert: Bun.file(pki.clientCert), key: Bun.file(clientKey) });
  return fetch(url, { headers, tls } as RequestInit);
}

describe("Prometheus scraping over https with basic auth", () => {
  test("the right credentials scrape (up = 1); wrong ones are refused with 401 (up = 0)", async () => {
    const { port } = await startExporter({ tls: true, users: true });
    const work = scratchDir(`security-prometheus-${process.pid}`);
    mkdirSync(`${work}/data`, { recursive: true });
    writeFileSync(`${work}/password`, PASSWORD);
    writeFileSync(
      `${work}/prometheus.yml`,
      `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: good
    scheme: https
    tls_config:
      ca_file: ${pki.ca}
    basic_auth:
      username: ${USER}
      password_file: ${work}/password
    static_configs:
      - targets: ["127.0.0.1:${port}"]
  - job_name: wrong-password
    scheme: https
    tls_config:
      ca_file: ${pki.ca}
    basic_auth:
      username: ${USER}
      password: not-the-password
    static_configs:
      - targets: ["127.0.0.1:${port}"]
  - job_name: no-credentials
    scheme: https
    tls_config:
      ca_file: ${pki.ca}
    static_configs:
      - targets: ["127.0.0.1:${port}"]
`,
    );
    const promPort = freePort();
    const prom = Bun.spawn(
      [
        PROMETHEUS,
        `--config.file=${work}/prometheus.yml`,
        `--storage.tsdb.path=${work}/data`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--log.level=warn",
      ],
      { stdout: "ignore", stderr: "pipe" },
    );
    try {
      interface Target {
        labels: { job: string };
        health: string;
        lastError: string;
      }
      const targets = await until(
        async () => {
          const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`);
          const body = (await r.json()) as { data: { activeTargets: Target[] } };
          const t = body.data.activeTargets;
          return t.length === 3 && t.every((x) => x.health !== "unknown") ? t : undefined;
        },
        30_000,
        "Prometheus to scrape every target once",
      );
      const byJob = Object.fromEntries(targets.map((t) => [t.labels.job, t]));
      expect(byJob.good).toMatchObject({ health: "up", lastError: "" });
      expect(byJob["wrong-password"]).toMatchObject({ health: "down" });
      expect(byJob["wrong-password"]!.lastError).toContain("401");
      expect(byJob["no-credentials"]!.lastError).toContain("401");
      // `up` through the query API, and a real series scraped from the exporter.
      const query = async (q: string) => {
        const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        return ((await r.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } })
          .data.result;
      };
      const up = await query("up");
      expect(Object.fromEntries(up.map((r) => [r.metric.job, r.value[1]]))).toEqual({
        good: "1",
        "wrong-password": "0",
        "no-credentials": "0",
      });
      const scraped = await until(
        async () => {
          const r = await query('kafka_lag_exporter_up{job="good"}');
          return r.length === 1 ? r : undefined;
        },
        10_000,
        "kafka_lag_exporter_up in Prometheus",
      );
      expect(scraped[0]!.value[1]).toBe("1");
    } finally {
      prom.kill();
      await prom.exited;
      rmSync(work, { recursive: true, force: true });
    }
  }, 90_000);
});

describe("basic auth", () => {
  let url: string;
  beforeAll(async () => {
    url = (await startExporter({ tls: true, users: true, healthWithoutAuth: true })).url;
  });

  test("wrong, unknown, missing and malformed credentials get a bare 401 on every path", async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: basic(USER, "wrong") },
      { authorization: basic("nobody", PASSWORD) },
      { authorization: basic(USER, `${PASSWORD} `) },
      { authorization: "Basic !!!not-base64!!!" },
      { authorization: `Bearer ${PASSWORD}` },
      { authorization: `basic ${Buffer.from(`${USER}:wrong`).toString("base64")}` },
      { authorization: basic(USER, "") },
      { authorization: `Basic ${Buffer.from(USER).toString("base64")}` },
    ];
    for (const path of ["/metrics", "/", "/ready", "/leader", "/nope"]) {
      for (const headers of attempts) {
        const r = await get(`${url}${path}`, headers);
        const body = await r.text();
        expect({ path, headers, status: r.status }).toEqual({ path, headers, status: 401 });
        expect(r.headers.get("www-authenticate")).toBe('Basic realm="klag-exporter"');
        // Nothing about the exporter, its users or its clusters.
        expect(body).toBe("unauthorized\n");
      }
    }
  });

  test("the right credentials are accepted on every path, and repeated scrapes stay fast (verified once)", async () => {
    const auth = { authorization: basic(USER, PASSWORD) };
    expect((await get(`${url}/metrics`, auth)).status).toBe(200);
    expect((await get(`${url}/leader`, auth)).status).toBe(200);
    expect((await get(`${url}/nope`, auth)).status).toBe(404);
    const started = performance.now();
    for (let i = 0; i < 50; i++) expect((await get(`${url}/metrics`, auth)).status).toBe(200);
    // 50 bcrypt rounds would take seconds; cached verification takes milliseconds.
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  test("/health is open with health_without_auth and guarded without it", async () => {
    expect((await get(`${url}/health`)).status).toBe(200);
    expect(await (await get(`${url}/health`)).text()).toBe("OK\n");
    const guarded = await startExporter({ tls: true, users: true, healthWithoutAuth: false });
    expect((await get(`${guarded.url}/health`)).status).toBe(401);
    expect((await get(`${guarded.url}/health`, { authorization: basic(USER, PASSWORD) })).status).toBe(200);
  });

  test("a flood of distinct wrong passwords is shed, never let through, and does not lock out the right one", async () => {
    const auth = { authorization: basic(USER, PASSWORD) };
    expect((await get(`${url}/metrics`, auth)).status).toBe(200);
    // More distinct guesses than the cache of wrong answers holds, all at once.
    const started = performance.now();
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      const flood = Array.from({ length: 400 }, (_, i) =>
        get(`${url}/metrics`, { authorization: basic(USER, `guess-${round}-${i}`) }).then((r) => r.status),
      );
      const during = performance.now();
      expect((await get(`${url}/metrics`, auth)).status).toBe(200);
      expect(performance.now() - during).toBeLessThan(1_000);
      statuses.push(...(await Promise.all(flood)));
    }
    const elapsed = performance.now() - started;
    // Wrong (401) or shed while bcrypt is busy (429); never 200.
    const counts = { 401: 0, 429: 0 } as Record<number, number>;
    for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
    expect(Object.keys(counts).sort()).toEqual(["401", "429"]);
    expect(counts[429]).toBeGreaterThan(counts[401]!);
    // Bounded bcrypt work: 1,200 rounds would take about a minute of CPU.
    expect(elapsed).toBeLessThan(15_000);
    expect((await get(`${url}/metrics`, auth)).status).toBe(200);
  });

  test("passwords are compared as UTF-8, and a user name needs its own password", async () => {
    const unicodePassword = `pässwörd-✓-${crypto.randomUUID()}`;
    const port = freePort();
    const config = configFrom(
      [
        "[exporter]",
        'http_host = "127.0.0.1"',
        `http_port = ${port}`,
        "[exporter.http.basic_auth_users]",
        `alice = "\${ALICE}"`,
        `bob = "\${BOB}"`,
        "[[clusters]]",
        'name = "offline"',
        `bootstrap_servers = "127.0.0.1:${freePort()}"`,
        "",
      ].join("\n"),
      { ALICE: await Bun.password.hash(unicodePassword, { algorithm: "bcrypt", cost: 4 }), BOB: hash },
    );
    const daemon = createDaemon({ config, logger: quietLogger() });
    await daemon.start();
    daemons.push(daemon);
    const at = `http://127.0.0.1:${port}/metrics`;
    expect((await fetch(at, { headers: { authorization: basic("alice", unicodePassword) } })).status).toBe(200);
    expect((await fetch(at, { headers: { authorization: basic("bob", PASSWORD) } })).status).toBe(200);
    expect((await fetch(at, { headers: { authorization: basic("alice", PASSWORD) } })).status).toBe(401);
    expect((await fetch(at, { headers: { authorization: basic("bob", unicodePassword) } })).status).toBe(401);
  });
});

describe("TLS", () => {
  test("plain http to the TLS port gets no exposition", async () => {
    const { port } = await startExporter({ tls: true });
    const r = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      async (res) => ({ status: res.status, body: await res.text() }),
      (e: unknown) => ({ status: 0, body: String(e) }),
    );
    expect(r.body).not.toContain("kafka_lag_exporter_up");
  });

  test("with tls_client_ca_file, a client certificate from that CA is required", async () => {
    const { url } = await startExporter({ tls: true, clientCa: true });
    const without = await get(`${url}/metrics`).then(
      (r) => r.status,
      (e: unknown) => String(e),
    );
    expect(without).not.toBe(200);
    const withCert = await get(`${url}/metrics`, {}, true);
    expect(withCert.status).toBe(200);
    expect(await withCert.text()).toContain("kafka_lag_exporter_up 1");
  });
});
