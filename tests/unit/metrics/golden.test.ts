// Golden expositions, byte for byte, from the real store and assembler; each *.prom file is
// also linted with `promtool check metrics`. Regenerate on purpose: UPDATE_GOLDEN=1 bun test.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALL_METRICS, M } from "../../../src/metrics/catalog.ts";
import { createExposition } from "../../../src/metrics/exposition.ts";
import { CONTENT_TYPE, type ExpositionFormat, encodeFamilies } from "../../../src/metrics/prometheus-text.ts";
import { createGaugeStore, type GaugeStore } from "../../../src/metrics/store.ts";

const GOLDEN_DIR = join(import.meta.dir, "../../golden");
const PROMTOOL = "/usr/bin/promtool";
const PROMETHEUS = "/usr/bin/prometheus";
const UPDATE = process.env.UPDATE_GOLDEN === "1";

/**
 * The only complaints `promtool check metrics` may make: reference names kept for
 * compatibility (docs/metrics.md lists them too).
 */
const KNOWN_PROMTOOL_COMPLAINTS = [
  "kafka_consumergroup_poll_time_ms metric names should not contain abbreviated units",
  'kafka_lag_exporter_compaction_detected_total non-counter metrics should not have "_total" suffix',
  'kafka_lag_exporter_data_loss_partitions_total non-counter metrics should not have "_total" suffix',
];

function expectGolden(file: string, actual: Uint8Array | string): void {
  const bytes = typeof actual === "string" ? Buffer.from(actual, "utf8") : Buffer.from(actual);
  const path = join(GOLDEN_DIR, file);
  if (UPDATE) writeFileSync(path, bytes);
  expect(existsSync(path)).toBe(true);
  const expected = readFileSync(path);
  if (!expected.equals(bytes)) expect(bytes.toString("utf8")).toBe(expected.toString("utf8"));
  expect(expected.equals(bytes)).toBe(true);
}

function render(format: ExpositionFormat, sources: [string, GaugeStore | null][]): Uint8Array {
  const exposition = createExposition();
  for (const [id, store] of sources) exposition.publish(id, store);
  return exposition.current(format, false);
}

function processStore(): GaugeStore {
  const store = createGaugeStore();
  store.set(M.up, [], 1);
  store.set(M.buildInfo, ["0.1.0", "bun-1.4.5"], 1);
  store.set(M.otlpExports, ["success"], 120);
  store.set(M.otlpExports, ["failure"], 2);
  return store;
}

interface PartitionRow {
  group: string;
  topic: string;
  partition: number;
  member: [host: string, consumerId: string, clientId: string];
  committed: number;
  lag: number;
  lagSeconds?: number;
  compacted: boolean;
  dataLoss: boolean;
  lost: number;
  margin: number;
  ratio?: number;
  lagStable?: number;
}

/** Writes what samples.ts would write for one group partition (partition granularity). */
function writePartition(store: GaugeStore, c: string, r: PartitionRow): void {
  const member = [c, r.group, r.topic, r.partition, ...r.member];
  const lagLabels = [...member, r.compacted, r.dataLoss];
  const gp = [c, r.group, r.topic, r.partition];
  store.set(M.groupOffset, member, r.committed);
  store.set(M.groupLag, lagLabels, r.lag);
  if (r.lagSeconds !== undefined) store.set(M.groupLagSeconds, lagLabels, r.lagSeconds);
  store.set(M.groupMessagesLost, gp, r.lost);
  store.set(M.groupRetentionMargin, gp, r.margin);
  if (r.ratio !== undefined) store.set(M.groupLagRetentionRatio, gp, r.ratio);
  if (r.lagStable !== undefined) store.set(M.groupLagStable, gp, r.lagStable);
}

/** One cluster, partition granularity: members, an unassigned partition, data loss, compaction, a transaction. */
function singleClusterStore(): GaugeStore {
  const c = "prod-east";
  const store = createGaugeStore();
  store.beginCycle(1_767_225_600_000);
  const watermarks: [string, number, number, number][] = [
    ["orders", 0, 0, 1500],
    ["orders", 1, 200, 1200],
    ["orders", 2, 0, 0],
    ["payments", 0, 1000, 5000],
  ];
  for (const [topic, p, earliest, latest] of watermarks) {
    store.set(M.partitionEarliestOffset, [c, topic, p], earliest);
    store.set(M.partitionLatestOffset, [c, topic, p], latest);
  }
  const m1: PartitionRow["member"] = ["/10.0.0.5", "orders-service-1-5b2c9a1e", "orders-service-1"];
  const m2: PartitionRow["member"] = ["/10.0.0.6", "orders-service-2-77d0e4f3", "orders-service-2"];
  const none: PartitionRow["member"] = ["", "", ""];
  const rows: PartitionRow[] = [
    // Stable group, two members; p2 is empty (no ratio).
    {
      group: "orders-service",
      topic: "orders",
      partition: 0,
      member: m1,
      committed: 1400,
      lag: 100,
      lagSeconds: 12.5,
      compacted: false,
      dataLoss: false,
      lost: 0,
      margin: 1400,
      ratio: 100 / 15,
    },
    {
      group: "orders-service",
      topic: "orders",
      partition: 1,
      member: m1,
      committed: 1200,
      lag: 0,
      lagSeconds: 0,
      compacted: false,
      dataLoss: false,
      lost: 0,
      margin: 1000,
      ratio: 0,
    },
    {
      group: "orders-service",
      topic: "orders",
      partition: 2,
      member: m2,
      committed: 0,
      lag: 0,
      lagSeconds: 0,
      compacted: false,
      dataLoss: false,
      lost: 0,
      margin: 0,
    },
    // Compaction evidence: the record at the committed offset was compacted away.
    {
      group: "audit-log",
      topic: "orders",
      partition: 0,
      member: ["/10.0.0.9", "audit-1-0c1d", "audit"],
      committed: 700,
      lag: 800,
      lagSeconds: 3600,
      compacted: true,
      dataLoss: false,
      lost: 0,
      margin: 700,
      ratio: 800 / 15,
    },
    // audit-log has no member for orders/1: unassigned partitions get empty member labels.
    {
      group: "audit-log",
      topic: "orders",
      partition: 1,
      member: none,
      committed: 1100,
      lag: 100,
      lagSeconds: 95.25,
      compacted: false,
      dataLoss: false,
      lost: 0,
      margin: 900,
      ratio: 10,
    },
    // Empty group behind retention: true lag, the loss, and an open transaction (LSO 4990).
    {
      group: "billing",
      topic: "payments",
      partition: 0,
      member: none,
      committed: 900,
      lag: 4100,
      compacted: false,
      dataLoss: true,
      lost: 100,
      margin: -100,
      ratio: 102.5,
      lagStable: 4090,
    },
  ];
  for (const row of rows) writePartition(store, c, row);
  const groups: [string, number, number, number | undefined, number, [string, number][]][] = [
    ["orders-service", 100, 100, 12.5, 3, [["orders", 100]]],
    ["audit-log", 800, 900, 3600, 3, [["orders", 900]]],
    ["billing", 4100, 4100, undefined, 5, [["payments", 4100]]],
  ];
  for (const [group, max, sum, maxSeconds, state, topics] of groups) {
    store.set(M.groupMaxLag, [c, group], max);
    store.set(M.groupSumLag, [c, group], sum);
    if (maxSeconds !== undefined) store.set(M.groupMaxLagSeconds, [c, group], maxSeconds);
    store.set(M.groupState, [c, group], state);
    for (const [topic, topicSum] of topics) store.set(M.groupTopicSumLag, [c, group, topic], topicSum);
  }
  store.set(M.pollTimeMs, [c], 84);
  store.set(M.compactionDetected, [c], 1);
  store.set(M.dataLossPartitions, [c], 1);
  store.set(M.scrapeDuration, [c], 0.084);
  store.set(M.lastUpdate, [c], 1_767_225_600.084);
  store.set(M.clusterUp, [c], 1);
  const phases: [string, number][] = [
    ["metadata", 0.004],
    ["groups", 0.012],
    ["offsets", 0.031],
    ["watermarks", 0.022],
    ["time_lag", 0.015],
  ];
  for (const [phase, seconds] of phases) store.set(M.cycleDuration, [c, phase], seconds);
  const requests: [string, number, number][] = [
    ["ListGroups", 1, 0],
    ["DescribeGroups", 1, 0],
    ["OffsetFetch", 1, 0],
    ["ListOffsets", 2, 1],
    ["Fetch", 1, 0],
  ];
  for (const [api, count, errors] of requests) {
    store.set(M.kafkaRequests, [c, api], count);
    store.set(M.kafkaRequestErrors, [c, api], errors);
  }
  store.set(M.skippedPartitions, [c, "no_leader"], 0);
  store.set(M.failedGroups, [c, "coordinator_unavailable"], 0);
  store.set(M.timeLagMethod, [c, "message"], 3);
  store.set(M.timeLagMethod, [c, "rate"], 2);
  store.set(M.timeLagGaps, [c, "noRecord"], 1);
  const { series, dropped, stale } = store.endCycle();
  store.set(M.series, [c], series + 3);
  store.set(M.seriesDropped, [c], dropped);
  store.set(M.staleSeries, [c], stale);
  return store;
}

/** Awkward label values and sample values. */
function escapingStore(): GaugeStore {
  const c = "esc";
  const store = createGaugeStore();
  const groups = ["back\\slash", 'quote"d', "new\nline", 'all\\"\nthree', "ünïcödé-🚀", "", "tab\there"];
  groups.forEach((group, i) => {
    store.set(M.groupState, [c, group], i % 8);
  });
  const values: [string, number][] = [
    ["nan", Number.NaN],
    ["plus-inf", Number.POSITIVE_INFINITY],
    ["minus-inf", Number.NEGATIVE_INFINITY],
    ["minus-zero", -0],
    ["tiny", 0.00001],
    ["float-sum", 0.1 + 0.2],
    ["two-pow-53", 2 ** 53],
    ["above-two-pow-53", 2 ** 53 + 2],
    ["big", 1e21],
    ["negative", -12.5],
    ["million-and-a-half", 1_000_000.5],
  ];
  for (const [group, value] of values) store.set(M.groupMaxLagSeconds, [c, group], value);
  store.set(M.up, [], 0);
  return store;
}

/** Two clusters, one with `[clusters.labels]`, merged; a third published then removed as stale. */
function multiClusterSources(): [string, GaugeStore | null][] {
  const cluster = (c: string, extraLabels: Record<string, string> | undefined, lag: number) => {
    const store = createGaugeStore({ extraLabels });
    store.beginCycle(0);
    store.set(M.partitionLatestOffset, [c, "events", 0], 10 * lag);
    store.set(M.partitionEarliestOffset, [c, "events", 0], 0);
    store.set(M.groupMaxLag, [c, "consumer"], lag);
    store.set(M.groupSumLag, [c, "consumer"], lag);
    store.set(M.groupState, [c, "consumer"], 3);
    store.set(M.groupTopicSumLag, [c, "consumer", "events"], lag);
    store.set(M.clusterUp, [c], 1);
    store.set(M.kafkaRequests, [c, "ListOffsets"], 7);
    store.endCycle();
    return store;
  };
  return [
    ["cluster/us-central", cluster("us-central", undefined, 5)],
    ["cluster/eu-west", cluster("eu-west", { region: "eu-west-1", env: "prod", team: 'data "platform"' }, 12)],
    ["cluster/ap-south", cluster("ap-south", undefined, 1)],
    ["process", processStore()],
    ["cluster/ap-south", null],
  ];
}

const GOLDENS: [file: string, build: () => Uint8Array | string][] = [
  [
    "single-cluster.prom",
    () =>
      render("prometheus", [
        ["cluster/prod-east", singleClusterStore()],
        ["process", processStore()],
      ]),
  ],
  ["escaping-and-values.prom", () => render("prometheus", [["cluster/esc", escapingStore()]])],
  ["multi-cluster-extra-labels.prom", () => render("prometheus", multiClusterSources())],
  ["multi-cluster-extra-labels.om", () => render("openmetrics", multiClusterSources())],
  [
    "encode-families.prom",
    () =>
      encodeFamilies(
        [
          {
            name: "example_requests_total",
            help: "Requests with a backslash \\ and a\nsecond line.",
            type: "counter",
            samples: [
              { labels: { path: "/a" }, value: 3 },
              { labels: { path: 'C:\\x"y"' }, value: 1 },
            ],
          },
          { name: "example_temperature_celsius", help: "No labels at all.", type: "gauge", samples: [{ value: -4.5 }] },
        ],
        "prometheus",
      ),
  ],
];

describe("golden expositions", () => {
  for (const [file, build] of GOLDENS) {
    test(`${file} matches byte for byte`, () => expectGolden(file, build()));
  }

  test("the single-cluster golden covers every family of the catalog", () => {
    const text = readFileSync(join(GOLDEN_DIR, "single-cluster.prom"), "utf8");
    const missing = ALL_METRICS.filter((d) => !text.includes(`# TYPE ${d.name} ${d.type}\n`)).map((d) => d.name);
    expect(missing).toEqual([]);
  });

  test("every golden exposition ends with exactly one newline", () => {
    for (const [file] of GOLDENS) {
      const text = readFileSync(join(GOLDEN_DIR, file), "utf8");
      expect(text.endsWith("\n") && !text.endsWith("\n\n")).toBe(true);
    }
  });
});

describe("promtool check metrics", () => {
  function promtool(input: Uint8Array | string): { exitCode: number; complaints: string[] } {
    const result = Bun.spawnSync([PROMTOOL, "check", "metrics"], { stdin: Buffer.from(input) });
    const output = result.stdout.toString() + result.stderr.toString();
    return { exitCode: result.exitCode, complaints: output.split("\n").filter((line) => line.trim() !== "") };
  }

  test("promtool is installed", () => expect(existsSync(PROMTOOL)).toBe(true));

  test("promtool flags a real problem, so a pass below means something", () => {
    const bad = "# HELP bad_counter A counter without the suffix.\n# TYPE bad_counter counter\nbad_counter 1\n";
    const { exitCode, complaints } = promtool(bad);
    expect(exitCode).not.toBe(0);
    expect(complaints).toContain('bad_counter counter metrics should have "_total" suffix');
  });

  const files = [...new Set([...GOLDENS.map(([f]) => f), ...readdirSync(GOLDEN_DIR)])].filter((f) =>
    f.endsWith(".prom"),
  );
  test("there are golden files to check", () => expect(files.length).toBeGreaterThanOrEqual(4));
  for (const file of files) {
    test(`${file} passes apart from the known reference names`, () => {
      const { exitCode, complaints } = promtool(readFileSync(join(GOLDEN_DIR, file)));
      const unexpected = complaints.filter((line) => !KNOWN_PROMTOOL_COMPLAINTS.includes(line));
      expect(unexpected).toEqual([]);
      expect(exitCode === 0 || (exitCode === 3 && complaints.length > 0)).toBe(true);
    });
  }

  test("the known complaints are exactly the catalog's recorded promtool lints", () => {
    const fromCatalog = ALL_METRICS.filter((d) => d.promtoolLint).map((d) => `${d.name} ${d.promtoolLint}`);
    expect(fromCatalog.sort()).toEqual([...KNOWN_PROMTOOL_COMPLAINTS].sort());
  });
});

describe("a real Prometheus server", () => {
  // Cleanup also runs when the runner abandons a failed test half-way, so nothing is left behind.
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Reads the server's log until it says where it listens. */
  async function listenAddress(stream: ReadableStream<Uint8Array>): Promise<string> {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let log = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`prometheus exited:\n${log}`);
      log += decoder.decode(value);
      const match = /msg="Listening on" address=(\S+)/.exec(log);
      if (match) {
        reader.releaseLock();
        return match[1]!;
      }
    }
  }

  test("scrapes every golden file, Prometheus text and OpenMetrics, and reads the values back", async () => {
    const files = GOLDENS.map(([file]) => file);
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        const file = new URL(request.url).pathname.slice(1);
        if (!files.includes(file)) return new Response("not found", { status: 404 });
        const contentType = file.endsWith(".om") ? CONTENT_TYPE.openmetrics : CONTENT_TYPE.prometheus;
        return new Response(readFileSync(join(GOLDEN_DIR, file)), { headers: { "content-type": contentType } });
      },
    });
    const dir = mkdtempSync(join(tmpdir(), "klag-golden-prometheus-"));
    cleanups.push(() => {
      server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    });
    const jobs = files.map(
      (file) =>
        `  - job_name: "${file}"\n    metrics_path: "/${file}"\n    static_configs: [{ targets: ["127.0.0.1:${server.port}"] }]`,
    );
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global: { scrape_interval: 1s }\nscrape_configs:\n${jobs.join("\n")}\n`,
    );
    const prometheus = Bun.spawn(
      [
        PROMETHEUS,
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        "--web.listen-address=127.0.0.1:0",
      ],
      { stdout: "ignore", stderr: "pipe" },
    );
    cleanups.push(async () => {
      prometheus.kill();
      await prometheus.exited;
    });
    const api = `http://${await listenAddress(prometheus.stderr)}/api/v1`;
    type Target = { labels: { job: string }; health: string; lastError: string };
    let targets: Target[] = [];
    for (let attempt = 0; attempt < 150; attempt++) {
      const response = await fetch(`${api}/targets`);
      if (response.ok) {
        const body = (await response.json()) as { data: { activeTargets: Target[] } };
        targets = body.data.activeTargets;
        if (targets.length === files.length && targets.every((t) => t.health !== "unknown")) break;
      } // 503 until the TSDB is ready
      await Bun.sleep(200);
    }
    const health = Object.fromEntries(targets.map((t) => [t.labels.job, [t.health, t.lastError]]));
    expect(health).toEqual(Object.fromEntries(files.map((file) => [file, ["up", ""]])));

    const query = async (promql: string) => {
      const body = (await (await fetch(`${api}/query?query=${encodeURIComponent(promql)}`)).json()) as {
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      return body.data.result;
    };
    const states = await query('kafka_consumergroup_group_state{job="escaping-and-values.prom"}');
    expect(states.map((r) => r.metric.group ?? "").sort()).toEqual(
      ["back\\slash", 'quote"d', "new\nline", 'all\\"\nthree', "ünïcödé-🚀", "", "tab\there"].sort(),
    );
    const counters = await query('kafka_lag_exporter_kafka_requests_total{job="multi-cluster-extra-labels.om"}');
    expect(counters.map((r) => [r.metric.cluster_name, r.metric.team ?? null, r.value[1]]).sort()).toEqual([
      ["eu-west", 'data "platform"', "7"],
      ["us-central", null, "7"],
    ]);
  }, 60_000);
});
