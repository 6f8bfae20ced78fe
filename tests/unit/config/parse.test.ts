import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../src/config/parse.ts";
import type { Config, ConfigResult } from "../../../src/config/types.ts";

const MINIMAL = `[[clusters]]\nname = "local"\nbootstrap_servers = "localhost:9092"\n`;

function ok(result: ConfigResult): { config: Config; notices: string[] } {
  if (result.kind !== "ok") throw new Error(result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return result;
}

function problems(text: string, env: Record<string, string> = {}): { path: string; message: string }[] {
  const result = parseConfig(text, env);
  if (result.kind !== "invalid") throw new Error("expected an invalid config");
  return result.problems;
}

describe("defaults", () => {
  test("a config with only a cluster gets the documented defaults", () => {
    const { config, notices } = ok(parseConfig(MINIMAL, {}));
    expect(notices).toEqual([]);
    expect(config).toEqual({
      exporter: {
        pollIntervalMs: 30_000,
        httpPort: 8000,
        httpHost: "0.0.0.0",
        granularity: "topic",
        stalenessThresholdMs: 90_000,
        seriesGracePeriodMs: 0,
        maxSeries: 0,
        timestampSampling: {
          enabled: true,
          mode: "hybrid",
          cacheTtlMs: 60_000,
          maxConcurrentFetches: 5,
          fetchTimeoutMs: 5_000,
          skipDataLossPartitions: false,
          rateHistorySamples: 5,
          rateHistoryMaxAgeMs: 600_000,
          rateMinMsgsPerSec: 0.01,
        },
        performance: {
          kafkaTimeoutMs: 30_000,
          offsetFetchTimeoutMs: 10_000,
          maxConcurrentGroups: 10,
          maxConcurrentWatermarks: 50,
          groupFetchRetries: 0,
          clientRecycleIntervalCycles: 50,
          clientRecycleIntervalMs: 1_500_000,
          maxBlockingThreads: 64,
          compactedTopicsCacheTtlMs: 3_600_000,
          metadataCacheTtlMs: 300_000,
          consumerGroupsCacheTtlMs: 60_000,
        },
        otel: {
          enabled: false,
          endpoint: "http://localhost:4317",
          exportIntervalMs: 60_000,
          timeoutMs: 10_000,
          headers: {},
          insecure: false,
          compression: "none",
        },
        leadership: {
          enabled: false,
          provider: "kubernetes",
          leaseName: "klag-exporter",
          leaseNamespace: "default",
          leaseDurationSecs: 15,
          gracePeriodSecs: 5,
        },
        http: { basicAuthUsers: {}, healthWithoutAuth: true },
      },
      clusters: [
        {
          name: "local",
          bootstrapServers: ["localhost:9092"],
          groupWhitelist: [".*"],
          groupBlacklist: [],
          topicWhitelist: [".*"],
          topicBlacklist: ["__.*"],
          consumerProperties: {},
          labels: {},
        },
      ],
    });
  });

  test("staleness_threshold defaults to three poll intervals, like the reference", () => {
    const { config } = ok(parseConfig(`[exporter]\npoll_interval = "2m"\n${MINIMAL}`, {}));
    expect(config.exporter.stalenessThresholdMs).toBe(360_000);
  });

  test("an explicit staleness_threshold is kept", () => {
    const { config } = ok(parseConfig(`[exporter]\nstaleness_threshold = "10m"\n${MINIMAL}`, {}));
    expect(config.exporter.stalenessThresholdMs).toBe(600_000);
  });

  test("the otel timeout default never exceeds a short export_interval", () => {
    const { config } = ok(parseConfig(`[exporter.otel]\nexport_interval = "5s"\n${MINIMAL}`, {}));
    expect(config.exporter.otel.timeoutMs).toBe(5_000);
  });

  test("client_recycle_interval is read as cycles, as in the reference", () => {
    const text = `[exporter]\npoll_interval = "10s"\n[exporter.performance]\nclient_recycle_interval = 6\n${MINIMAL}`;
    const { config } = ok(parseConfig(text, {}));
    expect(config.exporter.performance.clientRecycleIntervalCycles).toBe(6);
    expect(config.exporter.performance.clientRecycleIntervalMs).toBe(60_000);
  });
});

describe("clusters", () => {
  const servers: [name: string, value: string, want: string[]][] = [
    ["a comma-separated string (the reference's form)", `"a:9092,b:9093"`, ["a:9092", "b:9093"]],
    ["an array", `["a:9092", "b:9093"]`, ["a:9092", "b:9093"]],
    ["spaces and empty entries", `" a:9092 , ,b:9093 "`, ["a:9092", "b:9093"]],
    ["a host without port (librdkafka's default 9092)", `"kafka"`, ["kafka:9092"]],
    ["a protocol prefix", `"SASL_SSL://kafka:9093"`, ["kafka:9093"]],
    ["an IPv6 address", `"[::1]:9092"`, ["[::1]:9092"]],
  ];
  for (const [name, value, want] of servers) {
    test(`bootstrap_servers accepts ${name}`, () => {
      const { config } = ok(parseConfig(`[[clusters]]\nname = "c"\nbootstrap_servers = ${value}\n`, {}));
      expect(config.clusters[0]!.bootstrapServers).toEqual(want);
    });
  }

  test("the cluster name is trimmed", () => {
    const { config } = ok(parseConfig(`[[clusters]]\nname = " prod "\nbootstrap_servers = "k:9092"\n`, {}));
    expect(config.clusters[0]!.name).toBe("prod");
  });

  test("consumer properties and labels accept numbers and booleans as text", () => {
    const text = `${MINIMAL}[clusters.consumer_properties]\n"request.timeout.ms" = 5000\n"enable.ssl.certificate.verification" = false\n[clusters.labels]\nshard = 3\n`;
    const { config } = ok(parseConfig(text, {}));
    expect(config.clusters[0]!.consumerProperties).toEqual({
      "request.timeout.ms": "5000",
      "enable.ssl.certificate.verification": "false",
    });
    expect(config.clusters[0]!.labels).toEqual({ shard: "3" });
  });

  test("a label value that is a table is an error", () => {
    expect(problems(`${MINIMAL}[clusters.labels]\nteam = { name = "x" }\n`)).toEqual([
      { path: "clusters[0].labels.team", message: "expected a string, got a table" },
    ]);
  });

  test("a case-insensitive pattern uses the JavaScript (?i:…) form", () => {
    const { config } = ok(parseConfig(`${MINIMAL}topic_whitelist = ["(?i:^orders)"]\n`, {}));
    expect(config.clusters[0]!.topicWhitelist).toEqual(["(?i:^orders)"]);
  });
});

describe("problems", () => {
  test("an unknown top-level section suggests the right one", () => {
    expect(problems(`[[cluster]]\nname = "a"\n${MINIMAL}`)).toEqual([
      { path: "cluster", message: "unknown key `cluster` at the top level; did you mean `clusters`?" },
    ]);
  });

  test("an unknown key far from any valid one lists the valid keys", () => {
    const [p] = problems(`[exporter.leadership]\nfoo = 1\n${MINIMAL}`);
    expect(p!.path).toBe("exporter.leadership.foo");
    expect(p!.message).toContain("valid keys: enabled, provider, lease_name");
  });

  test("an unknown key inside a cluster has the cluster's index in its path", () => {
    const [p] = problems(`${MINIMAL}[[clusters]]\nname = "b"\nbootstrap_servers = "k:9092"\ntopic_whitlist = []\n`);
    expect(p).toEqual({
      path: "clusters[1].topic_whitlist",
      message: "unknown key `topic_whitlist` in [[clusters]]; did you mean `topic_whitelist`?",
    });
  });

  test("a date where a string belongs is a type error", () => {
    const [p] = problems(`[exporter]\nhttp_host = 2024-01-01\n${MINIMAL}`);
    expect(p!.message).toContain("expected a string, got a date/time");
  });

  test("a section that is not a table is one problem", () => {
    expect(problems(`exporter = 5\n${MINIMAL}`)).toEqual([
      { path: "exporter", message: "expected a table [exporter], got integer 5" },
    ]);
  });

  test("durations above the timer limit are refused", () => {
    const [p] = problems(`[exporter]\npoll_interval = "30d"\n${MINIMAL}`);
    expect(p!.message).toContain("is too long");
  });

  test("a zero poll_interval is refused", () => {
    const [p] = problems(`[exporter]\npoll_interval = "0s"\n${MINIMAL}`);
    expect(p).toEqual({ path: "exporter.poll_interval", message: 'must be greater than 0 (got "0s")' });
  });

  test("a fractional integer is refused", () => {
    const [p] = problems(`[exporter]\nmax_series = 1.5\n${MINIMAL}`);
    expect(p).toEqual({ path: "exporter.max_series", message: "expected a whole number, got 1.5" });
  });

  test("a TOML syntax error is a single problem with the line number", () => {
    expect(problems(`[exporter]\npoll_interval = "30s"\npoll_interval = "10s"\n${MINIMAL}`)).toEqual([
      { path: "", message: "TOML syntax error on line 3: Cannot redefine key 'poll_interval'" },
    ]);
  });

  test("the line of a syntax error after a multi-line string is still found", () => {
    const text = `[[clusters]]\nname = """\nmulti\nline"""\nbootstrap_servers = "k:9092"\n[clusters.labels]\nx = [1,\n`;
    const [p] = problems(text);
    expect(p!.message).toMatch(/^TOML syntax error on line 7: /);
  });

  test("a secret never appears in a problem message", () => {
    const text = `${MINIMAL}[clusters.consumer_properties]\n"sasl.password" = "\${PW}"\n"security.protocol" = "SASL_SSL"\n"sasl.mechanism" = "SCRAM"\n`;
    const found = problems(text, { PW: "hunter2-very-secret" });
    expect(found.length).toBeGreaterThan(0);
    for (const p of found) expect(p.message).not.toContain("hunter2");
  });
});

describe("notices", () => {
  test("each no-effect key is reported once per place it is set", () => {
    const text = `[exporter.performance]\nmax_blocking_threads = 8\n${MINIMAL}[clusters.consumer_properties]\n"fetch.max.bytes" = 1\n[[clusters]]\nname = "b"\nbootstrap_servers = "k:9092"\n[clusters.consumer_properties]\n"fetch.max.bytes" = 1\n`;
    const { notices } = ok(parseConfig(text, {}));
    expect(notices).toEqual([
      "exporter.performance.max_blocking_threads has no effect in this implementation: it sized the reference's tokio blocking-thread pool",
      'clusters[0].consumer_properties["fetch.max.bytes"] has no effect in this implementation (librdkafka consumer tuning); it is ignored',
      'clusters[1].consumer_properties["fetch.max.bytes"] has no effect in this implementation (librdkafka consumer tuning); it is ignored',
    ]);
  });

  test("SASL settings without a SASL protocol are reported as ignored", () => {
    const text = `${MINIMAL}[clusters.consumer_properties]\n"sasl.username" = "u"\n`;
    const { notices } = ok(parseConfig(text, {}));
    expect(notices).toEqual([
      "clusters[0].consumer_properties: sasl.username ignored because security.protocol is PLAINTEXT (set SASL_SSL or SASL_PLAINTEXT to authenticate)",
    ]);
  });
});
