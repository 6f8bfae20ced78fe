/**
 * Pieces the Kafka benchmarks share: a private local cluster and counting exposition lines.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

/** Starts a KRaft cluster of `nodes` brokers in `dir` (scripts/kafka/cluster.sh); its bootstrap servers. */
export async function startCluster(dir: string, nodes: 1 | 3): Promise<string> {
  const proc = Bun.spawn(["bash", `${ROOT}/scripts/kafka/cluster.sh`, "start", dir, String(nodes)], {
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, KLAG_KAFKA_HEAP: process.env.KLAG_KAFKA_HEAP ?? "1g" },
  });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error("cluster.sh start failed");
  return out.trim().split("\n").pop()!;
}

/** Stops the cluster started in `dir`. */
export function stopCluster(dir: string): void {
  Bun.spawnSync(["bash", `${ROOT}/scripts/kafka/cluster.sh`, "stop", dir]);
}

/** Lines of an exposition starting with `prefix` (counted on the bytes, without decoding the text). */
export function countLines(bytes: Uint8Array, prefix: string): number {
  const needle = new TextEncoder().encode(`\n${prefix}`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let n = buf.subarray(0, needle.length - 1).equals(needle.subarray(1)) ? 1 : 0;
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + 1)) n++;
  return n;
}

/**
 * The cluster a benchmark runs against: the one at KLAG_BENCH_BOOTSTRAP when set, else a private
 * one of `nodes` brokers in a temp dir, stopped and removed by `stop()` and on Ctrl-C.
 */
export async function benchCluster(nodes: 1 | 3): Promise<{ bootstrap: string; stop(): void }> {
  const reuse = process.env.KLAG_BENCH_BOOTSTRAP;
  if (reuse) return { bootstrap: reuse, stop() {} };
  const dir = mkdtempSync(join(tmpdir(), "klag-bench-"));
  const stop = () => {
    stopCluster(join(dir, "kafka"));
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    stop();
    process.exit(130);
  });
  try {
    return { bootstrap: await startCluster(join(dir, "kafka"), nodes), stop };
  } catch (error) {
    stop();
    throw error;
  }
}
