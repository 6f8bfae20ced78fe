/**
 * The compiled x64 release binary, driven from outside as an operator would: subcommands and exit
 * codes, the daemon against the shared test Kafka (startup, scrape, SIGHUP with good and bad
 * configs, SIGTERM). dist/ is rebuilt first when it is older than the sources.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { closeHarnessClients, commitOffsets, createTopic, kafka, produceN, uniqueName } from "../kafka/harness.ts";
import {
  BIN_X64,
  ensureBuilt,
  exporterConfig,
  freePort,
  get,
  killAll,
  parseExposition,
  type Running,
  sampleValue,
  scrape,
  start,
  until,
} from "./support.ts";

let dir: string;
let bootstrap: string;
let topic: string;
let group: string;

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const p = Bun.spawnSync([BIN_X64, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "klag-e2e-binary-"));
  const [env] = await Promise.all([kafka(1), ensureBuilt("x64")]);
  bootstrap = env.bootstrap.join(",");
  // p0: 10 records, committed 4 → lag 6; p1: 5 records, committed 5 → lag 0.
  topic = uniqueName("e2e-bin");
  group = uniqueName("e2e-bin-group");
  await createTopic(topic, 2);
  await produceN(topic, [0], 10);
  await produceN(topic, [1], 5);
  await commitOffsets(group, topic, [
    { partition: 0, offset: 4 },
    { partition: 1, offset: 5 },
  ]);
}, 180_000);

afterAll(async () => {
  await killAll();
  await closeHarnessClients();
  rmSync(dir, { recursive: true, force: true });
});

describe("the release binary's commands", () => {
  test("version prints the package version and the commit stamped at build time", () => {
    const r = run(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^klag-exporter ${pkg.version.replaceAll(".", "\\.")} \\(commit [0-9a-f]{7,}`));
    expect(r.stdout).not.toContain("commit unknown");
    expect(r.stderr).toBe("");
  });

  test("--version and --help answer with exit 0 and list the subcommands", () => {
    const v = run(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(pkg.version);
    const h = run(["--help"]);
    expect(h.code).toBe(0);
    for (const cmd of ["run", "check-config", "once", "version", "--config"]) expect(h.stdout).toContain(cmd);
  });

  test("check-config accepts a valid file with exit 0 and prints the effective config", () => {
    const path = writeConfig("good.toml", exporterConfig({ port: 8000, clusters: { main: bootstrap } }));
    const r = run(["check-config", path]);
    expect(r.stderr).toContain("OK");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('name = "main"');
    expect(r.stdout).toContain('poll_interval = "1s"');
  });

  test("check-config rejects an unknown key with exit 2, naming the key and the closest valid one", () => {
    const path = writeConfig(
      "bad.toml",
      exporterConfig({ port: 8000, clusters: { main: bootstrap } }).replace("poll_interval", "poll_intervall"),
    );
    const r = run(["check-config", path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("exporter.poll_intervall");
    expect(r.stderr).toContain("poll_interval");
    expect(r.stdout).toBe("");
  });

  test("once prints one exposition on stdout and nothing else, with the group's lag, and exits 0", () => {
    const path = writeConfig("once.toml", exporterConfig({ port: 8000, clusters: { main: bootstrap } }));
    const r = run(["once", "--config", path]);
    expect(r.code).toBe(0);
    // Every stdout line is exposition syntax (parseExposition throws on anything else, e.g. a log line).
    const samples = parseExposition(r.stdout);
    expect(samples.length).toBeGreaterThan(0);
    expect(r.stdout.startsWith("# HELP ")).toBe(true);
    expect(
      sampleValue(r.stdout, "kafka_consumergroup_group_lag", { cluster_name: "main", group, topic, partition: "0" }),
    ).toBe(6);
    expect(sampleValue(r.stdout, "kafka_consumergroup_group_sum_lag", { cluster_name: "main", group })).toBe(6);
  });

  test("once exits non-zero when a cluster fails and still prints the others' exposition", () => {
    const dead = `127.0.0.1:${freePort()}`;
    const path = writeConfig("once-dead.toml", exporterConfig({ port: 8000, clusters: { main: bootstrap, dead } }));
    const r = run(["once", "--config", path]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("dead");
    expect(sampleValue(r.stdout, "kafka_consumergroup_group_sum_lag", { cluster_name: "main", group })).toBe(6);
  });
});

describe("the release binary as a daemon", () => {
  let daemon: Running;
  let port: number;
  let configPath: string;
  let startupMs: number;

  const listOffsetsRequests = async (cluster: string) =>
    sampleValue(await scrape(port), "kafka_lag_exporter_kafka_requests_total", {
      cluster_name: cluster,
      api: "ListOffsets",
    });

  beforeAll(async () => {
    port = freePort();
    configPath = writeConfig("daemon.toml", exporterConfig({ port, clusters: { first: bootstrap } }));
    const started = performance.now();
    daemon = start([BIN_X64, "--config", configPath, "--log-format", "logfmt"]);
    await until(
      async () => ((await get(`http://127.0.0.1:${port}/health`, 500))?.status === 200 ? true : undefined),
      10_000,
      "/health 200",
    );
    startupMs = performance.now() - started;
  }, 30_000);

  afterAll(() => daemon.kill());

  test("answers /health with 200 well under a second after exec", () => {
    expect(startupMs).toBeLessThan(1_000);
  });

  test("/metrics carries the group's partition lag and group aggregates", async () => {
    const text = await until(
      async () => {
        const t = await scrape(port);
        return sampleValue(t, "kafka_consumergroup_group_sum_lag", { cluster_name: "first", group }) !== undefined
          ? t
          : undefined;
      },
      20_000,
      "the group's lag in /metrics",
    );
    expect(
      sampleValue(text, "kafka_consumergroup_group_lag", { cluster_name: "first", group, topic, partition: "0" }),
    ).toBe(6);
    expect(
      sampleValue(text, "kafka_consumergroup_group_lag", { cluster_name: "first", group, topic, partition: "1" }),
    ).toBe(0);
    expect(sampleValue(text, "kafka_consumergroup_group_max_lag", { cluster_name: "first", group })).toBe(6);
    expect(sampleValue(text, "kafka_lag_exporter_cluster_up", { cluster_name: "first" })).toBe(1);
    expect((await get(`http://127.0.0.1:${port}/ready`))?.status).toBe(200);
  });

  test("SIGHUP with a new cluster starts its loop and leaves the running one alone", async () => {
    // Let the first loop run a few cycles so a restart would show as a reset counter.
    await until(
      async () => ((await listOffsetsRequests("first")) ?? 0) >= 4 || undefined,
      20_000,
      "4 ListOffsets requests",
    );
    const before = (await listOffsetsRequests("first"))!;
    writeFileSync(configPath, exporterConfig({ port, clusters: { first: bootstrap, second: bootstrap } }));
    daemon.proc.kill("SIGHUP");
    const text = await until(
      async () => {
        const t = await scrape(port);
        return sampleValue(t, "kafka_consumergroup_group_sum_lag", { cluster_name: "second", group }) === 6
          ? t
          : undefined;
      },
      20_000,
      "cluster second in /metrics",
    );
    expect(sampleValue(text, "kafka_lag_exporter_cluster_up", { cluster_name: "second" })).toBe(1);
    expect(sampleValue(text, "kafka_lag_exporter_cluster_up", { cluster_name: "first" })).toBe(1);
    // Not restarted: over the next cycles its request counter only grows from where it was (a
    // restarted loop would start counting again from zero).
    const seen: (number | undefined)[] = [];
    const deadline = Date.now() + 2_500;
    while (Date.now() < deadline) {
      seen.push(await listOffsetsRequests("first"));
      await Bun.sleep(50);
    }
    expect(seen.every((v) => v !== undefined && v >= before)).toBe(true);
    expect(seen.at(-1)!).toBeGreaterThan(before);
    expect(daemon.stderr()).toContain("configuration reloaded");
  });

  test("SIGHUP with a removed cluster stops its loop and drops its series", async () => {
    writeFileSync(configPath, exporterConfig({ port, clusters: { first: bootstrap } }));
    daemon.proc.kill("SIGHUP");
    const text = await until(
      async () => {
        const t = await scrape(port);
        return sampleValue(t, "kafka_lag_exporter_cluster_up", { cluster_name: "second" }) === undefined
          ? t
          : undefined;
      },
      10_000,
      "cluster second gone from /metrics",
    );
    expect(text).not.toContain('cluster_name="second"');
    expect(sampleValue(text, "kafka_consumergroup_group_sum_lag", { cluster_name: "first", group })).toBe(6);
  });

  test("SIGHUP with an invalid config keeps the running config and logs why", async () => {
    const logBefore = daemon.stderr().length;
    const before = (await listOffsetsRequests("first"))!;
    writeFileSync(
      configPath,
      exporterConfig({ port, clusters: { first: bootstrap, third: bootstrap } }).replace("granularity", "granularty"),
    );
    daemon.proc.kill("SIGHUP");
    const log = await until(
      async () =>
        daemon.stderr().slice(logBefore).includes("granularty") ? daemon.stderr().slice(logBefore) : undefined,
      5_000,
      "a log line about the rejected reload",
    );
    expect(log).toMatch(/reload rejected|keeping the running config/);
    // Still serving, still collecting the old cluster list, the bad one not applied.
    await until(async () => ((await listOffsetsRequests("first")) ?? 0) > before || undefined, 10_000, "more cycles");
    const text = await scrape(port);
    expect(text).not.toContain('cluster_name="third"');
    expect(sampleValue(text, "kafka_lag_exporter_cluster_up", { cluster_name: "first" })).toBe(1);
    expect(daemon.proc.exitCode).toBeNull();
  });

  test("SIGTERM exits with code 0 within 5 seconds", async () => {
    const sent = performance.now();
    daemon.proc.kill("SIGTERM");
    const code = await Promise.race([daemon.proc.exited, Bun.sleep(5_000).then(() => "timeout" as const)]);
    const elapsed = performance.now() - sent;
    expect(code).toBe(0);
    expect(elapsed).toBeLessThan(5_000);
    expect(daemon.stderr()).toContain("shutting down");
  });
});

describe("the release binary facing a broker that never answers", () => {
  test("SIGTERM still exits with code 0 within 5 seconds while a request hangs", async () => {
    // A TCP server that accepts connections and swallows every request: the cycle blocks on it.
    let connections = 0;
    const silent = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open() {
          connections++;
        },
        data() {},
      },
    });
    try {
      const port = freePort();
      const path = writeConfig(
        "silent.toml",
        exporterConfig({
          port,
          clusters: { silent: `127.0.0.1:${silent.port}` },
          extra: '[exporter.performance]\nkafka_timeout = "60s"',
        }),
      );
      const check = run(["check-config", path]);
      expect(check.stderr).toContain("OK");
      const daemon = start([BIN_X64, "--config", path]);
      await until(
        async () => ((await get(`http://127.0.0.1:${port}/health`, 500))?.status === 200 ? true : undefined),
        10_000,
        "/health 200",
      );
      await until(async () => (connections > 0 ? true : undefined), 10_000, "a connection to the silent broker");
      await Bun.sleep(300);
      const sent = performance.now();
      daemon.proc.kill("SIGTERM");
      const code = await Promise.race([daemon.proc.exited, Bun.sleep(6_000).then(() => "timeout" as const)]);
      expect(code).toBe(0);
      const elapsed = performance.now() - sent;
      console.error(`SIGTERM to exit: ${elapsed.toFixed(0)} ms`);
      expect(elapsed).toBeLessThan(5_000);
    } finally {
      silent.stop(true);
    }
  }, 30_000);
});
