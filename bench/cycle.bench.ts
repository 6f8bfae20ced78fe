/**
 * Benchmark: full collection cycles of the real in-process exporter against a local 1-node Kafka
 * with 200 groups over 2,000 partitions (scripts/scale-fixture-3.ts), partition granularity, in each
 * time-lag mode. Prints cycle time (median/max), requests per API per cycle (deltas of
 * kafka_lag_exporter_kafka_requests_total), series, exposition bytes and RSS. Starts and stops
 * its own cluster (scripts/kafka/cluster.sh in a temp dir).
 * Run: bun run bench/cycle.bench.ts   (KLAG_BENCH_BOOTSTRAP=host:port reuses a running cluster;
 *      add KLAG_BENCH_SKIP_FIXTURE=1 when that cluster already holds the fixture)
 *
 * RESULTS (2-core linux/x64 VM, Bun 1.4.5, Kafka 4.4.0 1 node, 1 GB heap; 200 groups × 2 topics
 * × 20 partitions = 8,000 group partitions on 2,000 partitions, 1–5 messages each, fixture built
 * in 9.3 s with member-less commits). One record per partition is produced between cycles
 * (untimed). 5 warm cycles per mode after one cold cycle:
 *
 *   mode     cold ms  median ms  max ms  series  lag_seconds  exposition  RSS MB*  heap MB
 *   off        255       138      183    53,002        0        7.2 MB      141       44
 *   rate       196       178      204    61,202    8,000        9.2 MB      176       51
 *   message    365       212      227    61,202    8,000        9.0 MB      193       53
 *   hybrid     300       193      210    61,202    8,000        9.0 MB      201       52
 *   (* process RSS after a full GC, cumulative over the modes run so far in one process)
 *
 *   requests per cycle, cold / warm (same in every mode unless noted):
 *   ApiVersions 1/0, Metadata 1/0, FindCoordinator 2/0, ListGroups 1/1, DescribeGroups 2/2,
 *   OffsetFetch 2/2 (v8, 100 groups per request), ListOffsets 3/3 (earliest, latest, last stable
 *   on the one leader), Fetch 0/0 (off, rate) and 8/0 (message, hybrid: 512 partitions a request,
 *   and the two groups of a partition sit at different offsets).
 *   Phase medians (warm): compute (lag, store, rendering) 36–53 ms, watermarks 20–31 ms,
 *   time_lag 9–19 ms, describe+offsets 7–10 ms, list_groups 1–2 ms.
 *   Cycle times include the collector thread's full GCs (after the watermark and time-lag phases
 *   and after the cycle, ≥ 10,000 series; ~15–25 ms each here): they trade cycle time for memory
 *   and no longer delay scrapes, which the HTTP thread serves. An earlier run without them and
 *   with the render outside the cycle measured 86–112 ms warm.
 *
 * Conclusion: a full partition-granularity cycle over 8,000 group partitions takes ~0.14–0.21 s
 * warm (0.2–0.37 s cold) with 10 requests, independent of the group and partition counts apart from the
 * 100-group batches; time lag adds 40–75 ms (its phase and one more GC). Caveats: the committed offsets do not move
 * between cycles, so warm message/hybrid cycles answer every read from the (topic, partition,
 * offset) cache (Fetch 0) — the cold cycle's 8 Fetch requests are the cost when every consumer
 * moves.
 */
import "../src/lib/quiet-warnings.ts";
import { Kafka, logLevel } from "kafkajs";
import {
  buildFixture3,
  type CommittedPartition,
  type Fixture3,
  groupName,
  planCommits,
  topicName,
} from "../scripts/scale-fixture-3.ts";
import type { Config } from "../src/config/types.ts";
import { createExposition } from "../src/metrics/exposition.ts";
import {
  configFrom,
  createKafkaLoop,
  find,
  parseExposition,
  quietLogger,
  type Sample,
  value,
} from "../tests/helpers/exposition.ts";
import { benchCluster, countLines } from "./support.ts";

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
  coldMs: number;
  coldRequests: Map<string, number>;
  cycleMs: number[];
  requestsPerCycle: Map<string, number[]>;
  series: number;
  lagSeries: number;
  lagSecondsSeries: number;
  methods: string;
  bytes: number;
  rssMb: number;
  heapMb: number;
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

/**
 * The real cluster loop with the real Kafka source, driven cycle by cycle (as
 * tests/helpers/exposition.ts does), but only the self-metric lines are parsed, so the RSS
 * figure is the exporter's and not a parser's.
 */
function createDriver(config: Config) {
  const exposition = createExposition();
  const { loop } = createKafkaLoop(config.clusters[0]!, config.exporter, exposition, quietLogger());
  const bytes = () => exposition.current("prometheus", false);
  return {
    async cycle(): Promise<{ self: Sample[]; text: Uint8Array }> {
      await loop.runCycle();
      const text = bytes();
      const decoded = new TextDecoder().decode(text);
      // Self metrics plus the lag families' series counts (one line each is enough to count).
      const selfLines = decoded.split("\n").filter((l) => l.startsWith("kafka_lag_exporter_"));
      return { self: parseExposition(selfLines.join("\n")), text };
    },
    stop: () => loop.stop(),
  };
}

/** The fixture's options: 100 topics of 20 partitions, group g on topics g and g + 1 (mod 100). */
function fixtureOptions(bootstrap: string): Fixture3["options"] {
  return {
    bootstrap,
    prefix: PREFIX,
    topics: PARTITIONS / PER_TOPIC,
    partitionsPerTopic: PER_TOPIC,
    groups: GROUPS,
    secondTopicEvery: 1,
    skipEvery: 0,
    maxMessages: MESSAGES,
    replicationFactor: 1,
    concurrency: 32,
  };
}

async function runMode(
  bootstrap: string,
  mode: Mode,
  traffic: () => Promise<void>,
  commits: ReadonlyMap<string, readonly CommittedPartition[]>,
): Promise<ModeResult> {
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
  const driver = createDriver(config);
  const result: ModeResult = {
    mode,
    coldMs: 0,
    coldRequests: new Map(),
    cycleMs: [],
    requestsPerCycle: new Map(),
    series: 0,
    lagSeries: 0,
    lagSecondsSeries: 0,
    methods: "",
    bytes: 0,
    rssMb: 0,
    heapMb: 0,
    phases: new Map(),
  };
  try {
    // Cold cycle: connections, metadata, coordinators, first rate samples, timestamp cache fill.
    let t = performance.now();
    let previous = await driver.cycle();
    result.coldMs = performance.now() - t;
    result.coldRequests = requestTotals(previous.self);
    let last = previous;
    for (let i = 0; i < MEASURED_CYCLES; i++) {
      await traffic(); // producers keep writing between cycles (not timed)
      t = performance.now();
      const now = await driver.cycle();
      result.cycleMs.push(performance.now() - t);
      const before = requestTotals(previous.self);
      for (const [api, total] of requestTotals(now.self)) {
        const list = result.requestsPerCycle.get(api) ?? [];
        list.push(total - (before.get(api) ?? 0));
        result.requestsPerCycle.set(api, list);
      }
      for (const s of find(now.self, "kafka_lag_exporter_cycle_duration_seconds")) {
        const list = result.phases.get(s.labels.phase!) ?? [];
        list.push(s.value * 1000);
        result.phases.set(s.labels.phase!, list);
      }
      if (value(now.self, "kafka_lag_exporter_cluster_up") !== 1) throw new Error(`${mode}: cycle failed`);
      previous = now;
      last = now;
    }
    result.series = value(last.self, "kafka_lag_exporter_series") ?? 0;
    result.lagSeries = countLines(last.text, "kafka_consumergroup_group_lag{");
    result.lagSecondsSeries = countLines(last.text, "kafka_consumergroup_group_lag_seconds{");
    result.methods = find(last.self, "kafka_lag_exporter_time_lag_method")
      .map((s) => `${s.labels.method}=${s.value}`)
      .join(" ");
    result.bytes = last.text.length;
    // Sanity: every group partition is reported, with the offsets the fixture committed.
    const expected = GROUPS * TOPICS_PER_GROUP * PER_TOPIC;
    if (result.lagSeries !== expected) throw new Error(`${mode}: ${result.lagSeries} lag series, expected ${expected}`);
    const all = parseExposition(
      new TextDecoder()
        .decode(last.text)
        .split("\n")
        .filter((l) => l.startsWith("kafka_consumergroup_group_offset{"))
        .join("\n"),
    );
    for (const g of [0, 57, GROUPS - 1]) {
      const group = groupName(PREFIX, g);
      for (const c of commits.get(group)!.filter((c) => [0, 7, PER_TOPIC - 1].includes(c.partition))) {
        const got = value(all, "kafka_consumergroup_group_offset", {
          group,
          topic: c.topic,
          partition: String(c.partition),
        });
        if (got !== c.offset)
          throw new Error(`${mode}: ${group} ${c.topic}/${c.partition} offset ${got}, expected ${c.offset}`);
      }
    }
    Bun.gc(true);
    const mem = process.memoryUsage();
    result.rssMb = mem.rss / 2 ** 20;
    result.heapMb = mem.heapUsed / 2 ** 20;
  } finally {
    await driver.stop();
  }
  return result;
}

function report(results: ModeResult[], fixtureNote: string): void {
  const apis = [...new Set(results.flatMap((r) => [...r.requestsPerCycle.keys(), ...r.coldRequests.keys()]))].sort();
  const cell = (c: string, w = 14) => c.padEnd(w);
  const lines: string[] = [];
  lines.push(
    `machine: ${navigator.hardwareConcurrency} cores, ${process.platform}/${process.arch}; Bun ${Bun.version}`,
  );
  lines.push(fixtureNote);
  lines.push("");
  lines.push(
    ["mode", "cold ms", "median ms", "max ms", "series", "lag", "lag_seconds", "bytes", "RSS MB", "heap MB"]
      .map((h) => cell(h))
      .join(""),
  );
  for (const r of results) {
    lines.push(
      [
        r.mode,
        r.coldMs.toFixed(0),
        median(r.cycleMs).toFixed(0),
        Math.max(...r.cycleMs).toFixed(0),
        String(r.series),
        String(r.lagSeries),
        String(r.lagSecondsSeries),
        String(r.bytes),
        r.rssMb.toFixed(0),
        r.heapMb.toFixed(0),
      ]
        .map((c) => cell(c))
        .join(""),
    );
  }
  lines.push("");
  lines.push(`requests per cycle: cold cycle / median of ${MEASURED_CYCLES} warm cycles`);
  lines.push(["api", ...results.map((r) => r.mode)].map((h) => cell(h, 18)).join(""));
  for (const api of apis) {
    lines.push(
      [api, ...results.map((r) => `${r.coldRequests.get(api) ?? 0} / ${median(r.requestsPerCycle.get(api) ?? [0])}`)]
        .map((c) => cell(c, 18))
        .join(""),
    );
  }
  lines.push("");
  lines.push("phase medians ms (warm cycles):");
  const phases = [...new Set(results.flatMap((r) => [...r.phases.keys()]))];
  lines.push(["phase", ...results.map((r) => r.mode)].map((h) => cell(h, 18)).join(""));
  for (const phase of phases) {
    lines.push(
      [phase, ...results.map((r) => (r.phases.has(phase) ? median(r.phases.get(phase)!).toFixed(0) : "–"))]
        .map((c) => cell(c, 18))
        .join(""),
    );
  }
  lines.push("");
  for (const r of results) if (r.methods) lines.push(`time lag methods, ${r.mode}: ${r.methods}`);
  console.log(lines.join("\n"));
}

async function main(): Promise<void> {
  const { bootstrap, stop } = await benchCluster(1);
  try {
    console.error(`kafka at ${bootstrap}`);
    let fixtureNote = `fixture: ${GROUPS} groups × ${TOPICS_PER_GROUP} topics of ${PER_TOPIC} partitions, ${PARTITIONS} partitions, 1–${MESSAGES} messages each`;
    // An existing fixture (KLAG_BENCH_SKIP_FIXTURE=1) is assumed to hold exactly what was produced.
    let commits = planCommits(fixtureOptions(bootstrap));
    if (process.env.KLAG_BENCH_SKIP_FIXTURE !== "1") {
      const f = await buildFixture3(fixtureOptions(bootstrap));
      commits = f.commits;
      fixtureNote += `; built in ${((f.timingsMs.topics + f.timingsMs.produce + f.timingsMs.commit) / 1000).toFixed(1)} s (commits ${(f.timingsMs.commit / 1000).toFixed(1)} s), ${f.groupPartitions} group partitions`;
    }
    // Background traffic between cycles: one record on every partition, so rates and lag move.
    const kafka = new Kafka({
      brokers: bootstrap.split(","),
      clientId: "klag-bench-traffic",
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const topicCount = PARTITIONS / PER_TOPIC;
    const topics = Array.from({ length: topicCount }, (_, t) => topicName(PREFIX, t));
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
        results.push(await runMode(bootstrap, mode, traffic, commits));
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
