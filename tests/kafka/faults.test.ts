/**
 * Faults against real Kafka: a healthy cluster next to a closed port and a silent socket keeps
 * its data complete and on time (cluster_up, /ready, /health per cluster); and on a dedicated
 * 3-node cluster, a group coordinator frozen with SIGSTOP yields no false zeros, counted gaps,
 * and recovery after SIGCONT.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TCPSocketListener } from "bun";
import { type Admin, Kafka, logLevel } from "kafkajs";
import type { Config } from "../../src/config/types.ts";
import { createDaemon } from "../../src/daemon/daemon.ts";
import {
  configFrom,
  find,
  inProcessExporter,
  parseExposition,
  quietLogger,
  type Sample,
  value,
} from "../helpers/exposition.ts";
import {
  closeHarnessClients,
  commitOffsets,
  createTopic,
  eventually,
  kafka,
  kafkaConsumerGroups,
  produceN,
  uniqueName,
} from "./harness.ts";

const ROOT = resolve(import.meta.dir, "../..");

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Java's String.hashCode (UTF-16 code units, 32-bit overflow). */
function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * The `__consumer_offsets` partition of a group: Kafka's `Utils.abs(groupId.hashCode()) % n`
 * (Utils.abs maps Integer.MIN_VALUE to 0). Checked against FindCoordinator below.
 */
function offsetsPartitionFor(groupId: string, partitions: number): number {
  const h = javaStringHashCode(groupId);
  return (h === -2147483648 ? 0 : Math.abs(h)) % partitions;
}

describe("failure isolation between clusters", () => {
  const p = uniqueName("iso");
  const topic = `${p}-t`;
  const groups = [`${p}-a`, `${p}-b`];
  let bootstrap: string;
  let silent: TCPSocketListener<undefined>;
  let closedPort: number;

  beforeAll(async () => {
    bootstrap = (await kafka(1)).bootstrap.join(",");
    await createTopic(topic, 4);
    await produceN(topic, range(4), 12);
    await commitOffsets(
      groups[0]!,
      topic,
      range(4).map((partition) => ({ partition, offset: partition + 1 })),
    );
    await commitOffsets(groups[1]!, topic, [{ partition: 2, offset: 7 }]);
    // Accepts TCP connections, reads every byte, never answers.
    silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    // A port nobody listens on: bind, note, close.
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    closedPort = probe.port;
    probe.stop(true);
  });

  afterAll(async () => {
    silent?.stop(true);
    await closeHarnessClients();
  });

  function toml(withBadClusters: boolean): string {
    const bad = withBadClusters
      ? `
[[clusters]]
name = "bad-closed"
bootstrap_servers = "127.0.0.1:${closedPort}"
[[clusters]]
name = "bad-silent"
bootstrap_servers = "127.0.0.1:${silent.port}"
`
      : "";
    return `
[exporter]
poll_interval = "30s"
granularity = "partition"
http_host = "127.0.0.1"
[exporter.timestamp_sampling]
enabled = false
[exporter.performance]
kafka_timeout = "2s"
[[clusters]]
name = "healthy"
bootstrap_servers = "${bootstrap}"
group_whitelist = ["^${p}-"]
topic_whitelist = ["^${p}-"]
${bad}`;
  }

  async function expectHealthyMatchesGroundTruth(samples: Sample[]): Promise<void> {
    const healthy = samples.filter((s) => s.labels.cluster_name === "healthy");
    let rows = 0;
    for (const group of groups) {
      const truth = (await kafkaConsumerGroups(group)).filter((r) => r.currentOffset !== null);
      expect(truth.length).toBeGreaterThan(0);
      for (const r of truth) {
        const at = { group, topic: r.topic, partition: String(r.partition) };
        expect({ at, lag: value(healthy, "kafka_consumergroup_group_lag", at) }).toEqual({ at, lag: r.lag! });
        expect({ at, offset: value(healthy, "kafka_consumergroup_group_offset", at) }).toEqual({
          at,
          offset: r.currentOffset!,
        });
        rows++;
      }
      expect(find(healthy, "kafka_consumergroup_group_lag", { group })).toHaveLength(truth.length);
    }
    expect(rows).toBe(5);
    expect(find(healthy, "kafka_partition_latest_offset")).toHaveLength(4);
  }

  test("a closed port and a silent socket neither blank nor delay the healthy cluster's metrics", async () => {
    // Baseline: the healthy cluster alone.
    const alone = inProcessExporter(configFrom(toml(false)));
    let baselineSeconds: number;
    try {
      const s = await alone.cycle();
      baselineSeconds = value(s, "kafka_lag_exporter_scrape_duration_seconds", { cluster_name: "healthy" })!;
    } finally {
      await alone.stop();
    }

    const exporter = inProcessExporter(configFrom(toml(true)));
    try {
      const started = performance.now();
      let healthyPublishedMs: number | undefined;
      const cycle = exporter.cycle().then((s) => ({ samples: s, ms: performance.now() - started }));
      // The healthy cluster's data is published while the bad clusters are still waiting.
      while (healthyPublishedMs === undefined && performance.now() - started < 10_000) {
        if (
          parseExposition(exporter.text()).some(
            (x) => x.name === "kafka_consumergroup_group_lag" && x.labels.cluster_name === "healthy",
          )
        ) {
          healthyPublishedMs = performance.now() - started;
        }
        await Bun.sleep(20);
      }
      const { samples, ms: wallMs } = await cycle;
      console.error(
        `isolation: baseline ${baselineSeconds.toFixed(3)} s; with bad clusters healthy cycle ${value(samples, "kafka_lag_exporter_scrape_duration_seconds", { cluster_name: "healthy" })?.toFixed(3)} s, published after ${healthyPublishedMs?.toFixed(0)} ms, whole cycle ${wallMs.toFixed(0)} ms`,
      );
      expect(healthyPublishedMs).toBeDefined();
      expect(healthyPublishedMs!).toBeLessThan(1500);
      // The bad clusters take about their kafka_timeout; the healthy one is not held up by them.
      expect(wallMs).toBeGreaterThan(healthyPublishedMs!);
      const healthySeconds = value(samples, "kafka_lag_exporter_scrape_duration_seconds", { cluster_name: "healthy" })!;
      expect(healthySeconds).toBeLessThan(1.5);
      expect(healthySeconds).toBeLessThan(baselineSeconds + 1);
      // Failing clusters are bounded by their timeout too (2 s each, not stacked).
      expect(wallMs).toBeLessThan(3 * 2000);

      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "healthy" })).toBe(1);
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "bad-closed" })).toBe(0);
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "bad-silent" })).toBe(0);
      for (const bad of ["bad-closed", "bad-silent"]) {
        // Nothing but self metrics for a cluster that never answered; no lag, no watermark guesses.
        const families = new Set(samples.filter((s) => s.labels.cluster_name === bad).map((s) => s.name));
        expect(
          [...families].filter((f) => !f.startsWith("kafka_lag_exporter_") && f !== "kafka_consumergroup_poll_time_ms"),
        ).toEqual([]);
      }
      await expectHealthyMatchesGroundTruth(samples);
    } finally {
      await exporter.stop();
    }
  });

  test("/ready names only the unreachable clusters while /health stays 200", async () => {
    const config: Config = configFrom(toml(true));
    config.exporter.httpPort = 0; // the OS picks a free port; daemon.url() reports it
    const daemon = createDaemon({ config, logger: quietLogger() });
    await daemon.start();
    try {
      const url = daemon.url()!;
      // Wait until every cluster finished its first cycle (each has a cluster_up sample).
      await eventually(
        async () => {
          const s = parseExposition(await (await fetch(`${url}metrics`)).text());
          return find(s, "kafka_lag_exporter_cluster_up").length === 3 ? true : undefined;
        },
        20_000,
        "the first cycle of every cluster",
      );
      const ready = await fetch(`${url}ready`);
      expect(ready.status).toBe(503);
      const lines = (await ready.text()).trim().split("\n");
      expect(lines).toHaveLength(2);
      expect(lines.some((l) => l.startsWith("cluster bad-closed: no successful collection yet ("))).toBe(true);
      expect(lines.some((l) => l.startsWith("cluster bad-silent: no successful collection yet ("))).toBe(true);

      const health = await fetch(`${url}health`);
      expect(health.status).toBe(200);
      expect((await health.text()).trim()).toBe("OK");

      const samples = parseExposition(await (await fetch(`${url}metrics`)).text());
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "healthy" })).toBe(1);
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "bad-closed" })).toBe(0);
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "bad-silent" })).toBe(0);
      expect(value(samples, "kafka_lag_exporter_up")).toBe(1);
      await expectHealthyMatchesGroundTruth(samples);
    } finally {
      await daemon.stop();
    }
  });
});

describe("a group coordinator frozen with SIGSTOP on a dedicated 3-node cluster", () => {
  let dir: string;
  const p = uniqueName("frz");
  const topic = `${p}-t`;
  const PARTITIONS = 6;
  const PER_PARTITION = 20;
  let bootstrap: string;
  let client: Kafka;
  let adm: Admin;
  /** Group → committed offset on every partition (lag = high − k > 0 everywhere, so any 0 is false). */
  const committed = new Map<string, number>();
  const coordinatorOf = new Map<string, number>();
  const leaderOf = new Map<number, number>();
  const addressOf = new Map<number, string>();
  let frozenPid: number | undefined;
  /** Partition → high watermark after producing (nothing is produced afterwards). */
  const latest = new Map<number, number>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "klag-faults-"));
    // Brokers stay registered while frozen (no fencing, no leader or coordinator moves), so the
    // freeze is a plain "coordinator unavailable" for the whole test.
    const extra = join(dir, "extra.properties");
    writeFileSync(extra, "broker.session.timeout.ms=120000\n");
    const proc = Bun.spawn(["bash", `${ROOT}/scripts/kafka/cluster.sh`, "start", join(dir, "kafka"), "3", extra], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, KLAG_KAFKA_HEAP: "384m" },
    });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (code !== 0) throw new Error(`cluster.sh start failed: ${err}`);
    bootstrap = out.trim().split("\n").pop()!;
    client = new Kafka({ brokers: bootstrap.split(","), clientId: "klag-test", logLevel: logLevel.NOTHING });
    adm = client.admin();
    await eventually(
      async () => {
        await adm.connect();
        const described = await adm.describeCluster();
        for (const b of described.brokers) addressOf.set(b.nodeId, `${b.host}:${b.port}`);
        return described.brokers.length === 3 ? true : undefined;
      },
      60_000,
      "3 brokers",
    );
    await adm.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }],
    });
    const producer = client.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: range(PARTITIONS).flatMap((partition) =>
        range(PER_PARTITION).map((i) => ({ partition, value: `m${i}` })),
      ),
    });
    await producer.disconnect();
    // The true end of each partition (a retried send may have written a batch twice).
    for (const o of await adm.fetchTopicOffsets(topic)) latest.set(o.partition, Number(o.high));
    expect(Math.min(...latest.values())).toBeGreaterThanOrEqual(PER_PARTITION);
    // The first commit creates __consumer_offsets; then we know every coordinator.
    const firstGroup = `${p}-g0`;
    await adm.setOffsets({
      groupId: firstGroup,
      topic,
      partitions: range(PARTITIONS).map((partition) => ({ partition, offset: "1" })),
    });
    committed.set(firstGroup, 1);
    const md = await eventually(
      async () => {
        const m = await adm.fetchTopicMetadata({ topics: ["__consumer_offsets", topic] });
        const offsets = m.topics.find((t) => t.name === "__consumer_offsets")!;
        return offsets.partitions.length === 6 && offsets.partitions.every((x) => x.leader >= 0) ? m : undefined;
      },
      30_000,
      "__consumer_offsets leaders",
    );
    const offsetsLeaders = new Map(
      md.topics.find((t) => t.name === "__consumer_offsets")!.partitions.map((x) => [x.partitionId, x.leader]),
    );
    for (const x of md.topics.find((t) => t.name === topic)!.partitions) leaderOf.set(x.partitionId, x.leader);
    // Two groups per coordinator broker (where the names allow it), committed at different offsets.
    const perBroker = new Map<number, number>();
    for (let i = 0; committed.size < 6 && i < 500; i++) {
      const g = `${p}-g${i}`;
      const broker = offsetsLeaders.get(offsetsPartitionFor(g, 6))!;
      coordinatorOf.set(g, broker);
      if (i === 0) {
        perBroker.set(broker, 1);
        continue;
      }
      if ((perBroker.get(broker) ?? 0) >= 2) continue;
      perBroker.set(broker, (perBroker.get(broker) ?? 0) + 1);
      committed.set(g, 1 + (committed.size % 10));
    }
    for (const g of [...coordinatorOf.keys()]) if (!committed.has(g)) coordinatorOf.delete(g);
    await Promise.all(
      [...committed]
        .filter(([g]) => g !== firstGroup)
        .map(([g, k]) =>
          adm.setOffsets({
            groupId: g,
            topic,
            partitions: range(PARTITIONS).map((partition) => ({ partition, offset: String(k) })),
          }),
        ),
    );
  });

  afterAll(async () => {
    if (frozenPid !== undefined) process.kill(frozenPid, "SIGCONT");
    await adm?.disconnect().catch(() => {});
    if (dir !== undefined) {
      Bun.spawnSync(["bash", `${ROOT}/scripts/kafka/cluster.sh`, "stop", join(dir, "kafka")]);
      rmSync(dir, { recursive: true, force: true });
    }
    await closeHarnessClients();
  });

  function exporterConfig(servers = bootstrap, extra = ""): Config {
    return configFrom(`
[exporter]
poll_interval = "30s"
granularity = "partition"
[exporter.timestamp_sampling]
enabled = false
[exporter.performance]
kafka_timeout = "2s"
${extra}
[[clusters]]
name = "frz"
bootstrap_servers = "${servers}"
group_whitelist = ["^${p}-"]
topic_whitelist = ["^${p}-"]
`);
  }

  /** Every lag series present equals the truth; none is 0 (every true lag here is > 0). */
  function expectNoWrongValues(samples: Sample[]): void {
    for (const s of find(samples, "kafka_consumergroup_group_lag")) {
      const k = committed.get(s.labels.group!);
      const expected = k === undefined ? "unknown group" : latest.get(Number(s.labels.partition))! - k;
      expect({ s, expected }).toEqual({ s, expected: s.value });
    }
    for (const name of [
      "kafka_consumergroup_group_max_lag",
      "kafka_consumergroup_group_sum_lag",
      "kafka_consumergroup_group_topic_sum_lag",
    ]) {
      for (const s of find(samples, name)) expect({ s, zero: s.value === 0 }).toEqual({ s, zero: false });
    }
  }

  function expectComplete(samples: Sample[]): void {
    expectNoWrongValues(samples);
    for (const [g, k] of committed) {
      expect({ g, n: find(samples, "kafka_consumergroup_group_lag", { group: g }).length }).toEqual({
        g,
        n: PARTITIONS,
      });
      const sum = [...latest.values()].reduce((n, high) => n + high - k, 0);
      expect({ g, sum: value(samples, "kafka_consumergroup_group_sum_lag", { group: g }) }).toEqual({ g, sum });
    }
  }

  test("the computed coordinators are the ones Kafka reports", async () => {
    const lib = (await Bun.file(join(dir, "kafka", "lib")).text()).trim();
    const groups = [...committed.keys()];
    const proc = Bun.spawn(
      [
        "java",
        "-Xmx256m",
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "-cp",
        `${lib}/*`,
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        bootstrap,
        "--describe",
        "--state",
        ...groups.flatMap((g) => ["--group", g]),
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    // "GROUP  COORDINATOR (ID)  ASSIGNMENT-STRATEGY  STATE  #MEMBERS" → "g  127.0.0.1:port  (2) …"
    const reported = groups.map((g) => {
      const line = out.split("\n").find((l) => l.startsWith(`${g} `)) ?? "";
      return [g, Number(/\((\d+)\)/.exec(line)?.[1])];
    });
    expect(reported).toEqual(groups.map((g) => [g, coordinatorOf.get(g)!]));
    expect(new Set(coordinatorOf.values()).size).toBe(3);
  });

  test("groups of the frozen coordinator produce no series and are counted; the others are reported; SIGCONT recovers", async () => {
    const exporter = inProcessExporter(exporterConfig());
    try {
      const warm = await exporter.cycle();
      expectComplete(warm);

      // Freeze the coordinator of the first group.
      const frozen = coordinatorOf.get([...committed.keys()][0]!)!;
      const pid = Number((await Bun.file(join(dir, "kafka", `node-${frozen}.pid`)).text()).trim());
      const frozenGroups = [...committed.keys()].filter((g) => coordinatorOf.get(g) === frozen);
      const otherGroups = [...committed.keys()].filter((g) => coordinatorOf.get(g) !== frozen);
      const frozenPartitions = range(PARTITIONS).filter((x) => leaderOf.get(x) === frozen);
      process.kill(pid, "SIGSTOP");
      frozenPid = pid;
      let during: Sample[];
      let ms: number;
      try {
        const t = performance.now();
        during = await exporter.cycle();
        ms = performance.now() - t;
      } finally {
        process.kill(pid, "SIGCONT");
        frozenPid = undefined;
      }
      const up = value(during, "kafka_lag_exporter_cluster_up");
      const failed = find(during, "kafka_lag_exporter_failed_groups").map((s) => `${s.labels.reason}=${s.value}`);
      const skipped = find(during, "kafka_lag_exporter_skipped_partitions").map((s) => `${s.labels.reason}=${s.value}`);
      console.error(
        `frozen broker ${frozen} (pid ${pid}) coordinates ${frozenGroups.length} group(s), leads partitions ${JSON.stringify(frozenPartitions)}; cycle ${ms.toFixed(0)} ms, cluster_up ${up}, failed_groups ${JSON.stringify(failed)}, skipped_partitions ${JSON.stringify(skipped)}, lag series ${find(during, "kafka_consumergroup_group_lag").length}`,
      );

      // Whatever happened, nothing present is wrong, and in particular nothing is a false 0.
      expectNoWrongValues(during);
      // The cycle is bounded by the timeout, not stacked per group or partition.
      expect(ms).toBeLessThan(4 * 2000);
      expect(up).toBe(1);
      // Groups coordinated by the frozen broker: no series at all this cycle…
      for (const g of frozenGroups)
        expect({ g, series: during.filter((s) => s.labels.group === g).length }).toEqual({ g, series: 0 });
      // …and counted as failed.
      const failedTotal = find(during, "kafka_lag_exporter_failed_groups").reduce((n, s) => n + s.value, 0);
      // Other groups are reported on every partition whose leader answered; the frozen leader's
      // partitions are absent and counted as skipped.
      for (const g of otherGroups) {
        const partitions = find(during, "kafka_consumergroup_group_lag", { group: g })
          .map((s) => Number(s.labels.partition))
          .sort();
        expect({ g, partitions }).toEqual({
          g,
          partitions: range(PARTITIONS).filter((x) => !frozenPartitions.includes(x)),
        });
      }
      const skippedTotal = find(during, "kafka_lag_exporter_skipped_partitions").reduce((n, s) => n + s.value, 0);
      expect(skippedTotal).toBe(otherGroups.length * frozenPartitions.length);

      // After SIGCONT the next cycles recover completely.
      const recovered = await eventually(
        async () => {
          const s = await exporter.cycle();
          return find(s, "kafka_consumergroup_group_lag").length === committed.size * PARTITIONS ? s : undefined;
        },
        60_000,
        "recovery after SIGCONT",
      );
      expectComplete(recovered);
      expect(value(recovered, "kafka_lag_exporter_cluster_up")).toBe(1);
      expect(find(recovered, "kafka_lag_exporter_failed_groups").filter((s) => s.value > 0)).toEqual([]);
      expect(find(recovered, "kafka_lag_exporter_skipped_partitions").filter((s) => s.value > 0)).toEqual([]);

      // Checked last so the recovery above is verified either way: the frozen coordinator's groups
      // were missing from the cycle, a gap the spec (§2) requires counted in failed_groups.
      expect(failedTotal).toBe(frozenGroups.length);
    } finally {
      await exporter.stop();
    }
  });

  test("with every broker frozen the cycle fails, the last good data stays until stale and then disappears", async () => {
    const config = exporterConfig();
    config.exporter.pollIntervalMs = 1_000;
    config.exporter.stalenessThresholdMs = 5_000;
    const exporter = inProcessExporter(config);
    const pids = await Promise.all(
      [1, 2, 3].map(async (n) => Number((await Bun.file(join(dir, "kafka", `node-${n}.pid`)).text()).trim())),
    );
    try {
      const warm = await exporter.cycle();
      expectComplete(warm);
      const lastGood = find(warm, "kafka_consumergroup_group_lag")
        .map((s) => `${JSON.stringify(s.labels)}=${s.value}`)
        .sort();
      const lastUpdate = value(warm, "kafka_lag_exporter_last_update_timestamp_seconds")!;
      const warmAt = performance.now();

      for (const pid of pids) process.kill(pid, "SIGSTOP");
      let failedCycle: Sample[];
      let staleCycle: Sample[];
      let failedMs: number;
      try {
        const t = performance.now();
        failedCycle = await exporter.cycle();
        failedMs = performance.now() - t;
        // Wait past the staleness threshold, then one more (failing) cycle.
        await Bun.sleep(Math.max(0, 5_500 - (performance.now() - warmAt)));
        staleCycle = await exporter.cycle();
      } finally {
        for (const pid of pids) process.kill(pid, "SIGCONT");
      }
      // Within the threshold: cluster down, last good data kept as it was (not zeroed, not dropped).
      expect(value(failedCycle, "kafka_lag_exporter_cluster_up")).toBe(0);
      expect(failedMs).toBeLessThan(3 * 2000);
      expect(
        find(failedCycle, "kafka_consumergroup_group_lag")
          .map((s) => `${JSON.stringify(s.labels)}=${s.value}`)
          .sort(),
      ).toEqual(lastGood);
      expect(value(failedCycle, "kafka_lag_exporter_last_update_timestamp_seconds")).toBe(lastUpdate);
      // Past the threshold: the cluster's data disappears entirely; its self metrics remain.
      expect(value(staleCycle, "kafka_lag_exporter_cluster_up")).toBe(0);
      const dataSeries = (s: Sample[]) =>
        s.filter(
          (x) => x.name !== "kafka_consumergroup_poll_time_ms" && /^kafka_(consumergroup|partition)_/.test(x.name),
        );
      expect(dataSeries(failedCycle).length).toBe(dataSeries(warm).length);
      expect(dataSeries(staleCycle)).toEqual([]);

      const recovered = await eventually(
        async () => {
          const s = await exporter.cycle();
          return find(s, "kafka_consumergroup_group_lag").length === committed.size * PARTITIONS ? s : undefined;
        },
        60_000,
        "recovery after SIGCONT",
      );
      expectComplete(recovered);
      expect(value(recovered, "kafka_lag_exporter_cluster_up")).toBe(1);
    } finally {
      for (const pid of pids) process.kill(pid, "SIGCONT");
      await exporter.stop();
    }
  });
  test("a hung broker that served the exporter's metadata does not blank the rest of the cluster", async () => {
    // The exporter refreshes metadata every cycle (as it does after metadata_cache_ttl, or at once
    // after a leader error) and sends it to the first connected broker of the Metadata broker list
    // (src/kafka/raw.ts anyBroker), which Kafka orders by node id: node 1. Node 1 hangs.
    const frozen = Math.min(...addressOf.keys());
    const exporter = inProcessExporter(exporterConfig(bootstrap, 'metadata_cache_ttl = "0s"'));
    const pid = Number((await Bun.file(join(dir, "kafka", `node-${frozen}.pid`)).text()).trim());
    try {
      expectComplete(await exporter.cycle());
      const otherGroups = [...committed.keys()].filter((g) => coordinatorOf.get(g) !== frozen);
      const frozenPartitions = range(PARTITIONS).filter((x) => leaderOf.get(x) === frozen);
      process.kill(pid, "SIGSTOP");
      frozenPid = pid;
      let during: Sample[];
      try {
        during = await exporter.cycle();
      } finally {
        process.kill(pid, "SIGCONT");
        frozenPid = undefined;
      }
      console.error(
        `metadata broker ${frozen} frozen: cluster_up ${value(during, "kafka_lag_exporter_cluster_up")}, lag series ${find(during, "kafka_consumergroup_group_lag").length}`,
      );
      expectNoWrongValues(during);
      // Two of three brokers answer: the cycle succeeds with what they serve.
      expect(value(during, "kafka_lag_exporter_cluster_up")).toBe(1);
      for (const g of otherGroups) {
        const partitions = find(during, "kafka_consumergroup_group_lag", { group: g })
          .map((s) => Number(s.labels.partition))
          .sort();
        expect({ g, partitions }).toEqual({
          g,
          partitions: range(PARTITIONS).filter((x) => !frozenPartitions.includes(x)),
        });
      }
    } finally {
      if (frozenPid !== undefined) process.kill(frozenPid, "SIGCONT");
      frozenPid = undefined;
      await exporter.stop();
    }
  });
});
