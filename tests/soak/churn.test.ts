/**
 * Soak (opt-in, ~2–3 min): 500 in-process cycles against a real broker while groups and topics
 * are created and deleted between cycles. After the churn the series count equals the baseline
 * exactly and the heap (after a full GC) is within ±10 % of the baseline: nothing a deleted group
 * or topic left behind (store slots, label keys, rate history, timestamp cache, coordinators,
 * metadata) survives. Prints RSS and heap over time.
 * Run: KLAG_SOAK=1 bun run scripts/test.ts tests/soak   (or KLAG_SOAK=1 bun test tests/soak
 * with the shared clusters already running); KLAG_SOAK_CYCLES overrides the 500 cycles.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createLogger } from "../../src/lib/log.ts";
import { configFrom, find, inProcessExporter, type Sample } from "../helpers/exposition.ts";
import { closeHarnessClients, kafka, uniqueName } from "../kafka/harness.ts";
import type { ChurnCommand, ChurnReply } from "./churn-worker.ts";

const ENABLED = process.env.KLAG_SOAK === "1";
const CYCLES = Number(process.env.KLAG_SOAK_CYCLES ?? 500);
/** Cycles between churn steps: each step deletes the previous churn batch and creates a new one. */
const CHURN_EVERY = 10;

interface Point {
  cycle: number;
  series: number;
  rssMb: number;
  heapMb: number;
}

function memory(): { rssMb: number; heapMb: number } {
  Bun.gc(true);
  const m = process.memoryUsage();
  return { rssMb: m.rss / 2 ** 20, heapMb: m.heapUsed / 2 ** 20 };
}

/** The churn worker (tests/soak/churn-worker.ts) and a promise per command. */
function startChurnWorker() {
  let next = 1;
  const waiting = new Map<number, (reply: ChurnReply) => void>();
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((r) => {
    readyResolve = r;
  });
  const child = Bun.spawn([process.execPath, `${import.meta.dir}/churn-worker.ts`], {
    stdio: ["ignore", "inherit", "inherit"],
    ipc(reply: ChurnReply) {
      if (reply.id === 0) readyResolve();
      waiting.get(reply.id)?.(reply);
      waiting.delete(reply.id);
    },
  });
  const send = (command: ChurnCommand) =>
    new Promise<ChurnReply>((resolve, reject) => {
      waiting.set(command.id, (reply) => (reply.error ? reject(new Error(reply.error)) : resolve(reply)));
      child.send(command);
    });
  return {
    ready,
    async build(options: Extract<ChurnCommand, { type: "build" }>["options"]): Promise<string[]> {
      return (await send({ type: "build", id: next++, options })).groups ?? [];
    },
    async remove(prefix: string): Promise<void> {
      await send({ type: "delete", id: next++, prefix });
    },
    async stop(): Promise<void> {
      child.kill();
      await child.exited;
    },
  };
}

function seriesOf(samples: Sample[]): number {
  return find(samples, "kafka_lag_exporter_series")[0]?.value ?? Number.NaN;
}

afterAll(async () => {
  await closeHarnessClients();
});

describe.skipIf(!ENABLED)("soak: 500 cycles with groups and topics churning", () => {
  test("series count and heap return to baseline after churn", async () => {
    const { bootstrap } = await kafka(1);
    const prefix = uniqueName("soak");
    const worker = startChurnWorker();
    await worker.ready;
    const fixture = async (p: string, topics: number, groups: number) => ({
      prefix: p,
      groups: await worker.build({
        bootstrap: bootstrap.join(","),
        prefix: p,
        topics,
        partitionsPerTopic: 4,
        groups,
        secondTopicEvery: 3,
        maxMessages: 5,
      }),
    });
    const deleteFixture = (f: { prefix: string }) => worker.remove(f.prefix);
    const stable = await fixture(`${prefix}-s`, 20, 40);
    const warnings = new Map<string, number>();
    const logger = createLogger({
      level: "warn",
      format: "logfmt",
      write: (line) => {
        const msg = /msg="?([^"=]+?)"? \w+=/.exec(line)?.[1] ?? line.slice(0, 60);
        warnings.set(msg, (warnings.get(msg) ?? 0) + 1);
      },
    });
    // Short lifetimes so state of deleted partitions expires within the run: rate history and
    // the timestamp cache age out after 15 s; metadata is re-read every 5 s.
    const exporter = inProcessExporter(
      configFrom(`
[exporter]
granularity = "partition"
[exporter.timestamp_sampling]
enabled = true
mode = "hybrid"
cache_ttl = "15s"
rate_history_max_age = "15s"
[exporter.performance]
metadata_cache_ttl = "5s"
[[clusters]]
name = "soak"
bootstrap_servers = "${bootstrap.join(",")}"
group_whitelist = ["^${prefix}-"]
topic_whitelist = ["^${prefix}-"]
`),
      logger,
    );
    const points: Point[] = [];
    let churn: { prefix: string; groups: string[] } | undefined;
    let cycle = 0;
    let maxSeries = 0;
    const run = async () => {
      const samples = await exporter.cycle();
      cycle++;
      expect(find(samples, "kafka_lag_exporter_cluster_up")[0]?.value).toBe(1);
      return samples;
    };
    const record = (series: number) => {
      const point = { cycle, series, ...memory() };
      points.push(point);
      console.error(
        `soak cycle ${String(point.cycle).padStart(4)}: series ${point.series}, RSS ${point.rssMb.toFixed(1)} MB, heap ${point.heapMb.toFixed(1)} MB`,
      );
    };
    let step = 0;
    let samples: Sample[] = [];
    /** Cycles until `until`, churning every CHURN_EVERY cycles: a new batch created, the previous deleted. */
    const churnUntil = async (until: number) => {
      while (cycle < until) {
        samples = await run();
        maxSeries = Math.max(maxSeries, seriesOf(samples));
        if (cycle % CHURN_EVERY === 0) {
          const previous = churn;
          churn = await fixture(`${prefix}-c${step++}`, 3, 6);
          if (previous) await deleteFixture(previous);
        }
        if (cycle % 50 === 0) record(seriesOf(samples));
      }
    };
    /** Deletes the churn batch and runs cycles until deleted topics and histories have aged out. */
    const settle = async () => {
      if (churn) await deleteFixture(churn);
      churn = undefined;
      // Deleted topics leave the cached metadata within 5 s; expired histories within 15 s.
      const settleUntil = Date.now() + 20_000;
      while (Date.now() < settleUntil) {
        samples = await run();
        await Bun.sleep(200);
      }
      for (let i = 0; i < 10; i++) samples = await run();
      record(seriesOf(samples));
      return points.at(-1)!;
    };
    try {
      // Warm-up with churn: JIT tiers, connections and every code path (creation, deletion,
      // expiry) settle before the baseline, so what is compared is data, not compiled code.
      await churnUntil(150);
      const baseline = await settle();
      const baselineSeries = baseline.series;
      const started = Date.now();
      maxSeries = 0;
      await churnUntil(cycle + CYCLES);
      const final = await settle();
      const after = final.series;
      console.error(
        `soak: ${cycle} cycles in ${((Date.now() - started) / 1000).toFixed(0)} s; series ${baseline.series} → max ${maxSeries} → ${after}; ` +
          `heap ${baseline.heapMb.toFixed(1)} → ${final.heapMb.toFixed(1)} MB; RSS ${baseline.rssMb.toFixed(1)} → ${final.rssMb.toFixed(1)} MB`,
      );
      console.error(`soak: warnings logged ${JSON.stringify(Object.fromEntries(warnings))}`);
      expect(maxSeries).toBeGreaterThan(baselineSeries); // the churn was seen
      expect(after).toBe(baselineSeries);
      expect(find(samples, "kafka_consumergroup_group_max_lag").length).toBe(stable.groups.length);
      expect(Math.abs(final.heapMb - baseline.heapMb) / baseline.heapMb).toBeLessThanOrEqual(0.1);
    } finally {
      await exporter.stop();
      if (churn) await deleteFixture(churn);
      await deleteFixture(stable);
      await worker.stop();
    }
  }, 300_000);
});
