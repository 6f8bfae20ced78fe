/**
 * Benchmark: full collection cycles of the real in-process exporter against a local 1-node Kafka
 * with 200 groups over 2,000 partitions (scripts/scale-fixture.ts), partition granularity, in each
 * time-lag mode. Prints cycle time (median/max), requests per API per cycle (deltas of
 * kafka_lag_exporter_kafka_requests_total), series, exposition bytes and RSS. Starts and stops
 * its own cluster (scripts/kafka/cluster.sh in a temp dir).
 * Run: bun run bench/cycle.bench.ts   (KLAG_BENCH_BOOTSTRAP=host:port reuses a running cluster;
 *      add KLAG_BENCH_SKIP_FIXTURE=1 when that cluster already holds the fixture)
 *
 * RESULTS — see the bottom of this comment.
 */
import "../src/lib/quiet-warnings.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { buildScaleFixture, committedOffset, topicsOfGroup } from "../scripts/scale-fixture.ts";
import { configFrom, find, inProcessExporter, type Sample, value } from "../tests/helpers/exposition.ts";

const ROOT = resolve(import.meta.dir, "..");
const GROUPS = 200;
const PARTITIONS = 2_000;
const PER_TOPIC = 20;
const TOPICS_PER_GROUP = 2;
const MESSAGES = 5;
const PREFIX = "bench";
const MEASURED_CYCLES = 5;

type Mode = "off" | "rate" | "message" | "hybrid";
const MODES: Mode[] = ["off", "rate", "message", "hybrid"];

interface ModeResult {
  mode: Mode;
  cycleMs: number[];
  requestsPerCycle: Map<string, number[]>;
  series: number;
  lagSeries: number;
  lagSecondsSeries: number;
  bytes: number;
  rssMb: number;
  phases: Map<string, number[]>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function requestTotals(samples: Sample[]): Map<string, number> {
  return new Map(find(samples, "kafka_lag_exporter_kafka_requests_total").map((s) => [s.labels.api!, s.value]));
}

async function startCluster(dir: string): Promise<string> {
  const proc = Bun.spawn(["bash", `${ROOT}/scripts/kafka/cluster.sh`, "start", dir, "1"], {
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, KLAG_KAFKA_HEAP: process.env.KLAG_KAFKA_HEAP ?? "1g" },
  });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error("cluster.sh start failed");
  return out.trim().split("\n").pop()!;
}

async function runMode(bootstrap: string, mode: Mode, traffic: () => Promise<void>): Promise<ModeResult> {
  const config = configFrom(`
[exporter]
poll_interval = "30s"
granularity = "partition"
[exporter.timestamp_sampling]
enabled = ${mode !== "off"}
${mode === "off" ? "" : `mode = "${mode}"`}
[exporter.performance]
kafka_timeout = "30s"
[[clusters]]
name = "bench"
bootstrap_servers = "${bootstrap}"
group_whitelist = ["^${PREFIX}-"]
topic_whitelist = ["^${PREFIX}-"]
`);
  const exporter = inProcessExporter(config);
  const result: ModeResult = {
    mode,
    cycleMs: [],
    requestsPerCycle: new Map(),
    series: 0,
    lagSeries: 0,
    lagSecondsSeries: 0,
    bytes: 0,
    rssMb: 0,
    phases: new Map(),
  };
  try {
    // Warm-up: connections, metadata, coordinators, first rate samples, timestamp cache.
    let previous = await exporter.cycle();
    for (let i = 0; i < MEASURED_CYCLES; i++) {
      await traffic(); // producers keep writing between cycles (not timed)
      const t = performance.now();
      const samples = await exporter.cycle();
      result.cycleMs.push(performance.now() - t);
      const before = requestTotals(previous);
      for (const [api, total] of requestTotals(samples)) {
        const list = result.requestsPerCycle.get(api) ?? [];
        list.push(total - (before.get(api) ?? 0));
        result.requestsPerCycle.set(api, list);
      }
      for (const s of find(samples, "kafka_lag_exporter_cycle_duration_seconds")) {
        const list = result.phases.get(s.labels.phase!) ?? [];
        list.push(s.value * 1000);
        result.phases.set(s.labels.phase!, list);
      }
      if (value(samples, "kafka_lag_exporter_cluster_up") !== 1) throw new Error(`${mode}: cycle failed`);
      result.series = value(samples, "kafka_lag_exporter_series") ?? 0;
      result.lagSeries = find(samples, "kafka_consumergroup_group_lag").length;
      result.lagSecondsSeries = find(samples, "kafka_consumergroup_group_lag_seconds").length;
      result.bytes = Buffer.byteLength(exporter.text());
      previous = samples;
    }
    // Sanity: every group partition is reported, with the offsets the fixture committed.
    const expected = GROUPS * TOPICS_PER_GROUP * PER_TOPIC;
    if (result.lagSeries !== expected) throw new Error(`${mode}: ${result.lagSeries} lag series, expected ${expected}`);
    for (const g of [0, 57, GROUPS - 1]) {
      const group = `${PREFIX}-group-${String(g).padStart(4, "0")}`;
      const topic = `${PREFIX}-topic-${String(topicsOfGroup(g, PARTITIONS / PER_TOPIC, TOPICS_PER_GROUP)[1]!).padStart(4, "0")}`;
      for (const partition of [0, 7, PER_TOPIC - 1]) {
        const got = value(previous, "kafka_consumergroup_group_offset", { group, topic, partition: String(partition) });
        if (got !== committedOffset(g, partition, MESSAGES)) throw new Error(`${mode}: ${group} ${topic}/${partition} offset ${got}`);
      }
    }
    result.rssMb = process.memoryUsage().rss / 2 ** 20;
  } finally {
    await exporter.stop();
  }
  return result;
}

function report(results: ModeResult[], fixtureNote: string): void {
  const apis = [...new Set(results.flatMap((r) => [...r.requestsPerCycle.keys()]))].sort();
  const lines: string[] = [];
  lines.push(`machine: ${navigator.hardwareConcurrency} cores, ${process.platform}/${process.arch}; Bun ${Bun.version}`);
  lines.push(fixtureNote);
  lines.push("");
  lines.push(
    ["mode", "cycle median ms", "cycle max ms", "series", "lag", "lag_seconds", "bytes", "RSS MB"].map((h) => h.padEnd(16)).join(""),
  );
  for (const r of results) {
    lines.push(
      [
        r.mode,
        median(r.cycleMs).toFixed(0),
        Math.max(...r.cycleMs).toFixed(0),
        String(r.series),
        String(r.lagSeries),
        String(r.lagSecondsSeries),
        String(r.bytes),
        r.rssMb.toFixed(0),
      ]
        .map((c) => c.padEnd(16))
        .join(""),
    );
  }
  lines.push("");
  lines.push(`requests per cycle (median of ${MEASURED_CYCLES}):`);
  lines.push(["api", ...results.map((r) => r.mode)].map((h) => h.padEnd(22)).join(""));
  for (const api of apis) {
    lines.push([api, ...results.map((r) => String(median(r.requestsPerCycle.get(api) ?? [0])))].map((c) => c.padEnd(22)).join(""));
  }
  lines.push("");
  lines.push("phase medians ms:");
  const phases = [...new Set(results.flatMap((r) => [...r.phases.keys()]))];
  lines.push(["phase", ...results.map((r) => r.mode)].map((h) => h.padEnd(22)).join(""));
  for (const phase of phases) {
    lines.push(
      [phase, ...results.map((r) => (r.phases.has(phase) ? median(r.phases.get(phase)!).toFixed(0) : "–"))]
        .map((c) => c.padEnd(22))
        .join(""),
    );
  }
  console.log(lines.join("\n"));
}

async function main(): Promise<void> {
  const reuse = process.env.KLAG_BENCH_BOOTSTRAP;
  const dir = reuse ? undefined : mkdtempSync(join(tmpdir(), "klag-bench-"));
  const stop = () => {
    if (!dir) return;
    Bun.spawnSync(["bash", `${ROOT}/scripts/kafka/cluster.sh`, "stop", join(dir, "kafka")]);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    stop();
    process.exit(130);
  });
  try {
    const bootstrap = reuse ?? (await startCluster(join(dir!, "kafka")));
    console.error(`kafka at ${bootstrap}`);
    let fixtureNote = `fixture: ${GROUPS} groups × ${TOPICS_PER_GROUP} topics of ${PER_TOPIC} partitions, ${PARTITIONS} partitions, ${MESSAGES} messages each`;
    if (process.env.KLAG_BENCH_SKIP_FIXTURE !== "1") {
      const f = await buildScaleFixture({
        bootstrap,
        groups: GROUPS,
        partitions: PARTITIONS,
        partitionsPerTopic: PER_TOPIC,
        topicsPerGroup: TOPICS_PER_GROUP,
        messages: MESSAGES,
        prefix: PREFIX,
      });
      fixtureNote += `; built in ${((f.timings.topics + f.timings.produce + f.timings.commit) / 1000).toFixed(1)} s (commits ${(f.timings.commit / 1000).toFixed(1)} s), ${f.groupPartitions} group partitions`;
    }
    // Background traffic between cycles: one record on every partition, so rates and lag move.
    const kafka = new Kafka({ brokers: bootstrap.split(","), clientId: "klag-bench-traffic", logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const topicCount = PARTITIONS / PER_TOPIC;
    const topics = Array.from({ length: topicCount }, (_, t) => `${PREFIX}-topic-${String(t).padStart(4, "0")}`);
    const traffic = async () => {
      await producer.sendBatch({
        acks: 1,
        topicMessages: topics.map((topic) => ({
          topic,
          messages: Array.from({ length: PER_TOPIC }, (_, partition) => ({ partition, value: `t-${Date.now()}` })),
        })),
      });
    };
    const results: ModeResult[] = [];
    try {
      for (const mode of MODES) {
        console.error(`mode ${mode}…`);
        results.push(await runMode(bootstrap, mode, traffic));
      }
    } finally {
      await producer.disconnect();
    }
    report(results, fixtureNote);
  } finally {
    stop();
  }
}

await main();
